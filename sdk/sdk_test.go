package sdk

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

type narrowed struct {
	UnimplementedPlugin
	caps []string
}

func (narrowed) Info() Info { return Info{Name: "n", Version: "1"} }
func (narrowed) ReadCatalog(context.Context, *ReadRequest, *RecordWriter) error {
	return nil
}
func (narrowed) ReadInventory(context.Context, *ReadRequest, *RecordWriter) error {
	return nil
}
func (n narrowed) ConfiguredCapabilities() []string { return n.caps }

func TestCapabilitiesNarrowedByConfiguration(t *testing.T) {
	p := narrowed{caps: []string{CapInventory, CapFulfillment}}
	if got := Capabilities(p); !slices.Equal(got, []string{CapInventory}) {
		t.Errorf("narrowing keeps only implemented and configured capabilities, got %v", got)
	}
	if got := ImplementedCapabilities(p); !slices.Equal(got, []string{CapCatalog, CapInventory}) {
		t.Errorf("implemented = %v", got)
	}
}

// TestRecordWriterBatchesAndKeepsOrder runs with literal packing and with
// repeats (what a host that sets ReadRequest.packed_repeats gets).
func TestRecordWriterBatchesAndKeepsOrder(t *testing.T) {
	for _, repeats := range []bool{false, true} {
		t.Run(fmt.Sprint("repeats=", repeats), func(t *testing.T) { testRecordWriter(t, repeats) })
	}
}

func testRecordWriter(t *testing.T, repeats bool) {
	type flushed struct {
		cols    []string
		rows    [][]string
		origins []string
		cursor  string
	}
	var got []flushed
	var dec pb.BatchDecoder
	var packedBytes int
	w := newRecordWriter(context.Background(), 2, repeats, func(wb *batch) error {
		packedBytes += len(wb.packed)
		rows, bad, err := dec.Decode(&pb.RecordBatch{Columns: wb.cols, Packed: wb.packed, PackedCount: int32(wb.count), PackedRepeats: repeats})
		if err != nil || len(bad) > 0 {
			t.Fatalf("decode: %v %v", err, bad)
		}
		b := flushed{cols: append([]string(nil), wb.cols...), cursor: wb.cursor}
		for _, r := range rows {
			// Copy: the writer reuses its buffer after the flush.
			vals := make([]string, len(r.Values))
			for i, v := range r.Values {
				vals[i] = strings.Clone(v)
			}
			b.rows = append(b.rows, vals)
			b.origins = append(b.origins, strings.Clone(r.Origin))
		}
		got = append(got, b)
		return nil
	})
	cols := []string{"id", "price"}
	buf := []string{"", ""}
	for i, id := range []string{"A", "B", "C"} {
		buf[0], buf[1] = id, "1.00 USD"
		if err := w.WriteValues("f:"+string(rune('1'+i)), cols, buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write(Record{Origin: "f:4", Fields: map[string]string{"id": "D", "title": "T"}}); err != nil {
		t.Fatal(err)
	}
	w.SetCursor("c1")
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("want 3 batches (2 rows, 1 row, 1 map record), got %d: %+v", len(got), got)
	}
	if got[0].rows[0][0] != "A" || got[0].rows[1][0] != "B" || got[1].rows[0][0] != "C" {
		t.Errorf("a reused values slice must be copied: %+v", got)
	}
	if !slices.Equal(got[2].cols, []string{"id", "title"}) || got[2].rows[0][0] != "D" || got[2].cursor != "c1" {
		t.Errorf("map records become sorted columns and the last batch carries the cursor: %+v", got[2])
	}
	if w.Written() != 4 {
		t.Errorf("written = %d", w.Written())
	}
	// B's price repeats A's: one byte instead of nine.
	if want := map[bool]int{false: 53, true: 45}[repeats]; packedBytes != want {
		t.Errorf("packed %d bytes, want %d", packedBytes, want)
	}
}

func TestMoneyAndParseDecimal(t *testing.T) {
	for _, c := range []struct {
		minor int64
		cur   string
		want  string
	}{{1500, "usd", "15.00 USD"}, {5, "USD", "0.05 USD"}, {8000, "jpy", "8000 JPY"}, {1234, "kwd", "1.234 KWD"}} {
		if got := Money(c.minor, c.cur); got != c.want {
			t.Errorf("Money(%d,%s) = %q, want %q", c.minor, c.cur, got, c.want)
		}
	}
	for _, c := range []struct {
		in   string
		cur  string
		want int64
		ok   bool
	}{{"19.99", "USD", 1999, true}, {"25", "USD", 2500, true}, {"1,234.50", "USD", 123450, true}, {".5", "USD", 50, true},
		{"19.999", "USD", 0, false}, {"8000", "JPY", 8000, true}, {"1e3", "USD", 0, false}, {"", "USD", 0, false}, {"abc", "USD", 0, false}} {
		got, err := ParseDecimal(c.in, c.cur)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseDecimal(%q,%s) = %d, %v", c.in, c.cur, got, err)
		}
	}
}

func TestConfigureDecodeNamesUnknownKey(t *testing.T) {
	var resp ConfigureResponse
	var cfg struct {
		Dir string `json:"dir"`
	}
	err := (&ConfigureRequest{Config: []byte(`{"dir":"x","dri":"y"}`)}).Decode(&cfg, &resp)
	if err == nil || len(resp.Errors) != 1 || resp.Errors[0].Field != "dri" {
		t.Fatalf("want one field error for dri, got %v %+v", err, resp.Errors)
	}
	resp = ConfigureResponse{}
	err = (&ConfigureRequest{Config: []byte(`{"dir":5}`)}).Decode(&cfg, &resp)
	if err == nil || len(resp.Errors) != 1 || resp.Errors[0].Field != "dir" {
		t.Fatalf("want a type error on dir, got %v %+v", err, resp.Errors)
	}
}
