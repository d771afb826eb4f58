package csvread

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// bufSizes are the buffer sizes every differential input runs with: the tiny
// ones force a refill, compaction or growth in every possible spot of a record.
var bufSizes = []int{1, 2, 3, 7, 16, 64, 0}

// errInjected is what injectReader returns once, at a fixed input offset.
var errInjected = errors.New("injected read error")

// injectReader serves data, returns errInjected once when the read position
// reaches at (together with the preceding bytes if together is set), then
// serves the rest. Because the error sits at a fixed byte offset whatever the
// caller's buffer size, bufio (used by encoding/csv) and Reader see the same
// stream.
type injectReader struct {
	data     []byte
	off      int
	at       int // < 0: never
	together bool
	fired    bool
	maxChunk int // > 0: return at most this many bytes per Read
}

func (r *injectReader) Read(p []byte) (int, error) {
	limit := len(r.data)
	if !r.fired && r.at >= 0 && r.at < limit {
		limit = r.at
	}
	if !r.fired && r.at >= 0 && r.off == limit && r.at <= len(r.data) {
		r.fired = true
		return 0, errInjected
	}
	if r.off == len(r.data) {
		return 0, io.EOF
	}
	n := copy(p, r.data[r.off:limit])
	if r.maxChunk > 0 && n > r.maxChunk {
		n = r.maxChunk
	}
	r.off += n
	if r.together && !r.fired && r.at >= 0 && r.off == r.at {
		r.fired = true
		return n, errInjected
	}
	return n, nil
}

// step is everything observable after one Read.
type step struct {
	rec    []string
	isNil  bool
	err    error
	pos    [][2]int
	offset int64
}

func (s step) String() string {
	return fmt.Sprintf("rec=%q nil=%v err=%s pos=%v offset=%d", s.rec, s.isNil, fmtErr(s.err), s.pos, s.offset)
}

func fmtErr(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("ParseError{StartLine:%d Line:%d Column:%d Err:%q}", pe.StartLine, pe.Line, pe.Column, pe.Err)
	}
	if err == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", err)
}

func sameErr(a, b error) bool {
	var pa, pb *csv.ParseError
	if errors.As(a, &pa) || errors.As(b, &pb) {
		return errors.As(a, &pa) && errors.As(b, &pb) &&
			pa.StartLine == pb.StartLine && pa.Line == pb.Line && pa.Column == pb.Column && pa.Err == pb.Err
	}
	return a == b
}

func sameStep(a, b step) bool {
	return reflect.DeepEqual(a.rec, b.rec) && a.isNil == b.isNil && sameErr(a.err, b.err) &&
		reflect.DeepEqual(a.pos, b.pos) && a.offset == b.offset
}

// record copies what a reader exposes right after Read, before the next Read
// invalidates the strings.
func record(rec []string, err error, fieldPos func(int) (int, int), offset int64) step {
	s := step{isNil: rec == nil, err: err, offset: offset}
	for i, f := range rec {
		s.rec = append(s.rec, strings.Clone(f))
		l, c := fieldPos(i)
		s.pos = append(s.pos, [2]int{l, c})
	}
	return s
}

type diffConfig struct {
	comma    byte
	lazy     bool
	size     int // 0: NewReader
	errAt    int // < 0: no injected error
	together bool
	maxChunk int
}

func (c diffConfig) String() string {
	return fmt.Sprintf("comma=%q lazy=%v size=%d errAt=%d together=%v maxChunk=%d", c.comma, c.lazy, c.size, c.errAt, c.together, c.maxChunk)
}

// diff reads input with encoding/csv and with Reader and fails on the first
// observable difference. Both readers are read past EOF once more, since
// encoding/csv keeps reading the underlying reader after EOF.
func diff(t *testing.T, input []byte, c diffConfig) {
	t.Helper()
	want := csv.NewReader(&injectReader{data: input, at: c.errAt, together: c.together, maxChunk: c.maxChunk})
	want.Comma = rune(c.comma)
	want.FieldsPerRecord = -1
	want.ReuseRecord = true
	want.LazyQuotes = c.lazy

	src := &injectReader{data: input, at: c.errAt, together: c.together, maxChunk: c.maxChunk}
	var got *Reader
	if c.size == 0 {
		got = NewReader(src)
	} else {
		got = NewReaderSize(src, c.size)
	}
	got.Comma = c.comma
	got.LazyQuotes = c.lazy

	eofs := 0
	for i := 0; eofs < 2; i++ {
		if i > len(input)+10 {
			t.Fatalf("%v: input %q: no EOF after %d reads", c, input, i)
		}
		wr, we := want.Read()
		ws := record(wr, we, want.FieldPos, want.InputOffset())
		gr, ge := got.Read()
		gs := record(gr, ge, got.FieldPos, got.InputOffset())
		if !sameStep(ws, gs) {
			t.Fatalf("%v: input %q: read %d:\n got  %v\n want %v", c, input, i, gs, ws)
		}
		if we == io.EOF {
			eofs++
		}
	}
}

