// Command procurebot buys GPU compute and power at the margin for operators
// of GPU fleets. This package only wires flags to the packages that do the
// work; see `procurebot --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/procurebot/procurebot"
)

// Exit statuses (DESIGN §8).
const (
	exitOK       = 0
	exitInternal = 1
	exitInvalid  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks a command-line mistake (unknown flag, bad value).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "procurebot:", err)
	var ue usageError
	switch {
	case errors.As(err, &ue), procurebot.ErrorCode(err) == procurebot.EINVALID:
		return exitInvalid
	case strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "unknown flag"),
		strings.HasPrefix(err.Error(), "unknown shorthand flag"), strings.Contains(err.Error(), "flag needs an argument"),
		strings.HasPrefix(err.Error(), "invalid argument"):
		return exitInvalid
	}
	return exitInternal
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "procurebot",
		Short: "Buy GPU compute and power at the margin, provably cheaper than by hand",
		Long: `procurebot buys compute and power at the margin for operators of GPU fleets.

It reads GPU offers, token prices and hourly wholesale power prices, and
decides every step whether to run its own GPUs, curtail them and rent,
lease idle GPUs out, shift flexible jobs to cheap hours, or route inference
to the cheapest seller, paying sellers in stablecoins under hard spend
policy, with human approval for large commitments.

  run        the bot: paper mode on the embedded history with nothing to
             install, or live on configured venues (shadow orders)
  backtest   prove it on recorded prices against greedy and the oracle
  quotes     the venues' current normalised quotes; record appends them to
             a history you can backtest on
  approvals  answer the commitments waiting for a human
  ledger     every payment and charge; wallet the payment account

Guides: docs/operations.md (the bot), docs/providers.md (venues),
docs/model.md (the planner).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	root.AddCommand(newBacktestCmd(stdout, stderr))
	root.AddCommand(newLedgerCmd(stdout))
	root.AddCommand(newWalletCmd(stdout, stderr))
	root.AddCommand(newQuotesCmd(stdout, stderr))
	root.AddCommand(newRecordCmd(stdout, stderr))
	root.AddCommand(newRunCmd(stdout, stderr))
	root.AddCommand(newApprovalsCmd(stdout))
	return root
}
