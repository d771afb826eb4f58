package csvread

import (
	"encoding/csv"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// out is one expected Read result: a record, or a parse error
// (StartLine, Line, Column, Err) with the partial record.
type out struct {
	rec  []string
	perr *csv.ParseError
}

func rec(fields ...string) out { return out{rec: fields} }

func perr(startLine, line, col int, err error, partial ...string) out {
	return out{rec: partial, perr: &csv.ParseError{StartLine: startLine, Line: line, Column: col, Err: err}}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		comma byte
		lazy  bool
		want  []out
	}{
		{name: "simple", in: "a,b,c\nd,e,f\n", want: []out{rec("a", "b", "c"), rec("d", "e", "f")}},
		{name: "no final newline", in: "a,b\nc,d", want: []out{rec("a", "b"), rec("c", "d")}},
		{name: "crlf", in: "a,b\r\nc,d\r\n", want: []out{rec("a", "b"), rec("c", "d")}},
		{name: "trailing cr at EOF dropped", in: "a,b\r", want: []out{rec("a", "b")}},
		{name: "lone cr kept", in: "a\rb,c\r\r\n", want: []out{rec("a\rb", "c\r")}},
		{name: "blank lines skipped", in: "\n\r\na\n\n\r\n\nb\n\n", want: []out{rec("a"), rec("b")}},
		{name: "whitespace line is a record", in: " \n", want: []out{rec(" ")}},
		{name: "empty fields", in: ",\na,\n,,", want: []out{rec("", ""), rec("a", ""), rec("", "", "")}},
		{name: "quoted comma", in: `"a,b",c` + "\n", want: []out{rec("a,b", "c")}},
		{name: "escaped quotes", in: `"a""b","""",""` + "\n", want: []out{rec(`a"b`, `"`, "")}},
		{name: "multi-line quoted", in: "\"a\nb\",c\nd,e", want: []out{rec("a\nb", "c"), rec("d", "e")}},
		{name: "multi-line quoted crlf", in: "\"a\r\n\r\nb\",c\r\n", want: []out{rec("a\n\nb", "c")}},
		{name: "varying field counts", in: "a\nb,c,d\ne,f\n", want: []out{rec("a"), rec("b", "c", "d"), rec("e", "f")}},
		{name: "bom kept", in: "\ufeffid,x\n", want: []out{rec("\ufeffid", "x")}},
		{name: "non-utf8 passed through", in: "\xff,\"\xfe\x80\"\n", want: []out{rec("\xff", "\xfe\x80")}},
		{name: "tab comma", in: "a\tb,c\t\"d\te\"\n", comma: '\t', want: []out{rec("a", "b,c", "d\te")}},
		{name: "bare quote", in: "a,b\"c,d\ne,f\n", want: []out{perr(1, 1, 4, csv.ErrBareQuote, "a"), rec("e", "f")}},
		{name: "bare quote lazy", in: "a,b\"c,d\n", lazy: true, want: []out{rec("a", "b\"c", "d")}},
		{name: "bare quote tab", in: "a\tb\"c\n", comma: '\t', want: []out{perr(1, 1, 4, csv.ErrBareQuote, "a")}},
		{name: "extraneous quote", in: "\"a\"b,c\nd\n", want: []out{perr(1, 1, 3, csv.ErrQuote), rec("d")}},
		{name: "extraneous quote lazy", in: "\"a\"b,c\n", lazy: true, want: []out{rec("a\"b,c\n")}},
		{name: "lazy quote inside", in: "\"a\"b\",c\n", lazy: true, want: []out{rec("a\"b", "c")}},
		{name: "unterminated quote", in: "x,\"abc", want: []out{perr(1, 1, 7, csv.ErrQuote, "x")}},
		{name: "unterminated multi-line", in: "x\n\"abc\ndef", want: []out{rec("x"), perr(2, 3, 4, csv.ErrQuote)}},
		{name: "unterminated lazy", in: "\"abc\ndef", lazy: true, want: []out{rec("abc\ndef")}},
		{name: "error on later line of record", in: "\"a\nb\"x,c\nd\n", want: []out{perr(1, 2, 2, csv.ErrQuote), rec("d")}},
	}
	for _, tt := range tests {
		for _, size := range bufSizes {
			comma := tt.comma
			if comma == 0 {
				comma = ','
			}
			r := NewReaderSize(strings.NewReader(tt.in), size)
			r.Comma = comma
			r.LazyQuotes = tt.lazy
			for i, w := range tt.want {
				got, err := r.Read()
				if w.perr != nil {
					var pe *csv.ParseError
					if !errors.As(err, &pe) || *pe != *w.perr {
						t.Fatalf("%s (size %d): read %d: err %v, want %v", tt.name, size, i, err, w.perr)
					}
				} else if err != nil {
					t.Fatalf("%s (size %d): read %d: %v", tt.name, size, i, err)
				}
				if len(got) != len(w.rec) || (len(got) > 0 && !reflect.DeepEqual(got, w.rec)) {
					t.Fatalf("%s (size %d): read %d: %q, want %q", tt.name, size, i, got, w.rec)
				}
			}
			if got, err := r.Read(); err != io.EOF {
				t.Fatalf("%s (size %d): extra read: %q, %v; want EOF", tt.name, size, got, err)
			}
		}
		// Expectations are checked against encoding/csv too, so a wrong
		// expectation cannot hide a divergence.
		diffAll(t, []byte(tt.in), map[bool]byte{true: tt.comma, false: ','}[tt.comma != 0], tt.lazy)
	}
}

