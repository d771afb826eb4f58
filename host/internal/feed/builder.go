package feed

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// Record is one row produced by a plugin: column names and values. Records of
// one batch share the same Columns slice. The builder may keep references to
// the values after Add returns (see ReleaseValues); it never writes to them.
type Record struct {
	Origin  string   // where the row came from, e.g. "products.csv:12"; used in the error report
	Columns []string // spec column names
	Values  []string // one value per column
	// ValidUTF8 says the caller has already checked that every value is
	// valid UTF-8 (a decoded plugin batch: connectorv1.BatchDecoder rejects
	// rows that are not), so the builder need not check again.
	ValidUTF8 bool
}

// Options tune a Builder.
type Options struct {
	Columns      []string // output header; default Columns(kind)
	MaxPartBytes int64    // roll to a new part before a part would exceed this; 0 = one part
	Comma        rune     // ',' (default) or '\t' for TSV
	// TempDir receives the duplicate-id set's spilled runs once it
	// outgrows DuplicateBudget ("" = the system temp dir). The files are
	// unlinked as they are created (removed by Close where the OS cannot).
	TempDir string
	// DuplicateBudget is the memory, in bytes, of the duplicate-id set's
	// in-memory table (0 = idset.DefaultBudget, 3 MiB: 131,072 ids).
	DuplicateBudget int
}

// Stats summarises a build.
type Stats struct {
	Rows, Valid, Invalid int
	Parts                int   // parts opened (0 when no row was valid)
	Bytes                int64 // bytes written to all parts, headers included
}

// DefaultMaxPartBytes is the upload limit of Stripe's Files API (200 MB), the
// value to use with the legacy ImportSet API.
const DefaultMaxPartBytes = 200 << 20

// ErrorMessageColumn is the first column of an error report, as in the
// reports Stripe returns for an import.
const ErrorMessageColumn = "stripe_error_message"

// Builder streams records into one or more feed parts and an error report.
// Valid rows go to the current part; invalid rows go to the error report with
// a stripe_error_message column, in the shape of Stripe's own error reports.
// A Builder is not safe for concurrent use.
type Builder struct {
	kind   Kind
	open   func(part int) (io.WriteCloser, error)
	comma  byte
	max    int64
	schema *Schema
	files  *FileCheck
	header []byte // encoded header line
	plain  []bool // output columns whose valid values never need quoting

	part      io.WriteCloser
	pw        *bufio.Writer
	partBytes int64
	partRows  int

	errw    io.Writer     // the caller's error report writer, nil = discard
	errs    *bufio.Writer // created at the first invalid row
	errCols []string

	lastCols []string // copy of the Columns the mapping was built for
	mapping  []int    // record column -> output column, -1 = spec column not in the output
	identity bool     // mapping[i] == i for every output column
	row      []string
	buf      []byte
	probs    []Problem
	memo     memo

	stats  Stats
	err    error // sticky I/O error
	closed bool
}

// NewBuilder returns a Builder for feed kind k. open is called lazily for
// each part, numbered from 1; the Builder closes each part when it is full or
// on Close. errs receives the error report (nil discards it); it is written
// only if some row is invalid, is always comma separated (even for a TSV
// feed), and is flushed but not closed by Close.
func NewBuilder(k Kind, open func(part int) (io.WriteCloser, error), errs io.Writer, opt Options) (*Builder, error) {
	if !k.valid() {
		return nil, fmt.Errorf("feed builder: invalid feed kind %d", int(k))
	}
	if open == nil {
		return nil, errors.New("feed builder: nil open function")
	}
	cols := opt.Columns
	if cols == nil {
		cols = Columns(k)
	}
	s, err := NewSchema(k, cols)
	if err != nil {
		return nil, fmt.Errorf("feed builder: output columns: %w", err)
	}
	b := &Builder{kind: k, open: open, schema: s, max: opt.MaxPartBytes}
	switch opt.Comma {
	case 0, ',':
		b.comma = ','
	case '\t':
		b.comma = '\t'
	default:
		return nil, fmt.Errorf("feed builder: separator %q is neither ',' nor '\\t'", opt.Comma)
	}
	b.header = appendRecord(nil, s.header, b.comma)
	if b.max < 0 || b.max > 0 && b.max <= int64(len(b.header)) {
		return nil, fmt.Errorf("feed builder: MaxPartBytes %d leaves no room for a row after the %d-byte header", b.max, len(b.header))
	}
	b.errw = errs
	b.files = NewFileCheck(s, opt.TempDir, opt.DuplicateBudget)
	b.plain = make([]bool, len(s.header))
	for i, c := range s.colAt {
		b.plain[i] = c != noCol && colDefs[c].plain
	}
	b.row = make([]string, len(s.header))
	return b, nil
}

