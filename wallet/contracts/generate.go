// Package contracts holds the Solidity source of the ERC-20 token procurebot
// bundles (Token.sol: OpenZeppelin 5's ERC20 with configurable decimals), its
// compiled ABI and bytecode (Token.abi, Token.bin) and the generator that
// rebuilds them and the Go bindings in wallet/token.
//
// `go generate ./wallet/...` needs node (20 or later) and npm (it reaches
// only the npm registry and the Go module proxy). It runs, in this
// directory: `npm ci` (solc-js and @openzeppelin/contracts at the exact
// versions of package-lock.json), `node compile.mjs` (writes Token.abi and
// Token.bin) and abigen --v2 of go-ethereum v1.17.10 (writes
// ../token/token.go). The output is deterministic: a second run reproduces
// the committed files byte for byte.
package contracts

//go:generate npm ci --silent --no-audit --no-fund
//go:generate node compile.mjs
//go:generate go run github.com/ethereum/go-ethereum/cmd/abigen@v1.17.10 --v2 --abi Token.abi --bin Token.bin --pkg token --type Token --out ../token/token.go
