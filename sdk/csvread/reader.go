// Package csvread reads CSV exactly as encoding/csv does for one
// configuration (FieldsPerRecord = -1, ReuseRecord, no comment character, no
// TrimLeadingSpace; Comma and LazyQuotes configurable), without allocating per
// record.
//
// It exists for plugins that stream million-row CSV exports. Even with
// ReuseRecord, encoding/csv copies every record into one freshly allocated
// string (~650 bytes for a typical product row). On our VMs the first write
// to every fresh heap page is a ~11 µs page fault, so collecting that garbage
// costs more than the parsing itself. This Reader instead returns strings that
// point into its own reused read buffer; only fields that must be rewritten
// (a "" escape, or a quoted field spanning lines) are copied, into a side
// buffer that is reused as well.
//
// Validity rule: the strings of a record returned by Read, and the slice
// holding them, are valid only until the next call to Read. Clone
// (strings.Clone) whatever you keep, e.g. map keys or values stored in a
// struct that outlives the loop.
//
// Parse errors are *csv.ParseError values from encoding/csv with the same
// positions and sentinel errors (csv.ErrBareQuote, csv.ErrQuote) that
// encoding/csv reports, so existing error handling keeps working.
package csvread

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unsafe"
)

// DefaultBufferSize is the read buffer size used by NewReader. Big enough
// that a refill (and the compaction of a partial record it implies) happens
// rarely; the buffer grows on its own if one record does not fit.
const DefaultBufferSize = 256 << 10

// maxConsecutiveEmptyReads mirrors bufio, which encoding/csv reads through,
// so a reader that keeps returning (0, nil) fails the same way.
const maxConsecutiveEmptyReads = 100

// ErrInvalidComma is returned (wrapped) by Read when Comma cannot be used as
// a field separator, where encoding/csv would return its unexported
// "invalid field or comment delimiter" error.
var ErrInvalidComma = errors.New("csvread: invalid Comma")

var errInvalidRead = errors.New("csvread: underlying reader returned an invalid count from Read")

// Reader reads records from a CSV stream. The strings of a record returned by
// Read point into the Reader's buffers and are valid only until the next call
// to Read; the slice itself is reused too. Clone (strings.Clone) what you
// keep.
//
// A Reader must be created with NewReader or NewReaderSize.
type Reader struct {
	// Comma is the field separator, ',' by default. It must be ASCII and
	// not '"', '\r', '\n' or 0.
	Comma byte
	// LazyQuotes is as in encoding/csv: a quote may appear in an unquoted
	// field and a non-doubled quote may appear in a quoted field.
	LazyQuotes bool

	rd  io.Reader
	buf []byte
	// keep is the start of the data a refill must preserve: the first byte
	// of the record being parsed. Everything before it has been returned.
	keep int
	// pos is where the next line starts; end is the end of buffered data.
	pos, end int
	// err is a read error not yet reported. Like bufio.Reader (which
	// encoding/csv uses) it is reported only once the buffered complete
	// lines are consumed, which keeps error timing identical.
	err error

	numLine int
	offset  int64

	// side holds the fields that could not be returned as views of buf.
	side []byte
	// fields are the field boundaries of the current record, kept as
	// offsets until the record is complete because a refill may move buf.
	fields    []fieldRef
	positions []position
	record    []string

	// State of the quoted field being assembled, as offsets relative to
	// keep (so they survive a refill), or into side once inSide.
	fs, fe    int
	inSide    bool
	sideStart int
}

// fieldRef locates one field: buf[keep+start:keep+end], or side[start:end].
type fieldRef struct {
	start, end int
	side       bool
}

type position struct {
	line, col int
}

// NewReader returns a Reader with a DefaultBufferSize buffer and Comma ','.
func NewReader(r io.Reader) *Reader {
	return NewReaderSize(r, DefaultBufferSize)
}

// NewReaderSize returns a Reader whose initial buffer holds size bytes
// (DefaultBufferSize if size < 1). The buffer grows if a record is longer.
func NewReaderSize(r io.Reader, size int) *Reader {
	if size < 1 {
		size = DefaultBufferSize
	}
	return &Reader{
		Comma: ',',
		rd:    r,
		buf:   make([]byte, size),
	}
}

func validComma(c byte) bool {
	return c != 0 && c != '"' && c != '\r' && c != '\n' && c < 0x80
}

