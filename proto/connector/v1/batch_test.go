package connectorv1

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestPackedRoundTrip(t *testing.T) {
	cols := []string{"id", "title", "price"}
	var buf []byte
	buf = AppendPacked(buf, "p.csv:2", []string{"A", "Mug, \"blue\"\nline", "1.00 USD"})
	buf = AppendPacked(buf, "p.csv:4", []string{"B", "", "2.00 USD"})
	buf = AppendPacked(buf, "p.csv:5", []string{"C", "bad \xff byte", "3.00 USD"})
	var d BatchDecoder
	rows, bad, err := d.Decode(&RecordBatch{Columns: cols, Packed: buf, PackedCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Values[1] != "Mug, \"blue\"\nline" || rows[1].Origin != "p.csv:4" || rows[1].Values[1] != "" || rows[1].Values[2] != "2.00 USD" {
		t.Errorf("rows = %+v", rows)
	}
	if len(bad) != 1 || bad[0].Origin != "p.csv:5" || bad[0].Column != "title" {
		t.Errorf("invalid UTF-8 must be reported with origin and column: %+v", bad)
	}
	if _, _, err := d.Decode(&RecordBatch{Columns: cols, Packed: buf[:len(buf)-3], PackedCount: 3}); !errors.Is(err, ErrMalformedBatch) {
		t.Errorf("truncated batch: %v", err)
	}
	if _, _, err := d.Decode(&RecordBatch{Columns: cols, Packed: buf, PackedCount: 2}); !errors.Is(err, ErrMalformedBatch) {
		t.Errorf("count mismatch must be an error: %v", err)
	}
	rows, _, err = d.Decode(&RecordBatch{Columns: cols, Records: []*Record{{Origin: "x", Values: []string{"1", "2", "3"}}}})
	if err != nil || len(rows) != 1 || rows[0].Values[2] != "3" {
		t.Errorf("unpacked records: %+v %v", rows, err)
	}
}

func TestDecodeAllocatesPerBatchNotPerValue(t *testing.T) {
	cols := make([]string, 20)
	vals := make([]string, 20)
	for i := range vals {
		cols[i], vals[i] = "c", "some value"
	}
	var buf []byte
	for i := 0; i < 500; i++ {
		buf = AppendPacked(buf, "f:1", vals)
	}
	b := &RecordBatch{Columns: cols, Packed: buf, PackedCount: 500}
	var d BatchDecoder
	_, _, _ = d.Decode(b)
	if n := testing.AllocsPerRun(20, func() { _, _, _ = d.Decode(b) }); n > 1 {
		t.Errorf("decoding a 500x20 batch allocated %v times", n)
	}
}

// Length prefixes of long values and origins hold bytes >= 0x80 too: they
// must neither hide a bad value nor make a good one look bad.
func TestPackedUTF8NextToHighBytes(t *testing.T) {
	long := strings.Repeat("a", 200)
	cases := []struct {
		origin string
		vals   []string
		bad    int // column, -1 for none
	}{
		{"p.csv:1", []string{long, "x"}, -1},
		{"p.csv:2", []string{long + "\xff", "x"}, 0},
		{"p.csv:3", []string{"x", long + "\xe2\x82"}, 1},
		{"p.csv:4", []string{long, "é" + long + "€"}, -1},
		{"fichier-é.csv:5", []string{"\xc3", "x"}, 0},
		{"fichier-é.csv:6", []string{"ok", "ok"}, -1},
		{"p.csv:7", []string{strings.Repeat("€", 100), strings.Repeat("b", 31) + "\x80"}, 1},
		{"p.csv:8", []string{"", ""}, -1},
	}
	for _, c := range cases {
		var d BatchDecoder
		packed := AppendPacked(nil, c.origin, c.vals)
		// The same row after a long ASCII one and before a plain one.
		buf := AppendPacked(nil, "p.csv:0", []string{long, long})
		buf = append(buf, packed...)
		buf = AppendPacked(buf, "p.csv:9", []string{"y", "z"})
		for _, in := range []struct {
			b []byte
			n int32
		}{{packed, 1}, {buf, 3}} {
			rows, bad, err := d.Decode(&RecordBatch{Columns: []string{"a", "b"}, Packed: in.b, PackedCount: in.n})
			if err != nil {
				t.Fatal(err)
			}
			wantBad := 0
			if c.bad >= 0 {
				wantBad = 1
			}
			if len(bad) != wantBad || len(rows) != int(in.n)-wantBad {
				t.Errorf("%s (%d rows): %d rows, bad %+v", c.origin, in.n, len(rows), bad)
				continue
			}
			if wantBad == 1 && (bad[0].Origin != c.origin || bad[0].Column != []string{"a", "b"}[c.bad]) {
				t.Errorf("%s: bad %+v", c.origin, bad[0])
			}
		}
	}
}

func BenchmarkDecodePacked(b *testing.B) {
	cols := make([]string, 25)
	row := make([]string, 25)
	for i := range row {
		cols[i] = fmt.Sprint("c", i)
		row[i] = strings.Repeat("v", 10+i*3)
	}
	row[3] = strings.Repeat("d", 137)
	var buf []byte
	for i := 0; i < 1500; i++ {
		buf = AppendPacked(buf, fmt.Sprintf("products.csv:%d", i+2), row)
	}
	batch := &RecordBatch{Columns: cols, Packed: buf, PackedCount: 1500}
	var d BatchDecoder
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, _, err := d.Decode(batch); err != nil {
			b.Fatal(err)
		}
	}
}
