package slack

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/procurebot/procurebot"
)

// Action IDs of the two buttons; a button's value is the approval ID.
const (
	ActionApprove = "approve"
	ActionReject  = "reject"
)

// BlockIDActions is the block ID of the actions block holding the buttons.
const BlockIDActions = "procurebot_approval"

// dash stands for a value that does not apply or is unknown.
const dash = "—"

// Blocks renders approval a as a Block Kit message: a header, a section of
// fields (venue, GPU class × count, price per GPU-hour, term, total,
// ratio to the cheapest alternative, expiry, and the job or site served),
// a context line with the approval ID, and then either — while a is
// pending — an actions block with Approve (action_id "approve", primary,
// with a confirmation) and Reject (action_id "reject", danger) buttons
// whose value is a.ID, or — once decided — the outcome and who decided.
// It is a pure function of a.
func Blocks(a procurebot.Approval) []slack.Block {
	act := a.Action
	fields := []*slack.TextBlockObject{
		field("Venue", escape(orDash(act.Venue))),
		field("GPUs", escape(gpus(act))),
		field("Price", escape(perGPUHour(act.USDPerGPUHour))),
		field("Term", escape(hours(act.Hours))),
		field("Total", escape(usd(act.AmountUSD))),
		field("vs cheapest", escape(ratio(act))),
		field("Expires", slackDate(a.Expires)),
	}
	if f := serves(act); f != "" {
		fields = append(fields, field("For", escape(f)))
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(headline(a))),
		slack.NewSectionBlock(nil, fields, nil),
		slack.NewContextBlock("", mrkdwn(fmt.Sprintf("Approval `%s` · requested %s", escape(a.ID), slackDate(a.Requested)))),
	}
	if a.State == procurebot.ApprovalPending || a.State == "" {
		approve := slack.NewButtonBlockElement(ActionApprove, a.ID, plain("Approve")).
			WithStyle(slack.StylePrimary).
			WithConfirm(slack.NewConfirmationBlockObject(
				plain("Approve "+usd(act.AmountUSD)+"?"),
				plain(confirmText(act)),
				plain("Approve"),
				plain("Cancel"),
			))
		reject := slack.NewButtonBlockElement(ActionReject, a.ID, plain("Reject")).
			WithStyle(slack.StyleDanger)
		return append(blocks, slack.NewActionBlock(BlockIDActions, approve, reject))
	}
	return append(blocks, slack.NewSectionBlock(mrkdwn(outcomeMrkdwn(a)), nil, nil))
}

// Text renders approval a as plain text: the message's fallback (what
// notifications and screen readers show) and a capture of the message for
// the docs. It is a pure function of a.
func Text(a procurebot.Approval) string {
	act := a.Action
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", headline(a))
	fmt.Fprintf(&b, "Venue: %s\n", orDash(act.Venue))
	fmt.Fprintf(&b, "GPUs: %s\n", gpus(act))
	fmt.Fprintf(&b, "Price: %s\n", perGPUHour(act.USDPerGPUHour))
	fmt.Fprintf(&b, "Term: %s\n", hours(act.Hours))
	fmt.Fprintf(&b, "Total: %s\n", usd(act.AmountUSD))
	fmt.Fprintf(&b, "vs cheapest: %s\n", ratio(act))
	fmt.Fprintf(&b, "Expires: %s\n", utc(a.Expires))
	if f := serves(act); f != "" {
		fmt.Fprintf(&b, "For: %s\n", f)
	}
	fmt.Fprintf(&b, "Approval: %s", a.ID)
	if o := outcomeText(a); o != "" {
		fmt.Fprintf(&b, "\n%s", o)
	}
	return b.String()
}

// headline is the header: what is asked, or what became of it.
func headline(a procurebot.Approval) string {
	act := a.Action
	what := fmt.Sprintf("%s on %s, %s", orDash(string(act.Kind)), orDash(act.Venue), usd(act.AmountUSD))
	var h string
	switch a.State {
	case procurebot.ApprovalApproved:
		h = "Approved: " + what
	case procurebot.ApprovalRejected:
		h = "Rejected: " + what
	case procurebot.ApprovalExpired:
		h = "Expired: " + what
	default:
		h = "Approval needed: " + what
	}
	return truncate(h, 150) // Slack's limit for a header
}

