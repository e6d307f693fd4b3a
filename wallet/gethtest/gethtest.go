// Package gethtest starts a real go-ethereum node, `geth --dev`, for
// integration tests: a single-node proof-of-stake chain (chain id 1337)
// that seals a block as soon as a transaction reaches its pool, with a
// prefunded developer account unlocked in the node's keystore. Tests talk
// to it over JSON-RPC on loopback, exactly as the bot talks to a real
// chain.
//
// geth is found on PATH or in $(go env GOPATH)/bin. If it is missing, Start
// installs it with InstallCommand (go install from the Go module proxy) and
// fails the test only if that fails; .ci/run installs it up front. The
// tests never skip for want of geth.
package gethtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
)

// Version is the geth release the tests are written against.
const Version = "v1.17.10"

// InstallCommand installs the geth the tests use into $(go env GOPATH)/bin.
const InstallCommand = "go install github.com/ethereum/go-ethereum/cmd/geth@" + Version

// ChainID is the chain id of a geth --dev chain.
const ChainID = 1337

// startTimeout bounds how long Start waits for the node to answer.
const startTimeout = 60 * time.Second

// Node is a running geth --dev node.
type Node struct {
	// URL is the node's HTTP JSON-RPC endpoint (http://127.0.0.1:port).
	URL string
	// Dev is the prefunded developer account, unlocked in the node: the
	// node signs eth_sendTransaction calls from it.
	Dev common.Address
	// RPC is a JSON-RPC client of the node, closed when the test ends.
	RPC *rpc.Client
	// Client is an ethclient over RPC.
	Client *ethclient.Client
	// DataDir is the node's data directory (under the test's TempDir).
	DataDir string

	cmd    *exec.Cmd
	stderr *tail
	exited chan struct{}
	mu     sync.Mutex
	dead   bool
}

// Binary returns the path of the geth executable: the one on PATH, else
// the one in $(go env GOPATH)/bin (where `go install` puts it); when there
// is none, it runs InstallCommand once (a few minutes the first time, from
// the Go module proxy) so that `go test ./...` works on a fresh machine.
func Binary() (string, error) {
	if p, err := findBinary(); err == nil {
		return p, nil
	}
	installMu.Lock()
	defer installMu.Unlock()
	if p, err := findBinary(); err == nil {
		return p, nil
	}
	fmt.Fprintf(os.Stderr, "gethtest: geth not found; running %s (once; a few minutes)\n", InstallCommand)
	cmd := exec.Command("go", "install", "github.com/ethereum/go-ethereum/cmd/geth@"+Version)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("geth not found, and `%s` failed: %w\n%s", InstallCommand, err, out)
	}
	return findBinary()
}

// installMu keeps one process from installing geth twice at once.
var installMu sync.Mutex

// findBinary looks for geth on PATH and in the Go bin directories.
func findBinary() (string, error) {
	if p, err := exec.LookPath("geth"); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "geth")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("geth not found on PATH nor in %s; install it with `%s` (bash .ci/run does)",
		strings.Join(dirs, ", "), InstallCommand)
}

// Start starts geth --dev with a fresh data directory under t.TempDir() and
// HTTP JSON-RPC on a free loopback port, waits until it answers with chain
// id 1337 and has indexed a first block (a 0-value transfer of the
// developer account to itself), and kills it when the test ends. It fails
// the test, with the tail of geth's output, if geth is missing or does not
// come up.
func Start(t testing.TB) *Node {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("gethtest: %v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		n, err := start(t, bin)
		if err == nil {
			return n
		}
		lastErr = err
		// Another process may have taken the free port between choosing
		// and binding it: try another one.
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("gethtest: %v", lastErr)
	return nil
}

func start(t testing.TB, bin string) (*Node, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("find a free port: %w", err)
	}
	dir := t.TempDir()
	args := []string{
		"--dev",
		"--http", "--http.addr", "127.0.0.1", "--http.port", strconv.Itoa(port),
		"--http.api", "eth,net,web3",
		"--datadir", dir,
		"--ipcdisable", "--nodiscover",
		"--verbosity", "2",
		// No --dev.period: a block is sealed as soon as a transaction
		// reaches the pool. In --dev mode geth opens no p2p or engine API
		// port, so nodes of concurrent tests do not collide.
	}
	n := &Node{URL: fmt.Sprintf("http://127.0.0.1:%d", port), DataDir: dir,
		stderr: &tail{max: 64 << 10}, exited: make(chan struct{})}
	n.cmd = exec.Command(bin, args...)
	n.cmd.Stdout = n.stderr
	n.cmd.Stderr = n.stderr
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		_ = n.cmd.Wait()
		n.mu.Lock()
		n.dead = true
		n.mu.Unlock()
		close(n.exited)
	}()
	t.Cleanup(n.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := n.waitReady(ctx); err != nil {
		n.Stop()
		return nil, fmt.Errorf("%s %s: %w\n--- geth output (tail):\n%s", bin, strings.Join(args, " "), err, n.Output())
	}
	return n, nil
}

