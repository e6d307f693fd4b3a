// Package slack is procurebot's Slack side of approvals: actions above the
// configured commitment wait for a human, who answers in Slack.
//
// A Notifier posts each request to a channel as a Block Kit message
// (Blocks: venue, GPU class × count, price per GPU-hour, term, total,
// ratio to the cheapest alternative, expiry, and Approve / Reject
// buttons) with a plain-text fallback (Text), and once the request is
// decided updates the message to show the outcome and who decided
// (Resolve). Answers come back one of two ways: Handler serves
// POST /slack/interactions, verifying Slack's v0 request signature and
// timestamp; RunSocketMode receives the same interactions over a
// WebSocket for operators without a public URL. Both hand the answer to a
// Decider (StoreDecider records it in an approval store) and make sure
// that the same answer has effect once: a replayed callback is ignored,
// and the store's compare-and-set turns a second answer into ECONFLICT,
// which is answered with 200 so that Slack does not retry.
//
// Tokens and the signing secret are venuehttp.Secret values, which never
// print; nothing here logs them or puts them in an error.
package slack
