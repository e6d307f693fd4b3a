// Package sampledata embeds a sample of real recorded market history in the
// data directory layout of DESIGN §5, for the default run (paper mode, a
// backtest without --data) and for tests. Load it with
//
//	ds, err := csv.LoadFS(sampledata.FS()) // package providers/csv
//
// The files are copied unchanged from the project's shared real data; each
// folder's SOURCES.md (embedded beside the CSVs) says where they come from,
// under which licence and how they were converted:
//
//   - power/ercot_hb_north.csv: ERCOT North Hub real-time LMP (U.S. EIA),
//     market ERCOT_HB_NORTH, hourly 2024-02-23T17:00Z … 2024-12-05T21:00Z,
//     6,864 rows, 5 missing hours (gaps of at most 2 h).
//   - power/entsoe_be.csv: Belgium day-ahead (ENTSO-E), EUR converted at
//     1.08 USD, market ENTSOE_BE, hourly over 2025 (2024-12-31T23:00Z …
//     2025-12-31T22:00Z UTC, i.e. 2025 in Brussels time), 8,760 rows, no gaps.
//     Between the two markets lies a gap, 2024-12-05 … 2024-12-31.
//   - gpu/offers.csv: GPU rental list prices (gpuhunt via
//     becloudready/gpu-price), 127 daily snapshots 2024-09-24T20:42Z …
//     2025-01-31T00:01Z, 25,145 offers, 10 providers, A100/H100/H200/MI300X.
//     Prices are instance prices; gpu_count is known only for aws, oci and
//     vultr (8), and spot, region and instance are always empty.
//   - inference/models.csv: OpenRouter per-token prices, 105 change-driven
//     snapshots 2024-09-21T02:09Z … 2025-01-31T00:24Z, 21,157 rows.
package sampledata

import (
	"embed"
	"io/fs"
)

//go:embed data
var files embed.FS

// FS returns the sample data directory: an fs.FS whose root holds power/,
// gpu/ and inference/.
func FS() fs.FS {
	sub, err := fs.Sub(files, "data")
	if err != nil {
		panic(err) // "data" is a valid path: cannot happen
	}
	return sub
}
