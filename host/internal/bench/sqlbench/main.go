// Command sqlbench is the baseline of the sql plugin's BenchmarkStream1M
// (plugins/sql/stream_test.go), for `make bench` (docs/benchmarks.md).
//
// It builds the same table in a fresh database (the same CREATE TABLE and
// recursive-CTE INSERT as the test's createBig, -rows rows of about 400
// bytes of feed text each) and reads it with the same feed query (the
// test's bigQuery) through plain database/sql in this process: rows.Scan
// into []any, nothing else (no conversion to feed values, no records, no
// rejects). The drivers are the plugin's: modernc.org/sqlite ("sqlite") and
// pgx ("pgx", a database of its own on the server named by -dsn, dropped
// afterwards).
//
// Like the benchmark, which creates its table in the test process, the
// table is created in this process, so the peak RSS of the two processes is
// comparable. It prints one JSON line.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"

	"github.com/acs-connector/acs-connector/host/internal/bench/benchutil"
)

const prog = "sqlbench"

// bigQuery is plugins/sql/stream_test.go's feed query.
const bigQuery = `SELECT sku AS id, title, description,
       'https://shop.example.com/p/' || sku AS link,
       'https://shop.example.com/i/' || sku || '.jpg' AS image_link,
       'Acme' AS brand, sku AS mpn, 'Home > Kitchen' AS product_category,
       CASE WHEN qty > 0 THEN 'in_stock' ELSE 'out_of_stock' END AS availability,
       qty AS inventory_quantity, price, updated_at
  FROM big ORDER BY big.id`

// createBig is plugins/sql/stream_test.go's createBig.
func createBig(db *sql.DB, n int) error {
	desc := strings.Repeat("A sturdy enamel mug that keeps coffee warm. ", 4)
	for _, s := range []string{
		`CREATE TABLE big (id INTEGER PRIMARY KEY, sku VARCHAR(32) NOT NULL, title VARCHAR(200) NOT NULL,
		   description TEXT NOT NULL, price NUMERIC(12, 2) NOT NULL, qty INTEGER NOT NULL, updated_at TIMESTAMP NOT NULL)`,
		fmt.Sprintf(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d)
		  INSERT INTO big (id, sku, title, description, price, qty, updated_at)
		  SELECT i, 'SKU-' || CAST(i AS VARCHAR(20)), 'Enamel mug no. ' || CAST(i AS VARCHAR(20)),
		         '%s' || CAST(i AS VARCHAR(20)), (i %% 100000) / 100.0 + 0.99, i %% 50, '2024-01-01 00:00:00'
		    FROM s`, n, desc),
	} {
		if _, err := db.Exec(s); err != nil {
			return fmt.Errorf("%w\n%s", err, s)
		}
	}
	return nil
}

// Result is the output line.
type Result struct {
	Bench         string  `json:"bench"` // "sql_stream"
	Variant       string  `json:"variant"`
	Driver        string  `json:"driver"`
	Round         int     `json:"round"`
	Rows          int     `json:"rows"`
	CreateSeconds float64 `json:"create_seconds"`
	Seconds       float64 `json:"seconds"`
	RowsPerSecond float64 `json:"rows_per_second"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	LoadAvg       float64 `json:"load_avg_1m"`
}

func main() {
	driver := flag.String("driver", "sqlite", "sqlite or postgres")
	rows := flag.Int("rows", 1_000_000, "rows in the table")
	dsn := flag.String("dsn", os.Getenv("ACS_TEST_POSTGRES_DSN"), "PostgreSQL admin DSN (a database is created and dropped)")
	round := flag.Int("round", 0, "round number, copied to the output")
	flag.Parse()
	res, err := run(*driver, *dsn, *rows)
	if err != nil {
		fmt.Fprintln(os.Stderr, prog+":", err)
		os.Exit(1)
	}
	res.Round = *round
	benchutil.Emit(res)
}

func run(driver, adminDSN string, n int) (Result, error) {
	res := Result{Bench: "sql_stream", Variant: "plain", Driver: driver, Rows: n, LoadAvg: benchutil.LoadAvg()}
	var db *sql.DB
	var err error
	switch driver {
	case "sqlite":
		dir, err := os.MkdirTemp("", "sqlbench")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		// The test's newTestDB.
		db, err = sql.Open("sqlite", filepath.Join(dir, "test.db")+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
		if err != nil {
			return res, err
		}
	case "postgres":
		if adminDSN == "" {
			return res, fmt.Errorf("postgres needs -dsn or ACS_TEST_POSTGRES_DSN")
		}
		name := fmt.Sprintf("acs_sqlbench_%d_%d", os.Getpid(), time.Now().UnixNano()%1_000_000)
		admin, err := sql.Open("pgx", adminDSN)
		if err != nil {
			return res, err
		}
		defer admin.Close()
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			return res, fmt.Errorf("create database: %w", err)
		}
		defer func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") }()
		u, err := url.Parse(adminDSN)
		if err != nil {
			return res, fmt.Errorf("-dsn must be a postgres:// URL: %w", err)
		}
		u.Path = "/" + name
		if db, err = sql.Open("pgx", u.String()); err != nil {
			return res, err
		}
	default:
		return res, fmt.Errorf("unknown driver %q", driver)
	}
	defer db.Close()

	start := time.Now()
	if err := createBig(db, n); err != nil {
		return res, err
	}
	res.CreateSeconds = benchutil.Round(time.Since(start).Seconds(), 2)

	cpu0 := benchutil.SelfCPU()
	start = time.Now()
	rs, err := db.QueryContext(context.Background(), bigQuery)
	if err != nil {
		return res, err
	}
	cols, err := rs.Columns()
	if err != nil {
		return res, err
	}
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	got := 0
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return res, err
		}
		got++
	}
	if err := rs.Err(); err != nil {
		return res, err
	}
	rs.Close()
	elapsed := time.Since(start)
	if got != n {
		return res, fmt.Errorf("read %d rows, want %d", got, n)
	}
	res.Seconds = benchutil.Round(elapsed.Seconds(), 3)
	res.RowsPerSecond = benchutil.Round(float64(n)/elapsed.Seconds(), 0)
	res.CPUSeconds = benchutil.Round(benchutil.SelfCPU()-cpu0, 2)
	res.PeakRSSMiB, _ = benchutil.PeakRSSMiB("self")
	res.PeakRSSMiB = benchutil.Round(res.PeakRSSMiB, 1)
	return res, nil
}
