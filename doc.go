// Package procurebot holds the domain of procurebot, an agent that buys GPU
// compute and electricity at the margin for operators of GPU fleets.
//
// The root package is the domain only (Ben Johnson's "standard package
// layout"): prices (power, GPU offers, tokens), the scenario an operator
// describes (sites, jobs, inference workloads, market rules), the data set
// of recorded history, and the small interfaces between the parts. It does
// no I/O. Subpackages are grouped by what they depend on: providers/csv reads
// recorded history, scenario decodes scenario files, sim replays a market
// under the cost model of DESIGN §7, strategy decides, cmd/procurebot wires.
//
// Money is never a float64: every amount is a shopspring decimal.Decimal,
// and token amounts on chain are *big.Int base units.
package procurebot
