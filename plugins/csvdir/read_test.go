package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite testdata/*/records.json and rejects.json from the current output")

var kinds = []struct {
	name string
	kind sdktest.Kind
}{{"catalog", sdktest.Catalog}, {"inventory", sdktest.Inventory}, {"prices", sdktest.Prices}}

type goldenRecord struct {
	Origin string            `json:"origin"`
	Fields map[string]string `json:"fields"`
}

type goldenReject struct {
	Origin  string            `json:"origin"`
	Field   string            `json:"field,omitempty"`
	Message string            `json:"message"`
	Partial map[string]string `json:"partial,omitempty"`
}

// TestGolden reads every testdata/<case>/ (input CSVs + config.json) and
// compares the records and rejects of the three reads with records.json and
// rejects.json. Run with -update to regenerate them.
func TestGolden(t *testing.T) {
	ents, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			cfg := map[string]any{}
			raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &cfg); err != nil {
				t.Fatalf("config.json: %v", err)
			}
			cfg["dir"] = dir
			c := start(t, cfg)
			records := map[string][]goldenRecord{}
			rejects := map[string][]goldenReject{}
			for _, k := range kinds {
				res, err := c.Read(ctx, k.kind, "")
				if sdktest.IsUnimplemented(err) {
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", k.name, err)
				}
				records[k.name] = []goldenRecord{}
				for _, r := range res.Records {
					records[k.name] = append(records[k.name], goldenRecord{r.Origin, r.Fields})
				}
				rejects[k.name] = []goldenReject{}
				for _, r := range res.Rejects {
					rejects[k.name] = append(rejects[k.name], goldenReject{r.Origin, r.Field, r.Message, r.Partial})
				}
				// The same cursor on unchanged files: nothing, same cursor.
				again, err := c.Read(ctx, k.kind, res.Cursor)
				if err != nil {
					t.Fatalf("%s incremental: %v", k.name, err)
				}
				if len(again.Records)+len(again.Rejects) != 0 || again.Cursor != res.Cursor {
					t.Errorf("%s: unchanged file read again with its cursor sent %d records, %d rejects, cursor %q (want %q)",
						k.name, len(again.Records), len(again.Rejects), again.Cursor, res.Cursor)
				}
			}
			compareGolden(t, filepath.Join(dir, "records.json"), records)
			compareGolden(t, filepath.Join(dir, "rejects.json"), rejects)
		})
	}
}

func compareGolden(t *testing.T, path string, got any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(want, data) {
		t.Errorf("%s differs from the output (run with -update to accept):\n--- got\n%s", path, data)
	}
}

func byID(recs []sdk.Record) map[string]sdk.Record {
	m := map[string]sdk.Record{}
	for _, r := range recs {
		m[r.Fields[sdk.FieldID]] = r
	}
	return m
}

// TestCRLFBOMMultiline: a BOM before the header, CRLF line ends, and quoted
// cells spanning lines; origins name the line each row starts on.
func TestCRLFBOMMultiline(t *testing.T) {
	c := start(t, map[string]any{"dir": "testdata/crlf_bom_multiline"})
	res, err := c.Read(ctx, sdktest.Catalog, "")
	if err != nil {
		t.Fatal(err)
	}
	got := byID(res.Records)
	for id, origin := range map[string]string{"LAMP-1": "products.csv:2", "LAMP-2": "products.csv:5", "LAMP-3": "products.csv:6", "LAMP-4": "products.csv:9"} {
		if got[id].Origin != origin {
			t.Errorf("%s: origin %q, want %q", id, got[id].Origin, origin)
		}
	}
	if d := got["LAMP-1"].Fields["description"]; d != "A brass desk lamp.\n\nWarm light, dimmable." {
		t.Errorf("multi-line cell: %q", d)
	}
	if d := got["LAMP-2"].Fields["description"]; d != `Tall, "arched" floor lamp.` {
		t.Errorf("quoted cell: %q", d)
	}
	if p := got["LAMP-3"].Fields["price"]; p != "59.50 USD" {
		t.Errorf("price: %q", p)
	}
	if len(res.Rejects) != 0 {
		t.Errorf("rejects: %+v", res.Rejects)
	}
}

func TestRenamedColumns(t *testing.T) {
	raw, _ := os.ReadFile("testdata/renamed_columns/config.json")
	cfg := map[string]any{}
	_ = json.Unmarshal(raw, &cfg)
	cfg["dir"] = "testdata/renamed_columns"
	c := start(t, cfg)
	res, err := c.Read(ctx, sdktest.Catalog, "")
	if err != nil {
		t.Fatal(err)
	}
	r := byID(res.Records)["A-100"]
	want := map[string]string{"id": "A-100", "title": "Oak cutting board", "gtin": "5901234123457", "price": "49.90 EUR",
		"availability": "in_stock", "inventory_quantity": "7", "product_category": "Home > Kitchen"}
	for k, v := range want {
		if r.Fields[k] != v {
			t.Errorf("%s = %q, want %q", k, r.Fields[k], v)
		}
	}
	if _, ok := r.Fields["internal note"]; ok {
		t.Error("an unmapped column leaked into the record")
	}
	if p := byID(res.Records)["A-200"].Fields["price"]; p != "1299.00 EUR" {
		t.Errorf("thousands separator: %q", p)
	}
	inv, err := c.Read(ctx, sdktest.Inventory, "")
	if err != nil {
		t.Fatal(err)
	}
	if q := byID(inv.Records)["A-100"].Fields; q["inventory_quantity"] != "5" || q["availability"] != "in_stock" || !strings.HasPrefix(byID(inv.Records)["A-100"].Origin, "inventory.csv:") {
		t.Errorf("inventory from inventory.csv: %+v", byID(inv.Records)["A-100"])
	}
	pr, err := c.Read(ctx, sdktest.Prices, "")
	if err != nil {
		t.Fatal(err)
	}
	if f := byID(pr.Records)["A-100"].Fields; f["sale_price"] != "39.90 EUR" || f["sale_price_effective_date"] != "2026-07-01/2026-07-14" {
		t.Errorf("prices from prices.csv: %+v", f)
	}
}

func TestCursor(t *testing.T) {
	dir := copyDir(t, "testdata/basic")
	c := start(t, map[string]any{"dir": dir})
	first, err := c.Read(ctx, sdktest.Catalog, "")
	if err != nil {
		t.Fatal(err)
	}
	if first.Cursor == "" || len(first.Records) == 0 {
		t.Fatalf("full read: cursor %q, %d records", first.Cursor, len(first.Records))
	}
	same, err := c.Read(ctx, sdktest.Catalog, first.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(same.Records) != 0 || same.Cursor != first.Cursor || same.Batches != 1 {
		t.Errorf("unchanged: %d records, %d batches, cursor %q", len(same.Records), same.Batches, same.Cursor)
	}

	// Touched (same bytes, new mtime): a full read, since mtime is part of
	// the fingerprint; the host's row diff makes that cheap downstream.
	path := filepath.Join(dir, "products.csv")
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	touched, err := c.Read(ctx, sdktest.Catalog, first.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(touched.Records) != len(first.Records) || touched.Cursor == first.Cursor {
		t.Errorf("touched file: %d records, cursor changed %v", len(touched.Records), touched.Cursor != first.Cursor)
	}

	// Content change.
	data, _ := os.ReadFile(path)
	writeFile(t, path, strings.Replace(string(data), "Blue enamel mug", "Navy enamel mug", 1))
	changed, err := c.Read(ctx, sdktest.Catalog, touched.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if byID(changed.Records)["MUG-BLUE"].Fields["title"] != "Navy enamel mug" || changed.Cursor == touched.Cursor {
		t.Errorf("changed file not reread: cursor changed %v", changed.Cursor != touched.Cursor)
	}

	// A config change that changes the output invalidates the cursor.
	if errs, err := c.Configure(ctx, map[string]any{"dir": dir, "currency": "EUR"}); err != nil || len(errs) > 0 {
		t.Fatal(errs, err)
	}
	eur, err := c.Read(ctx, sdktest.Catalog, changed.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if byID(eur.Records)["MUG-BLUE"].Fields["price"] != "12.00 EUR" {
		t.Errorf("after a currency change the cursor must not match: %d records", len(eur.Records))
	}

	// Inventory and prices have their own cursors.
	inv, err := c.Read(ctx, sdktest.Inventory, eur.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Records) == 0 || inv.Cursor == eur.Cursor {
		t.Errorf("the catalog cursor must not suppress the inventory read")
	}
}

func TestBadRowsStillFlow(t *testing.T) {
	c := start(t, map[string]any{"dir": "testdata/bad_rows"})
	res, err := c.Read(ctx, sdktest.Catalog, "")
	if err != nil {
		t.Fatal(err)
	}
	got := byID(res.Records)
	if len(got) != 2 || got["OK-1"].Origin != "products.csv:2" || got["OK-2"].Fields["price"] != "1234.50 USD" {
		t.Errorf("good rows: %+v", res.Records)
	}
	want := map[string]string{ // origin -> field
		"products.csv:3": "", "products.csv:4": "", "products.csv:5": "price", "products.csv:6": "price",
		"products.csv:7": "price", "products.csv:8": "price", "products.csv:9": "id", "products.csv:10": "id", "products.csv:11": "",
	}
	if len(res.Rejects) != len(want) {
		t.Errorf("%d rejects, want %d: %+v", len(res.Rejects), len(want), res.Rejects)
	}
	for _, r := range res.Rejects {
		f, ok := want[r.Origin]
		if !ok || f != r.Field || r.Message == "" {
			t.Errorf("unexpected reject %+v", r)
		}
	}
}

// TestDuplicatesAcrossSpills reads a file with more ids than a tiny
// duplicate-id budget holds: duplicates of ids long since spilled (and
// merged) are still rejected, with the line of the first use, and no unique
// row is lost.
func TestDuplicatesAcrossSpills(t *testing.T) {
	old := dupBudget
	dupBudget = 1024 * 16 // a spill every 512 ids
	defer func() { dupBudget = old }()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,title,price\n")
	line := 1
	firstLine := map[string]int{}
	wantDup := map[string]string{} // origin -> message
	const n = 5000
	for i := range n {
		id := fmt.Sprintf("SKU-%05d", i)
		line++
		fmt.Fprintf(&b, "%s,Product %d,1.00\n", id, i)
		firstLine[id] = line
		if i%700 == 699 {
			for _, again := range []string{fmt.Sprintf("SKU-%05d", i/9), fmt.Sprintf("SKU-%05d", i-2)} {
				line++
				fmt.Fprintf(&b, "%s,Again,2.00\n", again)
				wantDup[fmt.Sprintf("products.csv:%d", line)] = fmt.Sprintf("duplicate id %q, first used at products.csv:%d", again, firstLine[again])
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "products.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c := start(t, map[string]any{"dir": dir})
	res, err := c.Read(ctx, sdktest.Catalog, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := byID(res.Records); len(res.Records) != n || len(got) != n {
		t.Errorf("%d records (%d ids), want %d", len(res.Records), len(got), n)
	}
	if len(res.Rejects) != len(wantDup) {
		t.Errorf("%d rejects, want %d", len(res.Rejects), len(wantDup))
	}
	for _, r := range res.Rejects {
		if msg, ok := wantDup[r.Origin]; !ok || r.Field != sdk.FieldID || r.Message != msg {
			t.Errorf("reject %+v; want field id, %q", r, msg)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "acs-idset-*")); len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}
}

// genProducts writes an n-row products.csv of realistic width (about 440
// bytes a row) with bare prices, so the money conversion is exercised.
func genProducts(t testing.TB, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	_ = w.Write([]string{"id", "title", "description", "link", "image_link", "brand", "mpn", "product_category",
		"availability", "inventory_quantity", "price", "shipping"})
	desc := strings.Repeat("Sturdy, hand-finished and made to last; ", 6)
	row := make([]string, 12)
	for i := range n {
		id := "SKU-" + strconv.Itoa(1000000+i)
		row[0], row[1], row[2] = id, "Product "+id, desc+id
		row[3], row[4] = "https://shop.example.com/p/"+id, "https://img.example.com/"+id+".jpg"
		row[5], row[6], row[7] = "Harbor & Pine", "HP-"+id, "Home > Kitchen > Mugs"
		row[8], row[9] = "in_stock", strconv.Itoa(i%50)
		row[10] = strconv.Itoa(5+i%90) + "." + strconv.Itoa(10+i%90)
		row[11] = "US:ALL:Standard:3-5:5.00 USD"
		_ = w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// drainCatalog reads the whole catalog over the plugin protocol and only
// counts, unlike sdktest's Client.Read, which keeps every record (as a map)
// in memory. It calls the generated client sdktest.Client embeds; a nil
// request is an empty one.
func drainCatalog(c *sdktest.Client, cursor string) (records, rejects int, err error) {
	if cursor != "" {
		return 0, 0, fmt.Errorf("drainCatalog sends no cursor")
	}
	st, err := c.ReadCatalog(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	for {
		b, err := st.Recv()
		if err == io.EOF {
			return records, rejects, nil
		}
		if err != nil {
			return records, rejects, err
		}
		records += int(b.GetPackedCount()) + len(b.GetRecords())
		rejects += len(b.GetErrors())
	}
}

// TestHugeFileStreamsInFlatMemory reads a products.csv larger than the
// memory bound and checks the heap never grows near the file's size.
func TestHugeFileStreamsInFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	rows := 300_000
	if raceEnabled {
		rows = 30_000 // the race detector makes each row ~10x slower
	}
	// CSVDIR_ROWS=1000000 checks a bigger file by hand (about a minute).
	if v, err := strconv.Atoi(os.Getenv("CSVDIR_ROWS")); err == nil && v > 0 {
		rows = v
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "products.csv")
	genProducts(t, path, rows)
	fi, _ := os.Stat(path)
	p := New()
	c := sdktest.Start(t, p)
	if errs, err := c.Configure(ctx, map[string]any{"dir": dir}); err != nil || len(errs) > 0 {
		t.Fatal(errs, err)
	}
	// The availability index (one entry per SKU, by design) is loaded in
	// the background after Configure; let it finish so the baseline holds it.
	st, _ := p.current()
	if _, err := st.stock.get(ctx); err != nil {
		t.Fatal(err)
	}

	// Live heap as of the last GC: garbage awaiting collection is not held
	// memory, and GOGC slack would otherwise scale with the baseline.
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	live := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	runtime.GC()
	base := live()
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if v := live(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	n, rejected, err := drainCatalog(c, "")
	runtime.GC() // one more sample covering the end of the read
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n != rows || rejected != 0 {
		t.Fatalf("read %d records, %d rejects; want %d", n, rejected, rows)
	}
	grew := peak.Load() - base
	// Bound: the duplicate-id set (a 3 MiB table, then runs on disk with
	// 2 bytes an id of Bloom filter) plus batches in flight on both ends
	// of the in-process connection (the live-heap figure also counts what
	// was allocated during a concurrent mark, ~10-20 MB of transient
	// batches); far below the file, which the test keeps 2.5x the bound.
	bound := int64(48 << 20)
	t.Logf("%d rows, file %d MB, live heap grew by %.1f MB at peak, %v", rows, fi.Size()>>20, float64(grew)/(1<<20), time.Since(start).Round(time.Millisecond))
	if grew > bound {
		t.Errorf("live heap grew by %d MB reading a %d MB file; want < %d MB", grew>>20, fi.Size()>>20, bound>>20)
	}
	if !raceEnabled && fi.Size() < bound*5/2 {
		t.Errorf("test file (%d MB) too small to prove streaming", fi.Size()>>20)
	}
}

var benchFile struct {
	once sync.Once
	dir  string
}

func benchDir(b *testing.B) string {
	benchFile.once.Do(func() {
		dir, err := os.MkdirTemp("", "csvdir-bench-")
		if err != nil {
			b.Fatal(err)
		}
		genProducts(b, filepath.Join(dir, "products.csv"), 100_000)
		benchFile.dir = dir
	})
	return benchFile.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchFile.dir != "" {
		os.RemoveAll(benchFile.dir)
	}
	os.Exit(code)
}

// BenchmarkReadCatalog: a full read of a 100,000-row products.csv through
// the plugin protocol (in-process gRPC), as the host sees it.
func BenchmarkReadCatalog(b *testing.B) {
	dir := benchDir(b)
	c := start(b, map[string]any{"dir": dir})
	fi, _ := os.Stat(filepath.Join(dir, "products.csv"))
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n, _, err := drainCatalog(c, "")
		if err != nil || n != 100_000 {
			b.Fatalf("%d records: %v", n, err)
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPlainCSV is the yardstick: the same file through encoding/csv
// read and write, nothing else.
func BenchmarkPlainCSV(b *testing.B) {
	dir := benchDir(b)
	path := filepath.Join(dir, "products.csv")
	fi, _ := os.Stat(path)
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		r := csv.NewReader(bufio.NewReaderSize(f, readBufferSize))
		r.ReuseRecord = true
		w := csv.NewWriter(io.Discard)
		n := 0
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			_ = w.Write(rec)
			n++
		}
		w.Flush()
		f.Close()
		if n != 100_001 {
			b.Fatalf("%d rows", n)
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestRejectsOutliveTheReadBuffer: a rejected row's partial values wait in
// the writer until its batch is sent, while the reader has refilled (and
// overwritten) its buffer several times. They must still be that row's
// values, with an ASCII delimiter (csvread) and with a non-ASCII one
// (encoding/csv).
func TestRejectsOutliveTheReadBuffer(t *testing.T) {
	for _, delim := range []string{",", "¦"} {
		t.Run(delim, func(t *testing.T) {
			dir := t.TempDir()
			var b strings.Builder
			cols := []string{"id", "title", "description", "link", "image_link", "brand", "availability", "inventory_quantity", "price"}
			b.WriteString(strings.Join(cols, delim) + "\n")
			long := strings.Repeat("Long-staple cotton woven tightly. ", 60) // ~2 KB a row
			for i := range 1000 {
				price := fmt.Sprintf("%d.99", i%50+1)
				if i%10 == 3 {
					price = "nineteen"
				}
				id := fmt.Sprintf("SKU-%04d", i)
				if i%10 == 7 {
					id = "" // rejected with its normalised price in the partial
				}
				row := []string{id, fmt.Sprintf("Shirt %04d", i), long,
					"https://shop.example.com/p/" + strconv.Itoa(i), "https://img.example.com/" + strconv.Itoa(i) + ".jpg",
					"Acme", "in_stock", "3", price}
				b.WriteString(strings.Join(row, delim) + "\n")
			}
			if err := os.WriteFile(filepath.Join(dir, "products.csv"), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			if b.Len() < 4*readBufferSize {
				t.Fatalf("the file (%d bytes) must be several read buffers long", b.Len())
			}
			c := start(t, map[string]any{"dir": dir, "currency": "USD", "delimiter": delim})
			res, err := c.Read(ctx, sdktest.Catalog, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Records) != 800 || len(res.Rejects) != 200 {
				t.Fatalf("%d records, %d rejects; want 800, 200", len(res.Records), len(res.Rejects))
			}
			for _, r := range res.Rejects {
				line, _ := strconv.Atoi(strings.TrimPrefix(r.Origin, "products.csv:"))
				i := line - 2
				wantField, wantID, wantPrice := "price", fmt.Sprintf("SKU-%04d", i), "nineteen"
				if i%10 == 7 {
					wantField, wantID, wantPrice = "id", "", fmt.Sprintf("%d.99 USD", i%50+1)
				}
				if r.Field != wantField || r.Partial["id"] != wantID || r.Partial["title"] != fmt.Sprintf("Shirt %04d", i) ||
					r.Partial["description"] != strings.TrimSpace(long) || r.Partial["price"] != wantPrice {
					t.Fatalf("reject %s: field %q, partial id %q title %q price %q", r.Origin, r.Field, r.Partial["id"], r.Partial["title"], r.Partial["price"])
				}
			}
			for _, r := range res.Records {
				line, _ := strconv.Atoi(strings.TrimPrefix(r.Origin, "products.csv:"))
				i := line - 2
				if r.Fields["title"] != fmt.Sprintf("Shirt %04d", i) || r.Fields["price"] != fmt.Sprintf("%d.99 USD", i%50+1) || r.Fields["description"] != strings.TrimSpace(long) {
					t.Fatalf("record %s: %v", r.Origin, r.Fields)
				}
			}
		})
	}
}
