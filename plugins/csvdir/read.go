package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/acs-connector/acs-connector/proto/idset"
	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/csvread"
)

const readBufferSize = 256 << 10

// dupBudget is the memory of a read's duplicate-id set before it spills
// (idset.DefaultBudget); tests lower it to force spills.
var dupBudget = 0

// csvFile is an open source file positioned after its header.
type csvFile struct {
	f      *os.File
	fi     os.FileInfo
	r      rowReader
	header []string
	name   string // base name, for origins
}

// rowReader reads a source file's rows. Either way the strings of a row are
// valid only until the next Read: clone what outlives the row.
type rowReader interface {
	Read() ([]string, error)
	FieldPos(field int) (line, column int)
}

// openCSV opens path and reads its header. A UTF-8 byte order mark is
// skipped; CRLF line ends are handled by the reader. Rows may have any
// number of fields: the caller rejects the ones that do not fit the header.
//
// An ASCII delimiter (every common one) gets sdk/csvread, which reads as
// encoding/csv does without allocating a string per row: on a million-row
// export those strings were a third of the plugin's CPU, most of it page
// faults on fresh heap. Any other delimiter gets encoding/csv.
func openCSV(path string, comma rune) (*csvFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	var bom [3]byte
	if n, _ := f.ReadAt(bom[:], 0); n == 3 && bom == [3]byte{0xEF, 0xBB, 0xBF} {
		if _, err := f.Seek(3, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	// Tab-separated exports rarely quote; a stray quote (12" pizza) should
	// be data, not a parse error.
	lazy := comma == '\t'
	var r rowReader
	if comma < utf8.RuneSelf {
		cr := csvread.NewReaderSize(f, readBufferSize)
		cr.Comma, cr.LazyQuotes = byte(comma), lazy
		r = cr
	} else {
		cr := csv.NewReader(bufio.NewReaderSize(f, readBufferSize))
		cr.Comma, cr.LazyQuotes = comma, lazy
		cr.FieldsPerRecord = -1
		cr.ReuseRecord = true
		r = cr
	}
	name := filepath.Base(path)
	header, err := r.Read()
	if err != nil {
		f.Close()
		if err == io.EOF {
			return nil, fmt.Errorf("%s is empty: it needs a header line naming the columns", name)
		}
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	h := make([]string, len(header))
	for i, c := range header {
		h[i] = strings.Clone(c)
	}
	return &csvFile{f: f, fi: fi, r: r, header: h, name: name}, nil
}

func readHeader(path string, comma rune) ([]string, error) {
	c, err := openCSV(path, comma)
	if err != nil {
		return nil, err
	}
	c.f.Close()
	return c.header, nil
}

// fingerprint identifies the content of an open file cheaply: size,
// modification time and a SHA-256 over the first and last 64 KiB, plus salt
// (what the read depends on besides the file: config, feed kind, path).
func fingerprint(f *os.File, fi os.FileInfo, salt string) (string, error) {
	const chunk = 64 << 10
	h := sha256.New()
	h.Write([]byte(salt))
	size := fi.Size()
	buf := make([]byte, chunk)
	n, err := f.ReadAt(buf[:min(size, chunk)], 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	h.Write(buf[:n])
	if size > chunk {
		off := max(size-chunk, chunk)
		n, err := f.ReadAt(buf[:size-off], off)
		if err != nil && err != io.EOF {
			return "", err
		}
		h.Write(buf[:n])
	}
	return fmt.Sprintf("csvdir1.%d.%d.%x", size, fi.ModTime().UnixNano(), h.Sum(nil)[:12]), nil
}

// readSpec says what one read streams.
type readSpec struct {
	kind string // "catalog", "inventory", "prices": part of the cursor
	path string
	m    mapping
	want []string
	aux  []string
	// skipNotTracked leaves out rows with inventory_not_tracked=true (they
	// have no stock to report in an inventory feed); skipDeleted leaves out
	// rows with delete=true (an inventory or price row for a product being
	// deleted would fail Stripe's "id must exist" check).
	skipNotTracked, skipDeleted bool
	// anyOf: the read needs at least one of these columns; without them the
	// file cannot serve this feed and the read answers ErrUnimplemented.
	anyOf []string
}

// stream sends the rows of spec's file as records. Memory stays flat: one
// reused row buffer, and a duplicate-id set with a fixed budget that spills
// to the temp dir (TMPDIR) beyond 131,072 ids.
func (s *settings) stream(ctx context.Context, req *sdk.ReadRequest, w *sdk.RecordWriter, spec readSpec) error {
	c, err := openCSV(spec.path, s.comma)
	if err != nil {
		return fmt.Errorf("read %s: %w", spec.kind, err)
	}
	defer c.f.Close()
	cursor, err := fingerprint(c.f, c.fi, s.readSalt+"\x00"+spec.kind+"\x00"+spec.path)
	if err != nil {
		return fmt.Errorf("read %s: fingerprint %s: %w", spec.kind, c.name, err)
	}
	w.SetCursor(cursor)
	if req.Cursor == cursor {
		// Unchanged since the read that returned this cursor: the host has
		// every row already.
		sdk.Logger().Debug("csvdir: source unchanged, nothing to send", "kind", spec.kind, "file", c.name)
		return nil
	}
	p, err := resolve(c.name, c.header, spec.m, spec.want, spec.aux...)
	if err != nil {
		return fmt.Errorf("read %s: %w", spec.kind, err)
	}
	if len(spec.anyOf) > 0 && !slices.ContainsFunc(spec.anyOf, func(c string) bool { return slices.Contains(p.cols, c) }) {
		return fmt.Errorf("%s has none of the columns %s: %w", c.name, strings.Join(spec.anyOf, ", "), sdk.ErrUnimplemented)
	}

	var (
		nHeader  = len(c.header)
		vals     = make([]string, len(p.outs))
		amounts  []byte // the current row's normalised amounts
		originB  = make([]byte, 0, len(c.name)+12)
		seed     = maphash.MakeSeed()
		seen     = idset.New("", dupBudget)
		rows     int
		rejected int
	)
	defer seen.Close()
	originB = append(originB, c.name...)
	originB = append(originB, ':')
	prefix := len(originB)
	// origin is "file:line" in originB, valid until the next call: enough
	// for WriteValues, which copies it; a reject clones it.
	origin := func(line int) string {
		originB = strconv.AppendInt(originB[:prefix], int64(line), 10)
		return unsafe.String(unsafe.SliceData(originB), len(originB))
	}
	reject := func(line int, field, msg string, rec []string) error {
		rejected++
		e := sdk.RecordError{Origin: strings.Clone(origin(line)), Field: field, Message: msg}
		if rec != nil {
			// The row's strings are reused by the next Read; the error
			// is sent with a later batch.
			e.Partial = make(map[string]string, len(p.outs))
			for i, o := range p.outs {
				if v := vals[i]; v != "" {
					e.Partial[o.name] = strings.Clone(v)
				} else if o.idx < len(rec) && strings.TrimSpace(rec[o.idx]) != "" {
					e.Partial[o.name] = strings.Clone(strings.TrimSpace(rec[o.idx]))
				}
			}
		}
		return w.Reject(e)
	}

	for {
		rec, err := c.r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return fmt.Errorf("read %s: %s: %w", spec.kind, c.name, err)
			}
			msg := pe.Err.Error()
			switch {
			case errors.Is(pe.Err, csv.ErrBareQuote):
				msg += ` (a cell containing " must be quoted, with the quote doubled: "12"" stone")`
			case errors.Is(pe.Err, csv.ErrQuote):
				msg += " (a quoted cell is not closed, or a quote inside it is not doubled)"
			}
			if pe.Line != pe.StartLine {
				msg += fmt.Sprintf(" (the row starts at line %d, the error is at line %d)", pe.StartLine, pe.Line)
			}
			if err := reject(pe.StartLine, "", msg, nil); err != nil {
				return err
			}
			continue
		}
		rows++
		if rows&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line, _ := c.r.FieldPos(0)
		if len(rec) != nHeader {
			if blank(rec) {
				continue
			}
			clear(vals)
			if err := reject(line, "", fmt.Sprintf("row has %d fields but the header has %d", len(rec), nHeader), rec); err != nil {
				return err
			}
			continue
		}
		if spec.skipNotTracked && p.notTracked >= 0 && normBool(strings.TrimSpace(rec[p.notTracked])) == "true" {
			continue
		}
		if spec.skipDeleted && p.deleted >= 0 && normBool(strings.TrimSpace(rec[p.deleted])) == "true" {
			continue
		}
		bad, badField := "", ""
		amounts = amounts[:0]
		for i, o := range p.outs {
			v := strings.TrimSpace(rec[o.idx])
			switch o.tf {
			case tfMoney:
				if v != "" {
					// The row's amounts live in amounts until the next
					// row, like rec's strings: WriteValues copies them.
					from := len(amounts)
					var err error
					amounts, err = appendMoney(amounts, v, s.currency)
					if err != nil && bad == "" {
						bad, badField = err.Error(), o.name
					}
					if err == nil && len(amounts) > from {
						v = unsafe.String(&amounts[from], len(amounts)-from)
					}
				}
			case tfBool:
				v = normBool(v)
			case tfAvailability:
				v = normAvailability(v)
			}
			vals[i] = v
		}
		id := vals[p.idPos]
		if id == "" {
			if blank(rec) {
				continue
			}
			if err := reject(line, sdk.FieldID, "empty id", rec); err != nil {
				return err
			}
			continue
		}
		if bad != "" {
			if err := reject(line, badField, bad, rec); err != nil {
				return err
			}
			continue
		}
		h := maphash.String(seed, id)
		first, dup, err := seen.Insert(h, line)
		if err != nil {
			return fmt.Errorf("read %s: %s line %d: %w", spec.kind, c.name, line, err)
		}
		if dup {
			if err := reject(line, sdk.FieldID, fmt.Sprintf("duplicate id %q, first used at %s:%d", id, c.name, first), rec); err != nil {
				return err
			}
			continue
		}
		if err := w.WriteValues(origin(line), p.cols, vals); err != nil {
			return err
		}
	}

	// A file rewritten in place while we read it may have mixed old and new
	// rows: hand out a cursor that cannot match, so the next read is full.
	if fi, err := c.f.Stat(); err == nil && (fi.Size() != c.fi.Size() || !fi.ModTime().Equal(c.fi.ModTime())) {
		sdk.Logger().Warn("csvdir: file changed while it was read; the next read will be a full one", "file", spec.path)
		w.SetCursor("csvdir1.changed-during-read")
	}
	sdk.Logger().Debug("csvdir: read done", "kind", spec.kind, "file", c.name, "rows", rows, "rejected", rejected)
	return nil
}

func blank(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}
