package connectorv1

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
	"unsafe"
)

// AppendPacked appends one record to a RecordBatch.packed buffer.
func AppendPacked(buf []byte, origin string, values []string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(origin)))
	buf = append(buf, origin...)
	for _, v := range values {
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		buf = append(buf, v...)
	}
	return buf
}

// RepeatPacker appends records to a RecordBatch.packed buffer in the
// encoding of RecordBatch.packed_repeats: a value equal to the previous
// record's in the same column is sent as the one-byte marker 1, any other as
// uvarint(2*len) and its bytes. Start each batch's buffer with Reset; every
// record of a batch must have the same number of values.
type RepeatPacker struct {
	prev []span // the previous record's value of each column, in buf
	n    int    // records appended since Reset
}

type span struct{ off, n int }

// Reset starts a new batch: its first record has no previous one.
func (p *RepeatPacker) Reset() { p.n = 0 }

// Append appends one record to buf, which must be the buffer the batch's
// earlier records were appended to (grown or not).
func (p *RepeatPacker) Append(buf []byte, origin string, values []string) []byte {
	buf = binary.AppendUvarint(buf, uint64(2*len(origin)))
	buf = append(buf, origin...)
	if p.n == 0 || len(p.prev) != len(values) {
		p.prev = slices.Grow(p.prev[:0], len(values))[:len(values)]
		p.n = 0
	}
	for c, v := range values {
		if p.n > 0 {
			// Length and last byte first: values that differ from row to
			// row (ids, links) mostly differ there.
			if s := p.prev[c]; s.n == len(v) && s.n > 0 && buf[s.off+s.n-1] == v[s.n-1] &&
				unsafe.String(&buf[s.off], s.n) == v {
				buf = append(buf, 1)
				continue
			}
		}
		buf = binary.AppendUvarint(buf, uint64(2*len(v)))
		p.prev[c] = span{len(buf), len(v)}
		buf = append(buf, v...)
	}
	p.n++
	return buf
}

// Row is one decoded record. Its strings share memory with the batch.
type Row struct {
	Origin string
	Values []string
}

// RowError is a record the decoder refused (invalid UTF-8).
type RowError struct {
	Origin  string
	Column  string
	Message string
}

// ErrMalformedBatch means a packed buffer did not decode.
var ErrMalformedBatch = errors.New("malformed packed record batch")

// BatchDecoder turns record batches into rows without allocating per value.
// The rows it returns are valid until the next Decode.
type BatchDecoder struct {
	rows []Row
	vals []string
	bad  []bool // packed_repeats: whether each column's last value was invalid UTF-8
}