// Add validates r and writes it to the feed (valid) or to the error report
// (invalid). err is reserved for I/O failures, which are sticky, and for
// programming errors such as a column that is not in the spec; such a record
// is not counted.
func (b *Builder) Add(r Record) (valid bool, err error) {
	if b.err != nil {
		return false, b.err
	}
	if b.closed {
		return false, errors.New("feed builder: Add after Close")
	}
	if len(r.Values) != len(r.Columns) {
		return false, fmt.Errorf("record %s: %d values for %d columns", originOr(r.Origin), len(r.Values), len(r.Columns))
	}
	if !sameStrings(r.Columns, b.lastCols) {
		if err := b.remap(r); err != nil {
			return false, err
		}
	}
	b.stats.Rows++
	row := b.row
	untrimmed := true
	if b.identity {
		// The record has the output columns in output order: check (and
		// write) its values in place unless some value needs trimming.
		row = r.Values
		b.probs, untrimmed = b.schema.check(row, b.probs[:0], &b.memo, r.ValidUTF8)
		if untrimmed {
			row = b.row
		}
	}
	if untrimmed {
		if err := b.mapRow(r, row); err != nil {
			b.stats.Rows--
			return false, err
		}
		b.probs, _ = b.schema.check(row, b.probs[:0], &b.memo, r.ValidUTF8)
	}
	if len(b.probs) == 0 {
		var err error
		if b.probs, err = b.files.Check(row, b.stats.Rows, b.probs); err != nil {
			b.stats.Rows--
			b.err = err
			return false, err
		}
	}
	if len(b.probs) > 0 {
		for i := range b.probs {
			b.probs[i].Row = b.stats.Rows
		}
		b.stats.Invalid++
		return false, b.reject(r.Origin, problemsMessage(b.probs), row)
	}
	b.buf = appendValidRecord(b.buf[:0], row, b.comma, b.plain)
	if err := b.write(b.buf); err != nil {
		return false, err
	}
	b.stats.Valid++
	return true, nil
}

// mapRow copies the trimmed values of r into row, in output order.
func (b *Builder) mapRow(r Record, row []string) error {
	clear(row)
	for i, v := range r.Values {
		j := b.mapping[i]
		if j < 0 {
			if trim(v) != "" {
				return fmt.Errorf("record %s: column %q has a value but is not one of the output columns", originOr(r.Origin), r.Columns[i])
			}
			continue
		}
		row[j] = trim(v)
	}
	return nil
}

// allTrimmed reports, cheaply, that no value needs trimming (false may be a
// false alarm for values that begin or end with a non-ASCII character).
func allTrimmed(vals []string) bool {
	for _, v := range vals {
		if n := len(v); n != 0 && (v[0]-0x21 >= 0x5e || v[n-1]-0x21 >= 0x5e) {
			return false
		}
	}
	return true
}

// sameStrings reports whether a and b hold the same strings. It compares
// string headers first, so the usual case (the Columns slice shared by a
// batch, against our copy of it) costs no byte comparison.
func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		if unsafe.StringData(a[i]) != unsafe.StringData(b[i]) && a[i] != b[i] {
			return false
		}
	}
	return true
}

// ReleaseValues drops every reference the builder keeps to the values of
// records already added (its memo of values that passed their checks).
// Call it before reusing the memory those values live in: a memo that
// pointed into a reused buffer would see a new value where it checked an
// old one, and skip its check.
func (b *Builder) ReleaseValues() {
	b.memo = memo{}
	clear(b.row)
}

// LastProblems returns the problems of the last Add (empty when it was
// valid). The slice is reused by the next Add.
func (b *Builder) LastProblems() []Problem { return b.probs }

func (b *Builder) remap(r Record) error {
	mapping := make([]int, len(r.Columns))
	seen := make(map[string]bool, len(r.Columns))
	for i, name := range r.Columns {
		c, ok := colByName[name]
		if !ok || !inKind(b.kind, c) {
			msg := fmt.Sprintf("record %s: column %q is not in Stripe's %s feed spec", originOr(r.Origin), name, b.kind)
			if s := suggest(b.kind, name); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return errors.New(msg)
		}
		if seen[name] {
			return fmt.Errorf("record %s: column %q appears twice", originOr(r.Origin), name)
		}
		seen[name] = true
		mapping[i] = b.schema.pos[c]
	}
	b.mapping = mapping
	b.lastCols = slices.Clone(r.Columns)
	b.identity = len(mapping) == len(b.row)
	for i, j := range mapping {
		b.identity = b.identity && i == j
	}
	return nil
}