// FieldPos returns the line and column of the start of the field with the
// given index in the record most recently returned by Read, as encoding/csv
// does. It panics if the index is out of range.
func (r *Reader) FieldPos(field int) (line, column int) {
	if field < 0 || field >= len(r.positions) {
		panic("out of range index passed to FieldPos")
	}
	p := &r.positions[field]
	return p.line, p.col
}

// InputOffset returns the input stream byte offset of the end of the most
// recently read record, as encoding/csv does.
func (r *Reader) InputOffset() int64 {
	return r.offset
}

// fill reads more data into buf, moving the unconsumed tail from keep to the
// front when little room is left, and growing buf when one record fills it.
func (r *Reader) fill() {
	if r.keep > 0 && 2*(len(r.buf)-r.end) < len(r.buf) {
		n := copy(r.buf, r.buf[r.keep:r.end])
		r.pos -= r.keep
		r.end = n
		r.keep = 0
	}
	if r.end == len(r.buf) {
		nb := make([]byte, 2*len(r.buf))
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for i := maxConsecutiveEmptyReads; i > 0; i-- {
		n, err := r.rd.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			panic(errInvalidRead)
		}
		r.end += n
		if err != nil {
			r.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = io.ErrNoProgress
}

// readLine consumes the next line and returns its bounds in buf, mirroring
// encoding/csv's readLine on top of bufio.Reader.ReadSlice: the line keeps
// its '\n', a final "\r\n" is normalised to "\n" (in place, like
// encoding/csv), a '\r' just before EOF is dropped, and io.EOF is reported
// only for an empty read.
func (r *Reader) readLine() (ls, le int, err error) {
	s := r.pos
	for {
		if i := bytes.IndexByte(r.buf[s:r.end], '\n'); i >= 0 {
			le = s + i + 1
			break
		}
		if r.err != nil {
			le = r.end
			err = r.err
			r.err = nil
			break
		}
		scanned := r.end - r.pos
		r.fill()
		s = r.pos + scanned
	}
	ls = r.pos
	r.pos = le
	readSize := le - ls
	if readSize > 0 && err == io.EOF {
		err = nil
		if r.buf[le-1] == '\r' {
			le--
		}
	}
	r.numLine++
	r.offset += int64(readSize)
	if le-ls >= 2 && r.buf[le-2] == '\r' && r.buf[le-1] == '\n' {
		r.buf[le-2] = '\n'
		le--
	}
	return ls, le, err
}

// appendSeg adds buf[a:b] to the quoted field being assembled. The field
// stays a view of buf while its pieces are adjacent there; the first gap
// (an escaped quote, or a "\r\n" turned into "\n") moves it to side.
func (r *Reader) appendSeg(a, b int) {
	if a == b {
		return
	}
	if r.inSide {
		r.side = append(r.side, r.buf[a:b]...)
		return
	}
	ra, rb := a-r.keep, b-r.keep
	if r.fs == r.fe {
		r.fs, r.fe = ra, rb
		return
	}
	if r.fe == ra {
		r.fe = rb
		return
	}
	r.sideStart = len(r.side)
	r.side = append(r.side, r.buf[r.keep+r.fs:r.keep+r.fe]...)
	r.side = append(r.side, r.buf[a:b]...)
	r.inSide = true
}

func (r *Reader) endQuoted(p position) {
	if r.inSide {
		r.fields = append(r.fields, fieldRef{start: r.sideStart, end: len(r.side), side: true})
	} else {
		r.fields = append(r.fields, fieldRef{start: r.fs, end: r.fe})
	}
	r.positions = append(r.positions, p)
}

// Read reads one record. It returns io.EOF when the input is exhausted, and
// for malformed input a *csv.ParseError together with the fields read before
// it, exactly as encoding/csv. The returned strings and slice are valid only
// until the next call to Read.
//
// The structure deliberately follows encoding/csv's readRecord statement by
// statement, with byte offsets instead of slices, so that positions, errors
// and resynchronisation after an error stay identical.
func (r *Reader) Read() ([]string, error) {
	comma := r.Comma
	if !validComma(comma) {
		r.record = nil
		return nil, fmt.Errorf("%w %q: must be ASCII and not '\"', '\\r', '\\n' or 0", ErrInvalidComma, comma)
	}

	// Read the first line, skipping blank lines.
	var ls, le int
	var errRead error
	for errRead == nil {
		r.keep = r.pos
		ls, le, errRead = r.readLine()
		if errRead == nil && (le == ls || (le-ls == 1 && r.buf[ls] == '\n')) {
			continue
		}
		break
	}
	if errRead == io.EOF {
		r.record = nil
		return nil, errRead
	}

	recLine := r.numLine
	r.side = r.side[:0]
	r.fields = r.fields[:0]
	r.positions = r.positions[:0]
	pos := position{line: r.numLine, col: 1}
	buf := r.buf
	cur := ls
	// quoteAt caches the first '"' at or after cur in the line (le if none),
	// so the bare-quote check scans each line once, not once per field.
	quoteAt := -1
	var err error

parseField:
	for {
		if cur == le || buf[cur] != '"' {
			// Unquoted field: always a view of buf.
			i := bytes.IndexByte(buf[cur:le], comma)
			fend := cur + i
			if i < 0 {
				fend = le
				if le > cur && buf[le-1] == '\n' {
					fend--
				}
			}
			if !r.LazyQuotes {
				if quoteAt < cur {
					quoteAt = le
					if j := bytes.IndexByte(buf[cur:le], '"'); j >= 0 {
						quoteAt = cur + j
					}
				}
				if quoteAt < fend {
					err = &csv.ParseError{StartLine: recLine, Line: r.numLine, Column: pos.col + quoteAt - cur, Err: csv.ErrBareQuote}
					break parseField
				}
			}
			r.fields = append(r.fields, fieldRef{start: cur - r.keep, end: fend - r.keep})
			r.positions = append(r.positions, pos)
			if i >= 0 {
				pos.col += i + 1
				cur = fend + 1
				continue parseField
			}
			break parseField
		}

		// Quoted field.
		fieldPos := pos
		cur++
		pos.col++
		r.fs, r.fe, r.inSide = 0, 0, false
		for {
			if i := bytes.IndexByte(buf[cur:le], '"'); i >= 0 {
				q := cur + i
				r.appendSeg(cur, q)
				cur = q + 1
				pos.col += i + 1
				switch {
				case cur < le && buf[cur] == '"':
					// `""`: keep the first quote, skip the second.
					r.appendSeg(q, q+1)
					cur++
					pos.col++
				case cur < le && buf[cur] == comma:
					cur++
					pos.col++
					r.endQuoted(fieldPos)
					continue parseField
				case cur == le || buf[cur] == '\n':
					// The only '\n' in a line is its last byte.
					r.endQuoted(fieldPos)
					break parseField
				case r.LazyQuotes:
					r.appendSeg(q, q+1)
				default:
					err = &csv.ParseError{StartLine: recLine, Line: r.numLine, Column: pos.col - 1, Err: csv.ErrQuote}
					break parseField
				}
			} else if cur < le {
				// The field continues on the next line.
				r.appendSeg(cur, le)
				if errRead != nil {
					break parseField
				}
				pos.col += le - cur
				ls, le, errRead = r.readLine()
				buf = r.buf
				cur = ls
				quoteAt = -1
				if le > ls {
					pos.line++
					pos.col = 1
				}
				if errRead == io.EOF {
					errRead = nil
				}
			} else {
				// Abrupt end of file (EOF or error).
				if !r.LazyQuotes && errRead == nil {
					err = &csv.ParseError{StartLine: recLine, Line: pos.line, Column: pos.col, Err: csv.ErrQuote}
					break parseField
				}
				r.endQuoted(fieldPos)
				break parseField
			}
		}
	}
	if err == nil {
		err = errRead
	}

	// Only now, with the record complete and buf no longer moving, turn the
	// offsets into strings.
	dst := r.record[:0]
	if cap(dst) < len(r.fields) {
		dst = make([]string, len(r.fields))
	}
	dst = dst[:len(r.fields)]
	for i, f := range r.fields {
		n := f.end - f.start
		switch {
		case n == 0:
			dst[i] = ""
		case f.side:
			dst[i] = unsafe.String(&r.side[f.start], n)
		default:
			dst[i] = unsafe.String(&buf[r.keep+f.start], n)
		}
	}
	r.record = dst
	return dst, err
}
