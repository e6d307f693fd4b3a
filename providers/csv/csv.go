// Package csv loads recorded market history (DESIGN §5) from a data
// directory into a procurebot.Dataset: hourly power prices per market
// (power/*.csv, all files merged), GPU offer snapshots (gpu/offers.csv) and,
// when present, token price snapshots (inference/models.csv).
//
// Files are streamed with encoding/csv. The header row locates columns by
// name (matched exactly, after trimming spaces and a UTF-8 byte order mark);
// unknown extra columns are ignored, a missing or repeated required column
// is an error. Every row must have as many fields as the header. Blank lines
// are skipped; fields may be quoted as RFC 4180 says.
//
// Values are read strictly, and a malformed row is always an error (never a
// silent skip): an *procurebot.Error with code EINVALID whose message names
// the file (relative to the data directory), the 1-based line (the header is
// line 1) and the column, e.g.
//
//	gpu/offers.csv:17: column usd_per_hour: invalid decimal "abc"
//
// The rules, beyond those of §5:
//
//   - Times are RFC 3339 in UTC (2024-01-01T00:00:00Z; a zero offset such as
//     +00:00 is accepted too, any other offset is an error). Power times must
//     be on the hour.
//   - Amounts are plain decimals: an optional minus sign, digits, optionally
//     a point and more digits ("6.49", "-30.29", "0"). No exponents, no
//     thousands separators, no surrounding spaces. They are kept exactly as
//     written (shopspring decimal). Power prices may be negative; GPU and
//     token prices may not.
//   - gpu/offers.csv: provider and gpu must be non-empty; gpu_count is empty
//     (unknown) or a positive integer; usd_per_hour may be empty only when
//     usd_per_gpu_hour is set; spot is true, false or empty, in any case.
//     The region, instance, spot, gpu_count and usd_per_gpu_hour columns must
//     be in the header, but their values may be empty.
//   - inference/models.csv: provider and model non-empty, both prices set,
//     context_length empty or a non-negative integer.
//   - Power rows may come in any order, within a file and across files; the
//     same (market, hour) twice is an error naming both places. A market's
//     series may span at most 100 years.
//   - GPU and token rows must be in non-decreasing time order; rows with the
//     same time form one snapshot.
//   - Text values (provider, gpu, market, model, region, instance) are kept
//     exactly as written; they must be valid UTF-8, and the required ones
//     must not be blank.
//
// A file that cannot be opened is EINVALID; a read error part-way through a
// file is EINTERNAL.
//
// The loader interns repeated strings and GPU and token prices, so the
// offers of a data set share their provider, GPU and region strings and their
// price values (decimals are immutable; sharing them is safe), and it stores
// each snapshot's offers contiguously in large chunks: a year of hourly
// snapshots of 200 offers loads in under 300 MB (TestYearOfOffersMemory).
package csv

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/procurebot/procurebot"
)

// Paths inside a data directory (DESIGN §5).
const (
	PowerDir   = "power"
	OffersFile = "gpu/offers.csv"
	ModelsFile = "inference/models.csv"
)

// Load reads the data directory dir (DESIGN §5) from disk.
func Load(dir string) (*procurebot.Dataset, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, &procurebot.Error{Code: procurebot.EINVALID, Message: "data directory " + dir, Err: err}
	}
	if !st.IsDir() {
		return nil, procurebot.Invalidf("data directory %s: not a directory", dir)
	}
	return LoadFS(os.DirFS(dir))
}

// LoadFS reads a data directory laid out as in DESIGN §5 from fsys, whose
// root is the data directory: power/*.csv and gpu/offers.csv are required,
// inference/models.csv is optional. The three kinds of file are read
// concurrently; when several are bad, the error reported is the power
// files', else the offers', else the models'.
func LoadFS(fsys fs.FS) (*procurebot.Dataset, error) {
	powerFiles, err := listPower(fsys)
	if err != nil {
		return nil, err
	}
	ds := &procurebot.Dataset{}
	var powerErr, offersErr, modelsErr error
	var wg sync.WaitGroup
	wg.Go(func() { ds.Power, powerErr = newLoader().loadPower(fsys, powerFiles) })
	wg.Go(func() { ds.GPU, offersErr = newLoader().loadOffers(fsys, OffersFile) })
	ds.Tokens, modelsErr = newLoader().loadModels(fsys, ModelsFile)
	wg.Wait()
	if errors.Is(modelsErr, errAbsent) {
		modelsErr = nil
	}
	if err := cmp.Or(powerErr, offersErr, modelsErr); err != nil {
		return nil, err
	}
	return ds, nil
}

// errAbsent marks an optional file that does not exist.
var errAbsent = errors.New("absent")

// listPower returns the power/*.csv files of fsys, sorted by name.
func listPower(fsys fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(fsys, PowerDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, procurebot.Invalidf("data directory: missing %s/ (power prices, %s/*.csv)", PowerDir, PowerDir)
		}
		return nil, &procurebot.Error{Code: procurebot.EINVALID, Message: "data directory: " + PowerDir + "/", Err: err}
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".csv") {
			continue
		}
		files = append(files, path.Join(PowerDir, e.Name()))
	}
	if len(files) == 0 {
		return nil, procurebot.Invalidf("data directory: %s/ has no *.csv files (power prices)", PowerDir)
	}
	slices.Sort(files)
	return files, nil
}

// rowErr returns the EINVALID error of a value in file at line, column col.
func rowErr(file string, line int, col, format string, args ...any) error {
	return &procurebot.Error{
		Code:    procurebot.EINVALID,
		Message: fmt.Sprintf("%s:%d: column %s: ", file, line, col) + fmt.Sprintf(format, args...),
	}
}

// quote renders a bad value for a message, cut to a readable length.
func quote(s string) string {
	const maxLen = 64
	if len(s) > maxLen {
		return fmt.Sprintf("%q…", s[:maxLen])
	}
	return fmt.Sprintf("%q", s)
}
