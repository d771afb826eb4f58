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
	// A count no buffer could hold is refused before it sizes anything.
	if _, _, err := d.Decode(&RecordBatch{Columns: cols, Packed: buf, PackedCount: 1 << 30}); !errors.Is(err, ErrMalformedBatch) {
		t.Errorf("huge count: %v", err)
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

// packBoth packs rows both ways: literal (AppendPacked) and with repeats.
func packBoth(origins []string, rows [][]string) (lit, rep []byte) {
	var p RepeatPacker
	for i, r := range rows {
		lit = AppendPacked(lit, origins[i], r)
		rep = p.Append(rep, origins[i], r)
	}
	return lit, rep
}

// Whatever repeats, a batch packed with repeats decodes to exactly the rows
// (and rejects) of the same batch packed literally, and is smaller.
func TestRepeatsDecodeLikeLiterals(t *testing.T) {
	cols := []string{"id", "brand", "description", "price"}
	desc := strings.Repeat("Long-staple cotton. ", 20)
	var origins []string
	var rows [][]string
	for i := range 300 {
		brand := "Harbor & Pine"
		if i%50 == 7 {
			brand = "Acme" // a change, then repeats of the new value
		}
		d := desc
		if k := i % 90; k >= 45 && k <= 47 {
			d = desc[:len(desc)-1] + "\xff" // invalid UTF-8, repeated by the next two rows
		}
		if i%90 == 48 {
			d = "" // an empty value between repeats
		}
		origins = append(origins, fmt.Sprintf("p.csv:%d", i+2))
		rows = append(rows, []string{fmt.Sprintf("SKU-%04d", i), brand, d, "40.00 USD"})
	}
	lit, rep := packBoth(origins, rows)
	if len(rep) > len(lit)/2 {
		t.Errorf("with repeats %d bytes, literal %d: repeats saved too little", len(rep), len(lit))
	}
	var dl, dr BatchDecoder
	wantRows, wantBad, err := dl.Decode(&RecordBatch{Columns: cols, Packed: lit, PackedCount: 300})
	if err != nil {
		t.Fatal(err)
	}
	gotRows, gotBad, err := dr.Decode(&RecordBatch{Columns: cols, Packed: rep, PackedCount: 300, PackedRepeats: true})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(gotRows) != fmt.Sprint(wantRows) || fmt.Sprint(gotBad) != fmt.Sprint(wantBad) {
		t.Fatalf("repeats decode differently:\n got %d rows, bad %v\nwant %d rows, bad %v", len(gotRows), gotBad, len(wantRows), wantBad)
	}
	// Rows 45-47, 135-137 and 225-227: each row that repeats the invalid
	// value is rejected too.
	if len(gotBad) != 9 || gotBad[1].Origin != "p.csv:48" || gotBad[1].Column != "description" {
		t.Fatalf("invalid UTF-8 in a repeated value must reject each row that repeats it: %v", gotBad)
	}
}

func TestRepeatsMalformed(t *testing.T) {
	cols := []string{"a", "b"}
	var d BatchDecoder
	for name, packed := range map[string][]byte{
		"repeat in the first record":  {2, 'o', 1, 2, 'x'},
		"origin repeat in the first":  {1, 2, 'x', 2, 'y'},
		"odd length other than 1":     {2, 'o', 3, 'x', 2, 'y'},
		"value past the end":          {2, 'o', 20, 'x'},
		"literal prefix without data": {2, 'o'},
	} {
		if _, _, err := d.Decode(&RecordBatch{Columns: cols, Packed: packed, PackedCount: 1, PackedRepeats: true}); !errors.Is(err, ErrMalformedBatch) {
			t.Errorf("%s: %v, want ErrMalformedBatch", name, err)
		}
	}
	// A repeat marker in a literal batch is a one-byte value's length.
	rows, _, err := d.Decode(&RecordBatch{Columns: cols, Packed: []byte{1, 'o', 1, 'x', 1, 'y'}, PackedCount: 1})
	if err != nil || rows[0].Values[0] != "x" {
		t.Errorf("literal batch: %v %v", rows, err)
	}
}

// Random rows, random repeats: decoding with repeats always equals
// decoding the literal packing.
func FuzzRepeatPacker(f *testing.F) {
	f.Add([]byte("aaaa\x00bb\x00\xff\x00"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, width uint8) {
		w := int(width%5) + 1
		vals := strings.Split(string(data), "\x00")
		var origins []string
		var rows [][]string
		for i := 0; i+w <= len(vals); i += w {
			origins = append(origins, "o")
			rows = append(rows, vals[i:i+w])
		}
		cols := make([]string, w)
		lit, rep := packBoth(origins, rows)
		var dl, dr BatchDecoder
		wr, wb, err1 := dl.Decode(&RecordBatch{Columns: cols, Packed: lit, PackedCount: int32(len(rows))})
		gr, gb, err2 := dr.Decode(&RecordBatch{Columns: cols, Packed: rep, PackedCount: int32(len(rows)), PackedRepeats: true})
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if fmt.Sprint(gr) != fmt.Sprint(wr) || fmt.Sprint(gb) != fmt.Sprint(wb) {
			t.Fatalf("got %q %v, want %q %v", gr, gb, wr, wb)
		}
	})
}

// Decode never panics on a hostile batch: it returns rows or an error.
func FuzzDecode(f *testing.F) {
	_, rep := packBoth([]string{"o", "p"}, [][]string{{"a", "b"}, {"a", "c"}})
	f.Add(rep, int32(2), uint8(2), true)
	f.Add(AppendPacked(nil, "o", []string{"x\xff"}), int32(1), uint8(1), false)
	f.Fuzz(func(t *testing.T, packed []byte, count int32, width uint8, repeats bool) {
		var d BatchDecoder
		count %= 4096
		rows, _, err := d.Decode(&RecordBatch{Columns: make([]string, width%8), Packed: packed, PackedCount: count, PackedRepeats: repeats})
		if err == nil && len(rows) > max(0, int(count)) {
			t.Fatalf("%d rows from a count of %d", len(rows), count)
		}
	})
}