// AddRejected records a row the plugin itself could not map. It goes to the
// error report with message "origin: field: message"; partial supplies
// whatever output column values the plugin has (other keys are ignored).
func (b *Builder) AddRejected(origin, field, message string, partial map[string]string) error {
	if b.err != nil {
		return b.err
	}
	if b.closed {
		return errors.New("feed builder: AddRejected after Close")
	}
	b.stats.Rows++
	b.stats.Invalid++
	row := b.row
	clear(row)
	for k, v := range partial {
		if i := b.schema.Index(k); i >= 0 {
			row[i] = trim(v)
		}
	}
	msg := message
	if field != "" {
		msg = field + ": " + message
	}
	b.probs = append(b.probs[:0], Problem{Row: b.stats.Rows, Column: field, Message: message})
	return b.reject(origin, msg, row)
}

func originOr(o string) string {
	if o == "" {
		return "(no origin)"
	}
	return o
}

// problemsMessage renders "column: message; column: message".
func problemsMessage(ps []Problem) string {
	var sb strings.Builder
	for i, p := range ps {
		if i > 0 {
			sb.WriteString("; ")
		}
		if p.Column != "" {
			sb.WriteString(p.Column)
			sb.WriteString(": ")
		}
		sb.WriteString(p.Message)
	}
	return sb.String()
}

// reject writes one error report line.
func (b *Builder) reject(origin, msg string, row []string) error {
	if b.errw == nil {
		return nil
	}
	if origin == "" {
		origin = "row " + strconv.Itoa(b.stats.Rows)
	}
	if b.errs == nil {
		b.errs = bufio.NewWriterSize(b.errw, 32<<10)
		b.errCols = append([]string{ErrorMessageColumn}, b.schema.header...)
		if _, err := b.errs.Write(appendRecord(nil, b.errCols, ',')); err != nil {
			b.err = fmt.Errorf("write error report: %w", err)
			return b.err
		}
	}
	b.errCols[0] = origin + ": " + msg // errCols doubles as the line buffer
	copy(b.errCols[1:], row)
	line := appendRecord(b.buf[:0], b.errCols, ',')
	b.buf = line
	copy(b.errCols[1:], b.schema.header)
	b.errCols[0] = ErrorMessageColumn
	if _, err := b.errs.Write(line); err != nil {
		b.err = fmt.Errorf("write error report: %w", err)
		return b.err
	}
	return nil
}

// write appends an encoded row to the current part, rolling to a new part
// first when the row would push the part past MaxPartBytes. A row is never
// split; a part always holds at least one row even if that row alone is
// larger than the limit.
func (b *Builder) write(line []byte) error {
	if b.part != nil && b.max > 0 && b.partRows > 0 && b.partBytes+int64(len(line)) > b.max {
		if err := b.closePart(); err != nil {
			return err
		}
	}
	if b.part == nil {
		n := b.stats.Parts + 1
		w, err := b.open(n)
		if err != nil {
			b.err = fmt.Errorf("open feed part %d: %w", n, err)
			return b.err
		}
		b.stats.Parts = n
		b.part = w
		if b.pw == nil {
			b.pw = bufio.NewWriterSize(w, 64<<10)
		} else {
			b.pw.Reset(w)
		}
		b.partBytes, b.partRows = 0, 0
		if err := b.partWrite(b.header); err != nil {
			return err
		}
	}
	if err := b.partWrite(line); err != nil {
		return err
	}
	b.partRows++
	return nil
}

func (b *Builder) partWrite(p []byte) error {
	if _, err := b.pw.Write(p); err != nil {
		b.err = fmt.Errorf("write feed part %d: %w", b.stats.Parts, err)
		return b.err
	}
	b.partBytes += int64(len(p))
	b.stats.Bytes += int64(len(p))
	return nil
}

func (b *Builder) closePart() error {
	w := b.part
	b.part = nil
	err := b.pw.Flush()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.err = fmt.Errorf("close feed part %d: %w", b.stats.Parts, err)
	}
	return b.err
}

// Close finishes the current part and flushes the error report. It returns
// the statistics and the first error met.
func (b *Builder) Close() (Stats, error) {
	if b.closed {
		return b.stats, b.err
	}
	b.closed = true
	if b.part != nil {
		if b.err != nil {
			_ = b.part.Close()
			b.part = nil
		} else {
			_ = b.closePart()
		}
	}
	if b.errs != nil {
		if err := b.errs.Flush(); err != nil && b.err == nil {
			b.err = fmt.Errorf("write error report: %w", err)
		}
	}
	if err := b.files.Close(); err != nil && b.err == nil {
		b.err = fmt.Errorf("duplicate-id check: %w", err)
	}
	return b.stats, b.err
}
