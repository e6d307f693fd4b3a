package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/procurebot/procurebot"
	"github.com/procurebot/procurebot/agent"
	"github.com/procurebot/procurebot/store/bolt"
)

type approvalsFlags struct {
	dataDir string
	state   string
	json    bool
	by      string
}

func newApprovalsCmd(stdout io.Writer) *cobra.Command {
	var f approvalsFlags
	cmd := &cobra.Command{
		Use:   "approvals list|approve ID|reject ID [--data-dir DIR]",
		Short: "List and answer the commitments waiting for a human",
		Long: `approvals lists the approval requests of the bot whose data directory is
--data-dir, and approves or rejects one.

An action above the policy's approval threshold (approval.above_usd or
above_hours) waits for a human; the bot asks in Slack when configured and
here always. An approval covers later actions of the same kind, venue and
job or site, at no more than the approved amount and price, for 24 hours.
A request nobody answers expires (policy approval.expire_after, default
30 min) and counts as rejected. An answer has effect once: a second answer,
from here or Slack, is refused with the state it already has.

While the bot runs, the command talks to it through its admin API (the
address it wrote to DIR/bot.json, the token in DIR/admin.token); otherwise
it opens the store itself.`,
		Example: `  procurebot approvals list --data-dir ./paper
  procurebot approvals list --state approved --json
  procurebot approvals approve 'paper/41/rent/runpod/train-a'
  procurebot approvals reject 'paper/41/rent/runpod/train-a' --by alice`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("want list, approve ID or reject ID")}
			}
			switch args[0] {
			case "list":
				if len(args) != 1 {
					return usageError{errors.New("list takes no argument")}
				}
			case "approve", "reject":
				if len(args) != 2 {
					return usageError{fmt.Errorf("%s takes one approval ID (see approvals list)", args[0])}
				}
			default:
				return usageError{fmt.Errorf("unknown subcommand %q: want list, approve ID or reject ID", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.by == "" {
				f.by = "cli"
				if u, err := user.Current(); err == nil {
					f.by = "cli:" + u.Username
				}
			}
			if args[0] == "list" {
				return listApprovals(cmd.Context(), f, stdout)
			}
			return answerApproval(cmd.Context(), f, args[1], args[0] == "approve", stdout)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "the bot's data directory")
	fl.StringVar(&f.state, "state", "pending", "list: pending, approved, rejected, expired or all")
	fl.BoolVar(&f.json, "json", false, `list: print {"approvals":[…]}`)
	fl.StringVar(&f.by, "by", "", "who answers (default cli:<your user name>)")
	return cmd
}

// apiCall calls the running bot's admin API; ok false when no bot runs.
func apiCall(ctx context.Context, dataDir, method, path string, body any, out any) (bool, error) {
	base, token, ok := botAPI(dataDir)
	if !ok {
		return false, nil
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return false, nil // a bot.json left by a killed bot: use the store
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(b, &e)
		code := procurebot.EINTERNAL
		switch resp.StatusCode {
		case http.StatusNotFound:
			code = procurebot.ENOTFOUND
		case http.StatusConflict:
			code = procurebot.ECONFLICT
		case http.StatusBadRequest:
			code = procurebot.EINVALID
		}
		return true, procurebot.Errorf(code, "%s", e.Error)
	}
	return true, json.Unmarshal(b, out)
}

func openStore(dataDir string) (*bolt.Store, error) {
	path := filepath.Join(dataDir, bolt.FileName)
	if _, err := os.Stat(path); err != nil {
		return nil, &procurebot.Error{Code: procurebot.EINVALID, Message: fmt.Sprintf("--data-dir %s: no store there (%s)", dataDir, bolt.FileName), Err: err}
	}
	return bolt.Open(path)
}

func listApprovals(ctx context.Context, f approvalsFlags, stdout io.Writer) error {
	var states []procurebot.ApprovalState
	switch f.state {
	case "all":
	case "pending", "approved", "rejected", "expired":
		states = append(states, procurebot.ApprovalState(f.state))
	default:
		return usageError{fmt.Errorf("--state %q: want pending, approved, rejected, expired or all", f.state)}
	}
	var out struct {
		Approvals []agent.ApprovalJSON `json:"approvals"`
	}
	q := ""
	if len(states) == 1 {
		q = "?state=" + url.QueryEscape(f.state)
	}
	ok, err := apiCall(ctx, f.dataDir, http.MethodGet, "/api/approvals"+q, nil, &out)
	if err != nil {
		return err
	}
	if !ok {
		st, err := openStore(f.dataDir)
		if err != nil {
			return err
		}
		defer st.Close()
		ps, err := st.ListApprovals(ctx, states...)
		if err != nil {
			return err
		}
		for _, p := range ps {
			out.Approvals = append(out.Approvals, agent.ToApprovalJSON(p))
		}
	}
	if out.Approvals == nil {
		out.Approvals = []agent.ApprovalJSON{}
	}
	if f.json {
		return json.NewEncoder(stdout).Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "id\tstate\tkind\tvenue\tgpus\tusd_per_gpu_h\thours\tamount_usd\texpires\tby")
	for _, a := range out.Approvals {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.State, a.Kind, a.Venue, a.GPUs, a.GPU, a.USDPerGPUHour, a.Hours, a.AmountUSD, a.Expires, a.By)
	}
	return tw.Flush()
}

func answerApproval(ctx context.Context, f approvalsFlags, id string, approve bool, stdout io.Writer) error {
	verb := "reject"
	state := procurebot.ApprovalRejected
	if approve {
		verb, state = "approve", procurebot.ApprovalApproved
	}
	var out struct {
		Approval agent.ApprovalJSON `json:"approval"`
	}
	ok, err := apiCall(ctx, f.dataDir, http.MethodPost, "/api/approvals/"+url.PathEscape(id)+"/"+verb, map[string]string{"by": f.by}, &out)
	if err != nil {
		return fmt.Errorf("approval %s: %w", id, err)
	}
	if !ok {
		st, err := openStore(f.dataDir)
		if err != nil {
			return err
		}
		defer st.Close()
		p, err := st.DecideApproval(ctx, id, state, f.by, time.Now().UTC())
		if err != nil {
			if p != nil && procurebot.ErrorCode(err) == procurebot.ECONFLICT {
				return procurebot.Errorf(procurebot.ECONFLICT, "approval %s: already %s by %s", id, p.State, p.By)
			}
			return fmt.Errorf("approval %s: %w", id, err)
		}
		out.Approval = agent.ToApprovalJSON(*p)
	}
	fmt.Fprintf(stdout, "%s %s by %s (%s %s, %s USD)\n", out.Approval.ID, out.Approval.State, out.Approval.By, out.Approval.Kind, out.Approval.Venue, out.Approval.AmountUSD)
	return nil
}
