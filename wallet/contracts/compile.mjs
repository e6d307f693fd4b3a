// compile.mjs compiles Token.sol with the solc-js pinned in package.json,
// resolving @openzeppelin/contracts imports from node_modules, and writes
// Token.abi and Token.bin beside it. Run by `go generate ./wallet/...` after
// `npm ci`; its output is deterministic (fixed compiler, settings and
// sources), so a second run reproduces the committed files byte for byte.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");
const here = path.dirname(fileURLToPath(import.meta.url));
const wantVersion = JSON.parse(fs.readFileSync(path.join(here, "package.json"), "utf8")).dependencies.solc;

if (!solc.version().startsWith(wantVersion + "+")) {
  console.error(`compile.mjs: solc ${solc.version()} is installed, package.json pins ${wantVersion}: run npm ci`);
  process.exit(1);
}

const source = "Token.sol";
const input = {
  language: "Solidity",
  sources: { [source]: { content: fs.readFileSync(path.join(here, source), "utf8") } },
  settings: {
    evmVersion: "cancun",
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { [source]: { Token: ["abi", "evm.bytecode.object"] } },
  },
};

// findImports resolves imports of npm packages (only @openzeppelin/contracts
// is expected) from this directory's node_modules, and nothing else.
function findImports(importPath) {
  if (!importPath.startsWith("@openzeppelin/contracts/")) {
    return { error: `import ${importPath}: only @openzeppelin/contracts imports are resolved` };
  }
  const file = path.join(here, "node_modules", importPath);
  try {
    return { contents: fs.readFileSync(file, "utf8") };
  } catch (e) {
    return { error: `import ${importPath}: ${e.message} (run npm ci in wallet/contracts)` };
  }
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
let failed = false;
for (const e of output.errors ?? []) {
  console.error(e.formattedMessage);
  if (e.severity === "error") failed = true;
}
if (failed) process.exit(1);

const token = output.contracts[source].Token;
fs.writeFileSync(path.join(here, "Token.abi"), JSON.stringify(token.abi, null, 2) + "\n");
fs.writeFileSync(path.join(here, "Token.bin"), token.evm.bytecode.object + "\n");
console.error(`compile.mjs: Token compiled with solc ${solc.version()}, ${token.evm.bytecode.object.length / 2} bytes of init code`);