// waitReady polls the node until it answers eth_chainId with 1337, names
// its developer account and has indexed its transactions.
func (n *Node) waitReady(ctx context.Context) error {
	var lastErr error
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-n.exited:
			return fmt.Errorf("geth exited before it answered (%v)", n.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("geth did not answer JSON-RPC at %s within %s (last error: %v)", n.URL, startTimeout, lastErr)
		case <-tick.C:
		}
		if n.RPC == nil {
			c, err := rpc.DialContext(ctx, n.URL)
			if err != nil {
				lastErr = err
				continue
			}
			n.RPC = c
			n.Client = ethclient.NewClient(c)
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		id, err := n.Client.ChainID(cctx)
		if err != nil {
			cancel()
			lastErr = err
			continue
		}
		if id.Cmp(big.NewInt(ChainID)) != 0 {
			cancel()
			return fmt.Errorf("chain id %s, want %d: not a --dev node", id, ChainID)
		}
		var accs []common.Address
		err = n.RPC.CallContext(cctx, &accs, "eth_accounts")
		if err != nil {
			cancel()
			lastErr = err
			continue
		}
		if len(accs) == 0 {
			cancel()
			return errors.New("the node has no developer account (eth_accounts is empty)")
		}
		cancel()
		n.Dev = accs[0]
		return n.waitIndexed(ctx)
	}
}

// waitIndexed waits until the node's transaction indexer has caught up:
// until then geth answers a receipt it cannot find with "transaction
// indexing is in progress" instead of null, and a fresh chain's indexer
// first runs when a block arrives. So it mines a block (a 0-value
// transfer from the developer account to itself) and polls.
func (n *Node) waitIndexed(ctx context.Context) error {
	if _, err := n.SendFromDev(ctx, &n.Dev, new(big.Int), nil); err != nil {
		return fmt.Errorf("mine a first block: %w", err)
	}
	for {
		var r map[string]any
		err := n.RPC.CallContext(ctx, &r, "eth_getTransactionReceipt", common.Hash{})
		if err == nil {
			return nil
		}
		if !strings.Contains(err.Error(), "indexing") {
			return fmt.Errorf("eth_getTransactionReceipt: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the transaction indexer did not catch up within %s: %w", startTimeout, err)
		case <-n.exited:
			return errors.New("geth exited")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Stop kills the node and waits for it to exit. It is safe to call more
// than once; Start registers it with t.Cleanup.
func (n *Node) Stop() {
	if n.RPC != nil {
		n.RPC.Close()
	}
	n.mu.Lock()
	dead := n.dead
	n.mu.Unlock()
	if !dead && n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
	}
	<-n.exited
}

// Output returns the tail of geth's output (stdout and stderr).
func (n *Node) Output() string { return n.stderr.String() }

// SendFromDev has the node sign and send a transaction from its
// developer account (eth_sendTransaction): value wei to `to`, or a
// contract creation with code data if to is nil. It waits for the receipt
// and returns it; a reverted transaction is an error.
func (n *Node) SendFromDev(ctx context.Context, to *common.Address, value *big.Int, data []byte) (*types.Receipt, error) {
	args := map[string]any{"from": n.Dev}
	if to != nil {
		args["to"] = *to
	}
	if value != nil {
		args["value"] = (*hexutil.Big)(value)
	}
	if len(data) > 0 {
		args["input"] = hexutil.Bytes(data)
	}
	if to != nil && len(data) > 0 {
		// A fixed gas limit for contract calls: geth may estimate against a
		// head that does not yet hold a contract deployed a moment ago,
		// price the call as a plain transfer, and the call then runs out
		// of gas (seen under load in CI).
		args["gas"] = hexutil.Uint64(500_000)
	}
	var hash common.Hash
	if err := n.RPC.CallContext(ctx, &hash, "eth_sendTransaction", args); err != nil {
		return nil, fmt.Errorf("eth_sendTransaction from the developer account %s: %w", n.Dev.Hex(), err)
	}
	r, err := n.WaitReceipt(ctx, hash)
	if err != nil {
		return nil, err
	}
	if r.Status != types.ReceiptStatusSuccessful {
		return r, fmt.Errorf("transaction %s from the developer account reverted", hash.Hex())
	}
	return r, nil
}

// Fund sends wei from the developer account to addr and waits until it is
// mined.
func (n *Node) Fund(ctx context.Context, addr common.Address, wei *big.Int) error {
	_, err := n.SendFromDev(ctx, &addr, wei, nil)
	return err
}

// WaitReceipt polls for the receipt of hash until it is mined or ctx ends.
func (n *Node) WaitReceipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	for {
		r, err := n.Client.TransactionReceipt(ctx, hash)
		if err == nil && r != nil {
			return r, nil
		}
		if err != nil && !errors.Is(err, ethereum.NotFound) && !strings.Contains(err.Error(), "indexing") {
			return nil, fmt.Errorf("receipt of %s: %w", hash.Hex(), err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("receipt of %s: %w\n--- geth output (tail):\n%s", hash.Hex(), ctx.Err(), n.Output())
		case <-n.exited:
			return nil, fmt.Errorf("receipt of %s: geth exited\n--- geth output (tail):\n%s", hash.Hex(), n.Output())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if over := w.b.Len() - w.max; over > 0 {
		w.b.Next(over)
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