// diffAll runs diff over every buffer size and a few ways of delivering the
// same bytes.
func diffAll(t *testing.T, input []byte, comma byte, lazy bool) {
	t.Helper()
	for _, size := range bufSizes {
		diff(t, input, diffConfig{comma: comma, lazy: lazy, size: size, errAt: -1})
	}
	diff(t, input, diffConfig{comma: comma, lazy: lazy, size: 5, errAt: -1, maxChunk: 1})
	// A read error at a few offsets, alone or together with data.
	for _, at := range []int{0, len(input) / 2, len(input)} {
		diff(t, input, diffConfig{comma: comma, lazy: lazy, size: 3, errAt: at})
		diff(t, input, diffConfig{comma: comma, lazy: lazy, size: 0, errAt: at, together: true})
	}
}

// trickyInputs are written with ','; the tests also run them with the comma
// replaced by '\t' and ';'.
var trickyInputs = []string{
	"",
	"\n",
	"\r\n",
	"\r",
	"a",
	"a,b,c\n",
	"a,b,c",
	"a,b\r\nc,d\r\n",
	"a,b\r",
	"a,b\r\r",
	"a\rb,c\n",
	"a\r\r\n",
	"\n\na\n\n\nb\n",
	"\r\n\r\na,b\r\n\r\n",
	" \n",
	"a,\n",
	",\n",
	",",
	",,,\n,,\n",
	"\"a,b\",c\n",
	"\"a\"\"b\",c\n",
	"\"\"\"\"\n",
	"\"\",\"\"\n",
	"\"\"",
	"\"a\nb\",c\nd,e",
	"\"a\r\nb\"\r\n",
	"\"a\r\n\r\nb\",\"c\nd\"\r\n",
	"\"a\"\"\nb\",c\n",
	"\"a\n\n\nb\"\n",
	"a\"b,c\n",
	"a,b\"\nc,d\n",
	"\"a\"b,c\n",
	"\"a\" ,b\n",
	"\"abc",
	"\"abc\n",
	"\"abc\ndef",
	"\"abc\r\ndef\r\n",
	"a,\"b",
	"a,\"b\n",
	"a\"b\nc,d\n\"e\"f\ng,h\n",
	"\"a\"b\"c\",d\n",
	"\"a\"\"",
	"\"a\"\r",
	"\"a\"\r\n",
	"x,\"a\"\rb\n",
	"\ufeffa,b\n",
	"a,b,c\nd\ne,f,g,h,i\n",
	"\xff,\xfe\x80\n\"\xc0\xc1\",x\n",
	"a\x00b,c\n",
	"\"a\tb\",c\td\n",
	"a,\"b\nc\"\"d\ne\"\"\",f\n\n\ng\n",
	strings.Repeat("x", 300) + "," + strings.Repeat("y", 300) + "\n\"" + strings.Repeat("z\"\"", 100) + "\"\n",
	"\"" + strings.Repeat("long line\r\n", 40) + "\",end\r\n",
	"a;b,c\td\n",
	"\"a\";\"b\"\t\"c\"\n",
}

func withComma(s string, comma byte) []byte {
	if comma == ',' {
		return []byte(s)
	}
	b := []byte(s)
	for i := range b {
		switch b[i] {
		case ',':
			b[i] = comma
		case comma:
			b[i] = ','
		}
	}
	return b
}

func TestDifferential(t *testing.T) {
	for _, comma := range []byte{',', '\t', ';'} {
		for _, lazy := range []bool{false, true} {
			for _, in := range trickyInputs {
				diffAll(t, withComma(in, comma), comma, lazy)
			}
		}
	}
}

func TestDifferentialProductRows(t *testing.T) {
	data := productCSV(300)
	for _, lazy := range []bool{false, true} {
		for _, size := range []int{1, 7, 64, 700, 4096, 0} {
			diff(t, data, diffConfig{comma: ',', lazy: lazy, size: size, errAt: -1})
		}
	}
}

// stallReader serves data and then returns (0, nil) forever, which bufio
// (and so encoding/csv) turns into io.ErrNoProgress.
type stallReader struct{ data []byte }

func (s *stallReader) Read(p []byte) (int, error) {
	n := copy(p, s.data)
	s.data = s.data[n:]
	return n, nil
}

func TestNoProgressLikeEncodingCSV(t *testing.T) {
	const in = "a,b\nc,\"d"
	want := csv.NewReader(&stallReader{data: []byte(in)})
	want.FieldsPerRecord = -1
	want.ReuseRecord = true
	got := NewReaderSize(&stallReader{data: []byte(in)}, 2)
	for i := range 4 {
		wr, we := want.Read()
		ws := record(wr, we, want.FieldPos, want.InputOffset())
		gr, ge := got.Read()
		gs := record(gr, ge, got.FieldPos, got.InputOffset())
		if !sameStep(ws, gs) {
			t.Fatalf("read %d:\n got  %v\n want %v", i, gs, ws)
		}
		if i > 0 && we != io.ErrNoProgress {
			t.Fatalf("read %d: encoding/csv returned %v, test expects io.ErrNoProgress", i, we)
		}
	}
}