// Decode returns the batch's records, packed or not. Records with invalid
// UTF-8 (a broken export, say) come back as RowErrors rather than reaching a
// feed Stripe would reject as a whole.
func (d *BatchDecoder) Decode(b *RecordBatch) ([]Row, []RowError, error) {
	d.rows = d.rows[:0]
	cols := b.GetColumns()
	if len(b.GetPacked()) == 0 {
		var bad []RowError
		for _, r := range b.GetRecords() {
			d.rows = append(d.rows, Row{Origin: r.GetOrigin(), Values: r.GetValues()})
		}
		return d.rows, bad, nil
	}
	packed := b.GetPacked()
	n := int(b.GetPackedCount())
	// Every origin and value takes at least a byte: a count the buffer
	// cannot hold is malformed, and must not size the allocation below.
	if n < 0 || n > len(packed)/(len(cols)+1) {
		return nil, nil, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrMalformedBatch, n, len(packed))
	}
	// The buffer belongs to the decoded message and is never written again,
	// so strings can point into it instead of copying each value.
	all := unsafe.String(unsafe.SliceData(packed), len(packed))
	need := n * len(cols)
	if cap(d.vals) < need {
		d.vals = make([]string, need)
	}
	vals := d.vals[:need]
	var bad []RowError
	pos := 0
	// UTF-8: only a value holding a byte >= 0x80 can be invalid. hi is the
	// next such byte in the buffer, found by scanning eight bytes at a time;
	// high bytes in length prefixes (any value of 128 bytes or more) and
	// origins are stepped over. Catalog data is mostly ASCII, so this is
	// one fast pass over the batch instead of a utf8.ValidString call per
	// value (which was ~60% of Decode) or per batch (which fails at the
	// first long value's length prefix).
	hi := nextHigh(packed, 0)
	repeats := b.GetPackedRepeats()
	if repeats {
		d.bad = slices.Grow(d.bad[:0], len(cols))[:len(cols)]
	}
	// next returns the next value. Under packed_repeats the marker stands
	// for *prev, the previous record's value in the same place; repeat says
	// so, and prev=nil (the first record) makes it malformed. A pointer, so
	// that literal values cost no load of the previous one.
	next := func(prev *string) (s string, repeat bool, err error) {
		l, k := binary.Uvarint(packed[pos:])
		if k <= 0 {
			return "", false, fmt.Errorf("%w at byte %d", ErrMalformedBatch, pos)
		}
		if repeats {
			if l&1 != 0 {
				switch {
				case l != 1:
					return "", false, fmt.Errorf("%w at byte %d", ErrMalformedBatch, pos)
				case prev == nil:
					return "", false, fmt.Errorf("%w: the first record repeats a value", ErrMalformedBatch)
				}
				pos += k
				return *prev, true, nil
			}
			l /= 2
		}
		if uint64(len(packed)-pos-k) < l {
			return "", false, fmt.Errorf("%w at byte %d", ErrMalformedBatch, pos)
		}
		pos += k
		s = all[pos : pos+int(l)]
		pos += int(l)
		return s, false, nil
	}
	var origin string
	var prevRow []string // nil for the first record
	for i := 0; i < n; i++ {
		var prevOrigin *string
		if i > 0 {
			prevOrigin = &origin // still the previous record's
		}
		var err error
		if origin, _, err = next(prevOrigin); err != nil {
			return nil, nil, err
		}
		row := vals[i*len(cols) : (i+1)*len(cols)]
		badCol := -1
		for c := range row {
			var prev *string
			if prevRow != nil {
				prev = &prevRow[c]
			}
			var rep bool
			if row[c], rep, err = next(prev); err != nil {
				return nil, nil, err
			}
			if rep {
				if badCol < 0 && d.bad[c] {
					badCol = c
				}
				continue
			}
			if repeats {
				d.bad[c] = false
			}
			if hi >= pos {
				continue // no high byte up to the end of this value
			}
			if start := pos - len(row[c]); hi < start {
				// The high byte was in a length prefix or the origin.
				hi = nextHigh(packed, start)
			}
			if hi < pos {
				if !utf8.ValidString(row[c]) {
					if badCol < 0 {
						badCol = c
					}
					if repeats {
						d.bad[c] = true
					}
				}
				hi = nextHigh(packed, pos)
			}
		}
		prevRow = row
		if badCol >= 0 {
			bad = append(bad, RowError{Origin: origin, Column: cols[badCol], Message: "value is not valid UTF-8"})
			continue
		}
		d.rows = append(d.rows, Row{Origin: origin, Values: row})
	}
	if pos != len(packed) {
		return nil, nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformedBatch, len(packed)-pos)
	}
	return d.rows, bad, nil
}

// nextHigh returns the index of the first byte >= 0x80 in b[from:], or
// len(b).
func nextHigh(b []byte, from int) int {
	const hiBits = 0x8080808080808080
	i := from
	for ; i+32 <= len(b); i += 32 {
		w := binary.LittleEndian.Uint64(b[i:]) | binary.LittleEndian.Uint64(b[i+8:]) |
			binary.LittleEndian.Uint64(b[i+16:]) | binary.LittleEndian.Uint64(b[i+24:])
		if w&hiBits != 0 {
			break
		}
	}
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&hiBits != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if b[i] >= 0x80 {
			return i
		}
	}
	return i
}