func TestFieldPosAndOffset(t *testing.T) {
	in := "a,\"b\nc\",d\r\n\n\"e\"\"\",f"
	r := NewReaderSize(strings.NewReader(in), 2)
	type pos struct{ line, col int }
	wantPos := [][]pos{{{1, 1}, {1, 3}, {2, 4}}, {{4, 1}, {4, 7}}}
	wantOff := []int64{11, int64(len(in))}
	for i := range wantPos {
		rec, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		for f := range rec {
			l, c := r.FieldPos(f)
			if (pos{l, c}) != wantPos[i][f] {
				t.Errorf("record %d field %d at %d:%d, want %v", i, f, l, c, wantPos[i][f])
			}
		}
		if off := r.InputOffset(); off != wantOff[i] {
			t.Errorf("record %d: InputOffset %d, want %d", i, off, wantOff[i])
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("FieldPos out of range did not panic")
		}
	}()
	r.FieldPos(2)
}

func TestInvalidComma(t *testing.T) {
	for _, c := range []byte{0, '"', '\r', '\n', 0x80, 0xff} {
		r := NewReader(strings.NewReader("a,b\n"))
		r.Comma = c
		if rec, err := r.Read(); !errors.Is(err, ErrInvalidComma) || rec != nil {
			t.Errorf("Comma %q: %q, %v; want ErrInvalidComma", c, rec, err)
		}
		// The stream is untouched, as with encoding/csv.
		r.Comma = ','
		if rec, err := r.Read(); err != nil || len(rec) != 2 {
			t.Errorf("after fixing Comma: %q, %v", rec, err)
		}
	}
}

func TestReadError(t *testing.T) {
	src := &injectReader{data: []byte("a,b\nc,\"d\ne\n"), at: 8}
	r := NewReaderSize(src, 3)
	if rec, err := r.Read(); err != nil || !reflect.DeepEqual(rec, []string{"a", "b"}) {
		t.Fatalf("first record: %q, %v", rec, err)
	}
	// The error arrives inside a quoted field: encoding/csv returns the
	// fields before it together with the error.
	if rec, err := r.Read(); err != errInjected || !reflect.DeepEqual(rec, []string{"c"}) {
		t.Fatalf("second record: %q, %v; want [c], errInjected", rec, err)
	}
	if rec, err := r.Read(); err != nil || !reflect.DeepEqual(rec, []string{"e"}) {
		t.Fatalf("after the error: %q, %v", rec, err)
	}
}

func TestLongLinesGrowBuffer(t *testing.T) {
	long := strings.Repeat("x", 10000)
	in := long + ",\"" + long + "\"\"" + long + "\"\n" + long + "\n"
	r := NewReaderSize(strings.NewReader(in), 16)
	rec, err := r.Read()
	if err != nil || len(rec) != 2 || rec[0] != long || rec[1] != long+`"`+long {
		t.Fatalf("first record wrong: %d fields, %v", len(rec), err)
	}
	rec, err = r.Read()
	if err != nil || len(rec) != 1 || rec[0] != long {
		t.Fatalf("second record wrong: %d fields, %v", len(rec), err)
	}
}

// cycleReader repeats data forever, so the allocation test can read as many
// records as it likes without hitting EOF.
type cycleReader struct {
	data []byte
	off  int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	n := copy(p, c.data[c.off:])
	c.off = (c.off + n) % len(c.data)
	return n, nil
}

func TestZeroAllocs(t *testing.T) {
	rows := strings.Join([]string{
		`SKU-1,"Plain title",12.99 USD,"US:ALL:Standard:3-5:5.00 USD,US:ALL:Express:1-2:15.00 USD",in_stock`,
		`SKU-2,"Laptop Sleeve 15"", ""Pro""",49.00 USD,"US:ALL:Standard:3-5:5.00 USD",out_of_stock`,
		`SKU-3,plain,1.00 USD,,preorder`,
		"SKU-4,\"two\r\nlines\",2.00 USD,x,in_stock",
	}, "\r\n") + "\r\n"
	for _, size := range []int{512, 0} {
		r := NewReaderSize(&cycleReader{data: []byte(rows)}, size)
		// Warm up: side buffer, slices and (for 512) the buffer reach
		// their steady-state sizes.
		for range 100 {
			if _, err := r.Read(); err != nil {
				t.Fatal(err)
			}
		}
		var sink int
		allocs := testing.AllocsPerRun(5000, func() {
			rec, err := r.Read()
			if err != nil || len(rec) != 5 {
				t.Fatalf("%q, %v", rec, err)
			}
			sink += len(rec[1])
		})
		if allocs != 0 {
			t.Errorf("size %d: %v allocs per record, want 0", size, allocs)
		}
		_ = sink
	}
}

func TestViewsAreNotCopies(t *testing.T) {
	// Fields that need no unescaping must point into the read buffer; this
	// is the property the package exists for.
	r := NewReaderSize(strings.NewReader(`plain,"quoted, with comma","esc""aped","two`+"\n"+`lines","cr`+"\r\n"+`lf"`+"\n"), 8)
	rec, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	inBuf := func(s string) bool {
		p, b := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.SliceData(r.buf)))
		return len(s) > 0 && p >= b && p < b+uintptr(len(r.buf))
	}
	// A quoted field over several "\n"-terminated lines is still contiguous.
	for _, i := range []int{0, 1, 3} {
		if !inBuf(rec[i]) {
			t.Errorf("field %d %q is not a view of the read buffer", i, rec[i])
		}
	}
	// "" and "\r\n" inside quotes change the bytes, so those are copies.
	if inBuf(rec[2]) || rec[2] != `esc"aped` {
		t.Errorf("escaped field %q should live in the side buffer", rec[2])
	}
	if inBuf(rec[4]) || rec[4] != "cr\nlf" {
		t.Errorf("crlf field %q should live in the side buffer", rec[4])
	}
}