// confirmText is the Approve button's confirmation (at most 300 chars).
func confirmText(act procurebot.Action) string {
	s := fmt.Sprintf("%s %s on %s for %s at %s.", act.Kind, gpus(act), orDash(act.Venue), hours(act.Hours), perGPUHour(act.USDPerGPUHour))
	if act.GPU == "" {
		s = fmt.Sprintf("%s on %s for %s.", act.Kind, orDash(act.Venue), hours(act.Hours))
	}
	return truncate(s, 300)
}

// outcomeMrkdwn is the decided message's last line.
func outcomeMrkdwn(a procurebot.Approval) string {
	switch a.State {
	case procurebot.ApprovalApproved:
		return fmt.Sprintf(":white_check_mark: *Approved* by %s · %s", who(a.By), slackDate(a.Decided))
	case procurebot.ApprovalRejected:
		return fmt.Sprintf(":x: *Rejected* by %s · %s", who(a.By), slackDate(a.Decided))
	case procurebot.ApprovalExpired:
		return fmt.Sprintf(":hourglass: *Expired* unanswered · %s", slackDate(a.Decided))
	}
	return escape(string(a.State))
}

// outcomeText is the plain-text outcome line ("" while pending).
func outcomeText(a procurebot.Approval) string {
	switch a.State {
	case procurebot.ApprovalApproved:
		return fmt.Sprintf("Approved by %s at %s", orDash(a.By), utc(a.Decided))
	case procurebot.ApprovalRejected:
		return fmt.Sprintf("Rejected by %s at %s", orDash(a.By), utc(a.Decided))
	case procurebot.ApprovalExpired:
		return fmt.Sprintf("Expired unanswered at %s", utc(a.Decided))
	}
	return ""
}

// who mentions a Slack user, or shows another decider ("cli:alice") as
// code.
func who(by string) string {
	if userID.MatchString(by) {
		return "<@" + by + ">"
	}
	if by == "" {
		return dash
	}
	return "`" + escape(by) + "`"
}

func gpus(act procurebot.Action) string {
	switch {
	case act.GPU == "" && act.GPUs.Sign() == 0:
		return dash
	case act.GPU == "":
		return act.GPUs.String()
	case act.GPUs.Sign() == 0:
		return act.GPU
	}
	return act.GPUs.String() + " × " + act.GPU
}

func perGPUHour(m procurebot.Money) string {
	if m.Sign() == 0 {
		return dash
	}
	return price(m) + "/GPU-h"
}

func hours(m procurebot.Money) string {
	if m.Sign() == 0 {
		return dash
	}
	return m.String() + " h"
}

func ratio(act procurebot.Action) string {
	r := act.Ratio()
	if r.Sign() == 0 {
		return dash
	}
	return r.StringFixed(2) + "× cheapest"
}

func serves(act procurebot.Action) string {
	switch {
	case act.Job != "":
		return "job " + act.Job
	case act.Site != "":
		return "site " + act.Site
	}
	return ""
}

// price shows a unit price with at least cents and every further digit
// it has ("$2.49", "$0.125").
func price(m procurebot.Money) string {
	if m.Equal(m.Round(2)) {
		return usd(m)
	}
	return "$" + m.String()
}

// usd shows an amount in cents with thousands separators ("$12,345.60").
func usd(m procurebot.Money) string {
	s := procurebot.Cents(m)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + "$" + b.String() + "." + frac
}

// utc formats t for plain text.
func utc(t time.Time) string {
	if t.IsZero() {
		return dash
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// slackDate shows t in each reader's own time zone, with the UTC time as
// the fallback.
func slackDate(t time.Time) string {
	if t.IsZero() {
		return dash
	}
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), utc(t))
}

func orDash(s string) string {
	if s == "" {
		return dash
	}
	return s
}

// escape makes s safe in mrkdwn: the three characters Slack's formatting
// gives meaning to.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func field(name, value string) *slack.TextBlockObject {
	return mrkdwn("*" + name + "*\n" + value)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}
