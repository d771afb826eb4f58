package connectorv1

import (
	"errors"
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
