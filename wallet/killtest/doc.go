// Package killtest holds the wallet's fault-injection proof (kill_test.go):
// a payer process paying a fixed batch of payment intents against a real
// geth --dev node is killed with SIGKILL over and over — at random moments
// and at every step of a payment (before the intent is written, after it is
// written, between signing and broadcast, after broadcast before the
// receipt, during reconciliation) — and restarted each time; at the end
// every intent must be paid exactly once on chain and none lost. It ends
// with the line "N kills, D duplicates, L lost" (real counts) on stderr,
// which go test shows with -v, and appends it to the file named by
// PROCUREBOT_KILL_REPORT if set (.ci/run prints it from there).
// PROCUREBOT_KILLS sets the number of kills (default 200);
// PROCUREBOT_KILL_SEED replays a run's kill schedule (the timings still
// vary).
//
// The package has no code of its own; run it with
//
//	go test -count=1 -v -run TestKill ./wallet/killtest
package killtest
