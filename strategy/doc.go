// Package strategy holds procurebot's decision makers: the baselines static
// and greedy (DESIGN §2), the exact hindsight oracle and the product's own
// arbitrage strategy, with the solver and forecasters they share. Strategies
// are pure: they read prices only through a procurebot.View (or, for the
// oracle, procurebot.Foresight) and return a procurebot.Decision; they do
// no I/O and read no wall clock, so the simulator and the live agent drive
// the very same code.
package strategy
