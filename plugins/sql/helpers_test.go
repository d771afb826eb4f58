package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/sdktest"
)

// testDB is a throwaway database: a SQLite file in a temp dir, or a
// PostgreSQL database created for the test on the server named by
// ACS_TEST_POSTGRES_DSN and dropped afterwards.
type testDB struct {
	driver string
	dsn    string
	db     *sql.DB
}

func (d *testDB) pg() bool { return d.driver == driverPostgres }

var drivers = []string{driverSQLite, driverPostgres}

// forEachDriver runs fn once per database; the PostgreSQL run skips when
// ACS_TEST_POSTGRES_DSN is empty (fails with ACS_REQUIRE_POSTGRES=1).
func forEachDriver(t *testing.T, fn func(t *testing.T, driver string)) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			if drv == driverPostgres {
				pgAdminDSN(t)
			}
			fn(t, drv)
		})
	}
}

func pgAdminDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("ACS_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("ACS_REQUIRE_POSTGRES") == "1" {
			t.Fatal("ACS_REQUIRE_POSTGRES=1 but ACS_TEST_POSTGRES_DSN is empty")
		}
		t.Skip("ACS_TEST_POSTGRES_DSN is not set; skipping the PostgreSQL run")
	}
	return dsn
}

var dbSeq atomic.Int64

func newTestDB(t testing.TB, driver string) *testDB {
	t.Helper()
	if driver == driverPostgres {
		return newPostgresDB(t)
	}
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return &testDB{driver: driverSQLite, dsn: path, db: db}
}

// newPostgresDB creates a database of its own, so parallel tests and
// packages sharing the server never see each other's tables.
func newPostgresDB(t testing.TB) *testDB {
	t.Helper()
	admin := pgAdminDSN(t)
	name := fmt.Sprintf("acs_sqlplugin_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1_000_000, dbSeq.Add(1))
	adb, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer adb.Close()
	if _, err := adb.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	dsn := withDatabase(t, admin, name)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		adb, err := sql.Open("pgx", admin)
		if err != nil {
			t.Error(err)
			return
		}
		defer adb.Close()
		if _, err := adb.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return &testDB{driver: driverPostgres, dsn: dsn, db: db}
}

// withDatabase points a PostgreSQL DSN (URL or key=value) at database name.
func withDatabase(t testing.TB, dsn, name string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		return u.String()
	}
	return dsn + " dbname=" + name
}

func (d *testDB) exec(t testing.TB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := d.db.Exec(s); err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
	}
}

// execFile runs every statement of a .sql file.
func (d *testDB) execFile(t testing.TB, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d.exec(t, splitSQL(t, string(b), d.pg())...)
}

func splitSQL(t testing.TB, q string, pg bool) []string {
	sp, err := spans(q, pg)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	start := 0
	for _, s := range sp {
		if !s.code {
			continue
		}
		for i := s.start; i < s.end; i++ {
			if q[i] == ';' {
				if stmt := strings.TrimSpace(q[start:i]); stmt != "" && !onlyComments(stmt, pg) {
					out = append(out, stmt)
				}
				start = i + 1
			}
		}
	}
	if stmt := strings.TrimSpace(q[start:]); stmt != "" && !onlyComments(stmt, pg) {
		out = append(out, stmt)
	}
	return out
}

func onlyComments(q string, pg bool) bool {
	sp, _ := spans(q, pg)
	for _, s := range sp {
		if s.code && strings.TrimSpace(q[s.start:s.end]) != "" {
			return false
		}
		if !s.code && q[s.start] != '-' && q[s.start] != '/' {
			return false
		}
	}
	return true
}

func (d *testDB) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := d.db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// loadExample creates an example's schema and seed in a fresh database and
// returns its config block pointed at that database.
func loadExample(t testing.TB, example, driver string) (*testDB, map[string]any) {
	t.Helper()
	d := newTestDB(t, driver)
	dir := filepath.Join("examples", example)
	d.execFile(t, filepath.Join(dir, "schema.sql"))
	d.execFile(t, filepath.Join(dir, "seed.sql"))
	cfg := exampleConfig(t, example)
	cfg["driver"] = driver
	cfg["dsn"] = d.dsn
	return d, cfg
}

func exampleConfig(t testing.TB, example string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("examples", example, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func queriesOf(cfg map[string]any) map[string]any { return cfg["queries"].(map[string]any) }

func paramsOf(cfg map[string]any) map[string]any {
	p, _ := cfg["params"].(map[string]any)
	if p == nil {
		p = map[string]any{}
		cfg["params"] = p
	}
	return p
}

// start runs the plugin in-process over the real protocol and configures it.
func start(t testing.TB, cfg any) *sdktest.Client {
	t.Helper()
	c := sdktest.Start(t, newPlugin())
	errs, err := c.Configure(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if len(errs) > 0 {
		t.Fatalf("Configure: %v", errs)
	}
	return c
}

// configure configures a plugin directly (no gRPC), for tests that drive
// its internals.
func configure(t testing.TB, cfg any) (*plugin, []sdk.FieldError) {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := newPlugin()
	var resp sdk.ConfigureResponse
	_ = p.Configure(context.Background(), &sdk.ConfigureRequest{Config: raw, Source: "test"}, &resp)
	t.Cleanup(func() { p.Stop(context.Background()) })
	return p, resp.Errors
}

func mustConfigure(t testing.TB, cfg any) *plugin {
	t.Helper()
	p, errs := configure(t, cfg)
	if len(errs) > 0 {
		t.Fatalf("Configure: %v", errs)
	}
	return p
}

// sink collects what a read writes, for tests that call read directly.
type sink struct {
	cols    [][]string
	rows    [][]string
	origins []string
	rejects []sdk.RecordError
	cursor  string
	onRow   func(n int)
}

func (s *sink) WriteValues(origin string, columns, values []string) error {
	s.cols = append(s.cols, columns)
	s.rows = append(s.rows, append([]string(nil), values...))
	s.origins = append(s.origins, origin)
	return nil
}

func (s *sink) Reject(e sdk.RecordError) error {
	s.rejects = append(s.rejects, e)
	return nil
}

func (s *sink) SetCursor(c string) { s.cursor = c }

func (s *sink) records() []sdk.Record {
	out := make([]sdk.Record, len(s.rows))
	for i, row := range s.rows {
		f := map[string]string{}
		for j, v := range row {
			if v != "" {
				f[s.cols[i][j]] = v
			}
		}
		out[i] = sdk.Record{Origin: s.origins[i], Fields: f}
	}
	return out
}

func ids(recs []sdk.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Fields["id"]
	}
	return out
}

func fieldErrors(errs []sdk.FieldError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  %s: %s", e.Field, e.Message)
	}
	return b.String()
}
