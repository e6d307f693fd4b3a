package sampledata_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	pcsv "github.com/procurebot/procurebot/providers/csv"
	"github.com/procurebot/procurebot/sampledata"
)

var wantFiles = []string{
	"gpu/SOURCES.md",
	"gpu/offers.csv",
	"inference/SOURCES.md",
	"inference/models.csv",
	"power/SOURCES.md",
	"power/entsoe_be.csv",
	"power/ercot_hb_north.csv",
}

func TestFiles(t *testing.T) {
	var got []string
	err := fs.WalkDir(sampledata.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			got = append(got, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, wantFiles) {
		t.Errorf("files %v, want %v", got, wantFiles)
	}
}

// TestUnchanged checks the copies against the shared real data they come
// from, when that is beside the repository (as on development machines and
// in CI).
func TestUnchanged(t *testing.T) {
	shared := filepath.Join("..", "..", "shared", "data")
	if _, err := os.Stat(shared); err != nil {
		t.Skipf("no shared data at %s", shared)
	}
	for _, name := range wantFiles {
		want, err := os.ReadFile(filepath.Join(shared, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got, err := fs.ReadFile(sampledata.FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s", name, filepath.Join(shared, name))
		}
	}
}

func TestLoads(t *testing.T) {
	ds, err := pcsv.LoadFS(sampledata.FS())
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Power) != 2 || len(ds.GPU) != 127 || len(ds.Tokens) != 105 {
		t.Errorf("%d markets, %d GPU snapshots, %d token snapshots", len(ds.Power), len(ds.GPU), len(ds.Tokens))
	}
}
