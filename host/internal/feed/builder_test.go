package feed

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"testing"
)

// memParts collects the parts a Builder writes.
type memParts struct {
	parts  []*memPart
	failAt int // open fails for this part number
}

type memPart struct {
	bytes.Buffer
	closed bool
}

func (p *memPart) Close() error { p.closed = true; return nil }

func (m *memParts) open(n int) (io.WriteCloser, error) {
	if n == m.failAt {
		return nil, errors.New("disk full")
	}
	if n != len(m.parts)+1 {
		return nil, errors.New("parts opened out of order")
	}
	p := &memPart{}
	m.parts = append(m.parts, p)
	return p, nil
}

func readAll(t *testing.T, data string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("output is not valid CSV: %v\n%s", err, data)
	}
	return recs
}

func productRecord(origin string, kv ...string) Record {
	vals := with(baseProduct(), kv...)
	cols := Columns(Product)
	return Record{Origin: origin, Columns: cols, Values: rowFor(cols, vals)}
}

func TestBuilderBasic(t *testing.T) {
	var m memParts
	var errs bytes.Buffer
	b, err := NewBuilder(Product, m.open, &errs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := b.Add(productRecord("products.csv:2", "id", "A", "title", "  Padded title  "))
	if !ok || err != nil {
		t.Fatalf("valid record: %v %v %v", ok, err, b.LastProblems())
	}
	ok, err = b.Add(productRecord("products.csv:3", "id", "B", "price", "49,00 USD", "gtin", "123"))
	if ok || err != nil {
		t.Fatalf("invalid record: %v %v", ok, err)
	}
	if ps := b.LastProblems(); len(ps) != 2 || ps[0].Row != 2 {
		t.Errorf("LastProblems = %v", ps)
	}
	ok, err = b.Add(productRecord("products.csv:4", "id", "A"))
	if ok || err != nil || !strings.Contains(b.LastProblems()[0].Message, "first used in row 1") {
		t.Fatalf("duplicate: %v %v %v", ok, err, b.LastProblems())
	}
	if err := b.AddRejected("products.csv:5", "image_link", "product has no image", map[string]string{"id": "C", "title": "No image", "not_a_column": "x"}); err != nil {
		t.Fatal(err)
	}
	st, err := b.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stats{Rows: 4, Valid: 1, Invalid: 3, Parts: 1, Bytes: int64(m.parts[0].Len())}) {
		t.Errorf("stats = %+v (part is %d bytes)", st, m.parts[0].Len())
	}
	if !m.parts[0].closed {
		t.Error("part not closed")
	}

	out := readAll(t, m.parts[0].String())
	if strings.Join(out[0], ",") != strings.Join(Columns(Product), ",") {
		t.Errorf("header = %v", out[0])
	}
	if len(out) != 2 || out[1][0] != "A" || out[1][1] != "Padded title" {
		t.Errorf("rows = %q", out[1:])
	}
	// empty optional columns stay empty
	if i := indexOf(out[0], "video_link"); out[1][i] != "" {
		t.Errorf("video_link = %q", out[1][i])
	}

	rep := readAll(t, errs.String())
	if want := append([]string{"stripe_error_message"}, Columns(Product)...); strings.Join(rep[0], ",") != strings.Join(want, ",") {
		t.Errorf("error report header = %v", rep[0])
	}
	if len(rep) != 4 {
		t.Fatalf("error report has %d lines", len(rep))
	}
	msg := rep[1][0]
	for _, w := range []string{"products.csv:3: gtin: ", "; price: "} {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q lacks %q", msg, w)
		}
	}
	if rep[1][1] != "B" || rep[1][indexOf(rep[0], "price")] != "49,00 USD" {
		t.Errorf("error row does not carry the data: %q", rep[1])
	}
	if !strings.HasPrefix(rep[2][0], "products.csv:4: id: duplicate id") {
		t.Errorf("duplicate message %q", rep[2][0])
	}
	if rep[3][0] != "products.csv:5: image_link: product has no image" || rep[3][1] != "C" || rep[3][2] != "No image" || rep[3][3] != "" {
		t.Errorf("rejected row = %q", rep[3][:4])
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestBuilderSplitsParts(t *testing.T) {
	const rows = 50
	var m memParts
	header := Columns(Inventory)
	headerLen := int64(len(strings.Join(header, ",")) + 1)
	// room for the header and three rows of ~22 bytes
	max := headerLen + 70
	b, err := NewBuilder(Inventory, m.open, nil, Options{MaxPartBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < rows; i++ {
		id := "SKU-" + strings.Repeat("x", i%3) + string(rune('A'+i%26)) + string(rune('a'+i/26))
		if ok, err := b.Add(Record{Columns: []string{"id", "availability", "inventory_quantity"}, Values: []string{id, "in_stock", "12"}}); !ok || err != nil {
			t.Fatalf("row %d: %v %v", i, err, b.LastProblems())
		}
	}
	st, err := b.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.Parts < 2 || st.Parts != len(m.parts) {
		t.Fatalf("parts = %d (%d opened)", st.Parts, len(m.parts))
	}
	total, seen := int64(0), 0
	for i, p := range m.parts {
		if !p.closed {
			t.Errorf("part %d not closed", i+1)
		}
		if int64(p.Len()) > max {
			t.Errorf("part %d is %d bytes, limit %d", i+1, p.Len(), max)
		}
		total += int64(p.Len())
		recs := readAll(t, p.String())
		if strings.Join(recs[0], ",") != strings.Join(header, ",") {
			t.Errorf("part %d header = %v", i+1, recs[0])
		}
		if len(recs) < 2 {
			t.Errorf("part %d has no rows", i+1)
		}
		for _, r := range recs[1:] {
			if len(r) != 4 || r[1] != "in_stock" || r[2] != "" || r[3] != "12" { // a split row would not parse like this
				t.Errorf("part %d: broken row %q", i+1, r)
			}
		}
		seen += len(recs) - 1
		// a part is only closed when the next row did not fit
		if i < len(m.parts)-1 {
			next := readAll(t, m.parts[i+1].String())[1]
			nextLen := int64(len(strings.Join(next, ",")) + 1)
			if int64(p.Len())+nextLen <= max {
				t.Errorf("part %d rolled over early", i+1)
			}
		}
	}
	if seen != rows || total != st.Bytes {
		t.Errorf("rows %d/%d, bytes %d/%d", seen, rows, total, st.Bytes)
	}
}

func TestBuilderOversizedRowGetsOwnPart(t *testing.T) {
	var m memParts
	b, err := NewBuilder(Price, m.open, nil, Options{MaxPartBytes: 60})
	if err != nil {
		t.Fatal(err)
	}
	cols := []string{"id", "price"}
	for _, id := range []string{"A", strings.Repeat("L", 90), "B"} {
		if ok, err := b.Add(Record{Columns: cols, Values: []string{id, "1.00 USD"}}); !ok || err != nil {
			t.Fatal(ok, err, b.LastProblems())
		}
	}
	st, _ := b.Close()
	if st.Parts != 3 {
		t.Errorf("parts = %d, want 3", st.Parts)
	}
}

func TestBuilderNoValidRowsOpensNoPart(t *testing.T) {
	var m memParts
	var errs bytes.Buffer
	b, _ := NewBuilder(Price, m.open, &errs, Options{})
	b.Add(Record{Columns: []string{"id", "price"}, Values: []string{"A", "free"}})
	st, err := b.Close()
	if err != nil || st.Parts != 0 || len(m.parts) != 0 || st.Invalid != 1 {
		t.Errorf("%+v %v", st, err)
	}
	if rep := readAll(t, errs.String()); len(rep) != 2 || strings.Join(rep[0], ",") != "stripe_error_message,id,price,sale_price,sale_price_effective_date" ||
		!strings.HasPrefix(rep[1][0], `row 1: price: "free" must be`) || rep[1][2] != "free" {
		t.Errorf("report: %q", rep)
	}
	// no invalid rows: the report stays empty
	errs.Reset()
	b, _ = NewBuilder(Price, m.open, &errs, Options{})
	b.Add(Record{Columns: []string{"id", "price"}, Values: []string{"A", "1 USD"}})
	if _, err := b.Close(); err != nil || errs.Len() != 0 {
		t.Errorf("report %q, %v", errs.String(), err)
	}
}

func TestBuilderTSVAndColumns(t *testing.T) {
	var m memParts
	b, err := NewBuilder(Product, m.open, nil, Options{Comma: '\t', Columns: []string{"id", "delete"}})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Add(Record{Columns: []string{"id", "delete"}, Values: []string{"A\"1", "true"}}); !ok || err != nil {
		t.Fatal(ok, err, b.LastProblems())
	}
	// a spec column outside the output header with an empty value is fine
	if ok, err := b.Add(Record{Columns: []string{"id", "delete", "title"}, Values: []string{"B", "true", ""}}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// ... but a value there would be dropped: programming error
	if _, err := b.Add(Record{Origin: "x:9", Columns: []string{"id", "delete", "title"}, Values: []string{"C", "true", "T"}}); err == nil || !strings.Contains(err.Error(), `x:9`) || !strings.Contains(err.Error(), `"title"`) {
		t.Errorf("err = %v", err)
	}
	b.Close()
	if got := m.parts[0].String(); got != "id\tdelete\n\"A\"\"1\"\ttrue\nB\ttrue\n" {
		t.Errorf("TSV = %q", got)
	}
}

func TestBuilderProgrammingErrors(t *testing.T) {
	var m memParts
	b, _ := NewBuilder(Inventory, m.open, nil, Options{})
	_, err := b.Add(Record{Origin: "shop.json:7", Columns: []string{"id", "qty"}, Values: []string{"A", "1"}})
	if err == nil || !strings.Contains(err.Error(), `"qty"`) || !strings.Contains(err.Error(), "shop.json:7") || !strings.Contains(err.Error(), "inventory_quantity") {
		t.Errorf("unknown column: %v", err)
	}
	_, err = b.Add(Record{Columns: []string{"id", "title"}, Values: []string{"A", "x"}})
	if err == nil || !strings.Contains(err.Error(), `"title" is not in Stripe's inventory feed spec`) {
		t.Errorf("product column in inventory: %v", err)
	}
	if _, err = b.Add(Record{Columns: []string{"id", "id"}, Values: []string{"A", "B"}}); err == nil {
		t.Error("duplicate column accepted")
	}
	if _, err = b.Add(Record{Columns: []string{"id"}, Values: []string{"A", "B"}}); err == nil {
		t.Error("value count mismatch accepted")
	}
	st, _ := b.Close()
	if st.Rows != 0 {
		t.Errorf("programming errors counted as rows: %+v", st)
	}
	if _, err := b.Add(Record{}); err == nil {
		t.Error("Add after Close")
	}

	for _, tc := range []struct {
		k   Kind
		opt Options
	}{
		{0, Options{}},
		{Product, Options{Columns: []string{"id", "colour"}}},
		{Product, Options{Columns: []string{"id", "title"}}}, // missing required
		{Product, Options{Comma: ';'}},
		{Price, Options{MaxPartBytes: 10}},
	} {
		if _, err := NewBuilder(tc.k, m.open, nil, tc.opt); err == nil {
			t.Errorf("NewBuilder(%v, %+v) accepted", tc.k, tc.opt)
		}
	}
	if _, err := NewBuilder(Price, nil, nil, Options{}); err == nil {
		t.Error("nil open accepted")
	}
}

func TestBuilderOpenErrorIsSticky(t *testing.T) {
	m := memParts{failAt: 1}
	b, _ := NewBuilder(Price, m.open, nil, Options{})
	rec := Record{Columns: []string{"id", "price"}, Values: []string{"A", "1.00 USD"}}
	if _, err := b.Add(rec); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	rec.Values = []string{"B", "1.00 USD"}
	if _, err := b.Add(rec); err == nil {
		t.Fatal("error not sticky")
	}
	if _, err := b.Close(); err == nil {
		t.Fatal("Close lost the error")
	}
}

// The builder's output must be exactly what encoding/csv writes.
func TestEncoderMatchesEncodingCSV(t *testing.T) {
	fields := []string{"", "plain", "with,comma", "with \"quote\"", "line\nbreak", "cr\r\nlf", " leading space", "\u00a0nbsp", `\.`, "tab\there", "é ü 日本", "trailing "}
	for _, comma := range []rune{',', '\t'} {
		var want bytes.Buffer
		w := csv.NewWriter(&want)
		w.Comma = comma
		w.Write(fields)
		w.Write([]string{""})
		w.Flush()
		got := appendRecord(nil, fields, byte(comma))
		got = appendRecord(got, []string{""}, byte(comma))
		if string(got) != want.String() {
			t.Errorf("comma %q:\n got %q\nwant %q", comma, got, want.String())
		}
	}
}

// A builder's output must pass ValidateFile, and ValidateFile must agree with
// the builder about which rows are valid.
func TestBuilderOutputValidates(t *testing.T) {
	var m memParts
	var errs bytes.Buffer
	b, _ := NewBuilder(Product, m.open, &errs, Options{})
	for i, tc := range ruleCases {
		if tc.kind != 0 && tc.kind != Product {
			continue
		}
		kv := append([]string{"id", "R" + string(rune('A'+i%26)) + strings.Repeat("x", i/26)}, tc.kv...)
		if tc.want == "id" || strings.Contains(tc.name, "related self") {
			kv = tc.kv
		}
		ok, err := b.Add(productRecord("cases:"+tc.name, kv...))
		if err != nil {
			t.Fatal(err)
		}
		if ok != (tc.want == "") {
			t.Errorf("%s: valid = %v (%v)", tc.name, ok, b.LastProblems())
		}
	}
	st, err := b.Close()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ValidateFile(bytes.NewReader(m.parts[0].Bytes()), 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != st.Valid || !rep.OK() {
		t.Errorf("builder wrote %d valid rows; ValidateFile read %d with problems %v", st.Valid, rep.Rows, rep.Problems)
	}
	if n := len(readAll(t, errs.String())) - 1; n != st.Invalid {
		t.Errorf("error report has %d rows, want %d", n, st.Invalid)
	}
}

// Records whose columns are not the output columns, or whose values carry
// white space, take the copying path; the result must be the same.
func TestBuilderMappingAndTrimming(t *testing.T) {
	var m memParts
	b, _ := NewBuilder(Price, m.open, nil, Options{})
	// reversed column order, padded values
	cols := []string{"sale_price_effective_date", "sale_price", "price", "id"}
	if ok, err := b.Add(Record{Columns: cols, Values: []string{" 2026-06-01/2026-06-30", "39.00 USD ", "\t49.00 USD", " A "}}); !ok || err != nil {
		t.Fatal(ok, err, b.LastProblems())
	}
	// output order, one padded value (identity path falls back to copying)
	cols2 := Columns(Price)
	if ok, err := b.Add(Record{Columns: cols2, Values: []string{"B", "49.00 USD ", "", ""}}); !ok || err != nil {
		t.Fatal(ok, err, b.LastProblems())
	}
	// a value with a non-ASCII last character is not padding
	if ok, err := b.Add(Record{Columns: []string{"id", "price"}, Values: []string{"C-é", "1 EUR"}}); !ok || err != nil {
		t.Fatal(ok, err, b.LastProblems())
	}
	b.Close()
	want := "id,price,sale_price,sale_price_effective_date\nA,49.00 USD,39.00 USD,2026-06-01/2026-06-30\nB,49.00 USD,,\nC-é,1 EUR,,\n"
	if got := m.parts[0].String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// A caller may reuse the backing array of Columns for a batch with other
// names; the builder must notice.
func TestBuilderNoticesChangedColumns(t *testing.T) {
	var m memParts
	b, _ := NewBuilder(Price, m.open, nil, Options{})
	cols := []string{"id", "price", "sale_price"}
	b.Add(Record{Columns: cols, Values: []string{"A", "2.00 USD", "1.00 USD"}})
	cols[1], cols[2] = "sale_price", "price" // same slice, swapped names
	ok, _ := b.Add(Record{Columns: cols, Values: []string{"B", "1.00 USD", "2.00 USD"}})
	b.Close()
	if ok {
		t.Error("row B has no sale_price_effective_date and must be invalid")
	}
	if ps := b.LastProblems(); problemCols(ps) != "sale_price_effective_date" {
		t.Errorf("problems %v", ps)
	}
}

// The memo skips re-checking repeated values; free_shipping_threshold
// depends on shipping, so a repeated threshold must be re-checked when the
// shipping column changes.
func TestBuilderMemoRespectsContext(t *testing.T) {
	var m memParts
	b, _ := NewBuilder(Product, m.open, nil, Options{})
	if ok, err := b.Add(productRecord("1", "id", "A")); !ok || err != nil {
		t.Fatal(ok, err, b.LastProblems())
	}
	ok, _ := b.Add(productRecord("2", "id", "B", "shipping", "US:ALL:Ground:5.00 USD"))
	if ok || problemCols(b.LastProblems()) != "free_shipping_threshold" {
		t.Errorf("threshold for a service no longer offered: %v %v", ok, b.LastProblems())
	}
	// related_products mentions the row's own id only here
	if ok, _ := b.Add(productRecord("3", "id", "SKU-2001")); ok {
		t.Error("self reference accepted on a repeated related_products value")
	}
	// a value that failed is checked again (and fails again)
	for i := 0; i < 2; i++ {
		if ok, _ := b.Add(productRecord("4", "id", "E"+string(rune('0'+i)), "gtin", "123")); ok {
			t.Error("invalid gtin accepted")
		}
	}
	b.Close()
}
