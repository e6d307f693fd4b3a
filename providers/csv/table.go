package csv

import (
	"bufio"
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/procurebot/procurebot"
)

// table streams the rows of one CSV file whose header names the required
// columns.
type table struct {
	file   string  // path relative to the data directory, for messages
	f      fs.File // closed by close
	r      *stdcsv.Reader
	header []string // the header's column names
	cols   []int    // index in a row of each required column
	req    []string // the required columns' names
	rec    []string // the current row (reused)
}

// openTable opens file in fsys and reads its header, which must name every
// column of req. A file that does not exist is reported as errAbsent when
// optional is set.
func openTable(fsys fs.FS, file string, req []string, optional bool) (*table, error) {
	f, err := fsys.Open(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if optional {
				return nil, errAbsent
			}
			return nil, procurebot.Invalidf("data directory: missing %s", file)
		}
		return nil, &procurebot.Error{Code: procurebot.EINVALID, Message: file, Err: err}
	}
	r := stdcsv.NewReader(bufio.NewReaderSize(f, 64<<10))
	r.ReuseRecord = true
	r.FieldsPerRecord = -1
	t := &table{file: file, f: f, r: r, req: req}
	if err := t.readHeader(); err != nil {
		f.Close()
		return nil, err
	}
	return t, nil
}

func (t *table) close() { t.f.Close() }

func (t *table) readHeader() error {
	rec, err := t.r.Read()
	if err == io.EOF {
		return procurebot.Invalidf("%s:1: empty file, want a header row naming columns %s", t.file, strings.Join(t.req, ","))
	}
	if err != nil {
		return t.readErr(err)
	}
	line, _ := t.r.FieldPos(0)
	t.header = make([]string, len(rec))
	for i, name := range rec {
		if i == 0 {
			name = strings.TrimPrefix(name, "\uFEFF") // a UTF-8 byte order mark
		}
		t.header[i] = strings.Clone(strings.TrimSpace(name))
	}
	t.cols = make([]int, len(t.req))
	for j, name := range t.req {
		t.cols[j] = -1
		for i, h := range t.header {
			if h != name {
				continue
			}
			if t.cols[j] >= 0 {
				return rowErr(t.file, line, name, "named twice in the header (fields %d and %d)", t.cols[j]+1, i+1)
			}
			t.cols[j] = i
		}
		if t.cols[j] < 0 {
			return rowErr(t.file, line, name, "missing from the header (want %s)", strings.Join(t.req, ","))
		}
	}
	return nil
}

// next reads the next row into t.rec. It returns false at the end of the
// file.
func (t *table) next() (bool, error) {
	rec, err := t.r.Read()
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, t.readErr(err)
	}
	t.rec = rec
	if len(rec) != len(t.header) {
		line, _ := t.r.FieldPos(0)
		if len(rec) < len(t.header) {
			return false, rowErr(t.file, line, t.header[len(rec)], "missing: the row has %d fields, the header %d", len(rec), len(t.header))
		}
		return false, procurebot.Invalidf("%s:%d: column %d: beyond the header: the row has %d fields, the header %d",
			t.file, line, len(t.header)+1, len(rec), len(t.header))
	}
	return true, nil
}

// field returns the value of required column j in the current row.
func (t *table) field(j int) string { return t.rec[t.cols[j]] }

// line returns the line on which required column j of the current row
// starts.
func (t *table) line(j int) int {
	line, _ := t.r.FieldPos(t.cols[j])
	return line
}

// errf returns the EINVALID error of required column j in the current row.
func (t *table) errf(j int, format string, args ...any) error {
	return rowErr(t.file, t.line(j), t.req[j], format, args...)
}

// readErr turns an error from the csv reader into an *procurebot.Error naming
// the file and line.
func (t *table) readErr(err error) error {
	var pe *stdcsv.ParseError
	if errors.As(err, &pe) {
		msg := fmt.Sprintf("%s:%d: byte %d", t.file, pe.Line, pe.Column)
		if pe.StartLine != 0 && pe.StartLine != pe.Line {
			msg += fmt.Sprintf(" (in the row starting on line %d)", pe.StartLine)
		}
		return &procurebot.Error{Code: procurebot.EINVALID, Message: msg, Err: pe.Err}
	}
	return &procurebot.Error{Code: procurebot.EINTERNAL, Message: "reading " + t.file, Err: err}
}
