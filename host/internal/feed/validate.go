package feed

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// MaxReportProblems caps Report.Problems; problems beyond it are counted in
// Report.Omitted.
const MaxReportProblems = 1000

// Report is the result of ValidateFile.
type Report struct {
	Kind     Kind
	Rows     int // data rows read
	Invalid  int // rows with at least one problem
	Problems []Problem
	Omitted  int  // problems not stored because of MaxReportProblems
	TSV      bool // the file is tab separated
}

// OK reports whether every row is valid.
func (r Report) OK() bool { return r.Invalid == 0 }

// ValidateFile checks a feed file (CSV, or TSV when its first line has a
// tab). When k is 0 the header decides the kind (see DetectKind). Row
// problems go into the Report; the error is for input that is not a feed at
// all: empty input, JSON, a header with unknown or missing columns, broken
// CSV quoting, or a read failure. The Report holds what was learnt before the
// error.
func ValidateFile(r io.Reader, k Kind) (Report, error) {
	var rep Report
	if k != 0 && !k.valid() {
		return rep, fmt.Errorf("invalid feed kind %d", int(k))
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\xEF\xBB\xBF")) {
		_, _ = br.Discard(3)
	}
	first, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		// a header line over 64 KB: fine, it has no tab we care about
		first = append([]byte(nil), first...)
	case err != nil && err != io.EOF:
		return rep, fmt.Errorf("read: %w", err)
	default:
		first = append([]byte(nil), first...)
	}
	trimmed := bytes.TrimSpace(first)
	if len(trimmed) == 0 {
		return rep, errors.New("empty file: no header line")
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		return rep, errors.New("input looks like JSON, not a Stripe feed: Stripe feeds are CSV or TSV files whose first line names the columns (id,title,...); JSON feeds such as the ACP product feed must be converted")
	}
	rep.TSV = bytes.IndexByte(first, '\t') >= 0

	cr := csv.NewReader(io.MultiReader(bytes.NewReader(first), br))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	if rep.TSV {
		cr.Comma = '\t'
		cr.LazyQuotes = true
	}
	header, err := cr.Read()
	if err != nil {
		return rep, fmt.Errorf("header: %w", err)
	}
	header = append([]string(nil), header...)
	if k == 0 {
		k = DetectKind(header)
	}
	rep.Kind = k
	s, err := NewSchema(k, header)
	if err != nil {
		return rep, err
	}
	fc := NewFileCheck(s, "", 0)
	defer fc.Close()
	var probs []Problem
	var m memo
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return rep, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				where := fmt.Sprintf("line %d", pe.StartLine)
				if pe.Line != pe.StartLine {
					where = fmt.Sprintf("lines %d-%d", pe.StartLine, pe.Line)
				}
				return rep, fmt.Errorf("%s: %w (after data row %d)", where, pe.Err, rep.Rows)
			}
			return rep, fmt.Errorf("read after data row %d: %w", rep.Rows, err)
		}
		rep.Rows++
		probs, _ = s.check(row, probs[:0], &m, false)
		if len(probs) == 0 {
			if probs, err = fc.Check(row, rep.Rows, probs); err != nil {
				return rep, err
			}
		}
		if len(probs) == 0 {
			continue
		}
		rep.Invalid++
		for _, p := range probs {
			if len(rep.Problems) >= MaxReportProblems {
				rep.Omitted++
				continue
			}
			p.Row = rep.Rows
			rep.Problems = append(rep.Problems, p)
		}
	}
}
