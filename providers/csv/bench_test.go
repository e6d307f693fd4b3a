package csv_test

import (
	"testing"

	pcsv "github.com/procurebot/procurebot/providers/csv"
	"github.com/procurebot/procurebot/sampledata"
)

// BenchmarkLoad loads the whole embedded sample (about 25k GPU offers, 21k
// token prices and 15.6k power hours).
func BenchmarkLoad(b *testing.B) {
	fsys := sampledata.FS()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pcsv.LoadFS(fsys); err != nil {
			b.Fatal(err)
		}
	}
}
