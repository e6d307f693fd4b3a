package csv_test

import (
	"os"
	"testing"

	pcsv "github.com/procurebot/procurebot/providers/csv"
	"github.com/procurebot/procurebot/sampledata"
)

// BenchmarkLoad loads the whole sample (25,145 GPU offers in 127 snapshots,
// 21,157 token prices in 105, and 15,624 power hours in two files): from the
// embedded FS, and from a copy on disk.
func BenchmarkLoad(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		fsys := sampledata.FS()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pcsv.LoadFS(fsys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dir", func(b *testing.B) {
		dir := b.TempDir()
		if err := os.CopyFS(dir, sampledata.FS()); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pcsv.Load(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
}
