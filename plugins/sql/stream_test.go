package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
)

// bigQuery reads the generated table as a full product feed.
const bigQuery = `SELECT sku AS id, title, description,
       'https://shop.example.com/p/' || sku AS link,
       'https://shop.example.com/i/' || sku || '.jpg' AS image_link,
       'Acme' AS brand, sku AS mpn, 'Home > Kitchen' AS product_category,
       CASE WHEN qty > 0 THEN 'in_stock' ELSE 'out_of_stock' END AS availability,
       qty AS inventory_quantity, price, updated_at
  FROM big ORDER BY big.id`

// createBig fills table big with n generated rows of about 400 bytes of
// feed text each, with one portable statement (a recursive CTE).
func createBig(t testing.TB, d *testDB, n int) {
	t.Helper()
	desc := strings.Repeat("A sturdy enamel mug that keeps coffee warm. ", 4)
	d.exec(t,
		`CREATE TABLE big (id INTEGER PRIMARY KEY, sku VARCHAR(32) NOT NULL, title VARCHAR(200) NOT NULL,
		   description TEXT NOT NULL, price NUMERIC(12, 2) NOT NULL, qty INTEGER NOT NULL, updated_at TIMESTAMP NOT NULL)`,
		fmt.Sprintf(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d)
		  INSERT INTO big (id, sku, title, description, price, qty, updated_at)
		  SELECT i, 'SKU-' || CAST(i AS VARCHAR(20)), 'Enamel mug no. ' || CAST(i AS VARCHAR(20)),
		         '%s' || CAST(i AS VARCHAR(20)), (i %% 100000) / 100.0 + 0.99, i %% 50, '2024-01-01 00:00:00'
		    FROM s`, n, desc))
}

func bigConfig(d *testDB) map[string]any {
	return map[string]any{"driver": d.driver, "dsn": d.dsn, "cursor_column": "updated_at", "queries": map[string]any{
		"catalog":             bigQuery,
		"catalog_incremental": strings.Replace(bigQuery, "FROM big", "FROM big WHERE updated_at > :cursor", 1),
	}}
}

// countSink drops what it is given, like the SDK's writer once a batch is
// on the wire, and samples the live heap.
type countSink struct {
	rows, rejects int
	sampleEvery   int
	peak          uint64
	cursor        string
}

func (s *countSink) WriteValues(_ string, _, _ []string) error {
	s.rows++
	if s.sampleEvery > 0 && s.rows%s.sampleEvery == 0 {
		s.peak = max(s.peak, liveHeap())
	}
	return nil
}

func (s *countSink) Reject(sdk.RecordError) error { s.rejects++; return nil }
func (s *countSink) SetCursor(c string)           { s.cursor = c }

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStreamFlatMemory reads a 200,000-row table (about 80 MB of feed
// text) and checks the live heap stays within a few MB: rows are converted
// and handed on one at a time as the driver delivers them, never collected.
func TestStreamFlatMemory(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		n := 200_000
		if raceEnabled && driver == driverSQLite {
			n = 20_000 // see race_test.go
		}
		// Holding the rows would take over 400 bytes each.
		bound := max(int64(4<<20), int64(n)*80)
		d := newTestDB(t, driver)
		createBig(t, d, n)
		p := mustConfigure(t, bigConfig(d))
		base := liveHeap()
		s := &countSink{sampleEvery: 20_000}
		start := time.Now()
		if err := p.read(context.Background(), kindCatalog, "", s); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		if s.rows != n || s.rejects != 0 {
			t.Fatalf("%d rows, %d rejects", s.rows, s.rejects)
		}
		if s.cursor == "" {
			t.Error("no cursor")
		}
		growth := int64(s.peak) - int64(base)
		t.Logf("%s: %d rows in %s (%.0f rows/s), live heap growth at most %.1f MB", driver, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), float64(growth)/(1<<20))
		if growth > bound {
			t.Errorf("live heap grew by %.1f MB while streaming; rows are being held", float64(growth)/(1<<20))
		}
		if elapsed > streamBudget {
			t.Errorf("streaming %d rows took %s (budget %s)", n, elapsed, streamBudget)
		}
	})
}

// BenchmarkStream1M reads a 1,000,000-row table through the plugin's
// streaming path and reports rows/s (make bench; not part of go test).
func BenchmarkStream1M(b *testing.B) {
	const n = 1_000_000
	for _, driver := range drivers {
		b.Run(driver, func(b *testing.B) {
			d := newTestDB(b, driver)
			createBig(b, d, n)
			p := mustConfigure(b, bigConfig(d))
			rows := 0
			for b.Loop() {
				s := &countSink{}
				if err := p.read(context.Background(), kindCatalog, "", s); err != nil {
					b.Fatal(err)
				}
				if s.rows != n {
					b.Fatalf("%d rows", s.rows)
				}
				rows += s.rows
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
