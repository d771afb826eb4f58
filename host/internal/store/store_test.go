package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

var (
	_ Store = (*sqliteStore)(nil)
	_ Store = (*pgStore)(nil)
)

// TestSQLite runs the suite against SQLite, one temp file per test.
func TestSQLite(t *testing.T) {
	t.Parallel()
	runSuite(t, env{driver: "sqlite", fresh: func(t *testing.T) string {
		return filepath.Join(t.TempDir(), "state.db")
	}})
}

// TestPostgres runs the suite against the server in ACS_TEST_POSTGRES_DSN
// (see .ci/postgres.sh), one fresh schema per test, dropped afterwards.
func TestPostgres(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("ACS_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("ACS_REQUIRE_POSTGRES") == "1" {
			t.Fatal("ACS_REQUIRE_POSTGRES=1 but ACS_TEST_POSTGRES_DSN is empty")
		}
		t.Skip("ACS_TEST_POSTGRES_DSN is not set")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.PingContext(context.Background()); err != nil {
		t.Fatalf("ACS_TEST_POSTGRES_DSN: %v", err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	prefix := "acs_test_" + hex.EncodeToString(rnd[:])
	var n atomic.Int64
	runSuite(t, env{driver: "postgres", fresh: func(t *testing.T) string {
		schema := prefix + "_" + itoa(n.Add(1))
		if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
			t.Fatalf("create schema: %v", err)
		}
		t.Cleanup(func() {
			if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
			}
		})
		return withSearchPath(t, dsn, schema)
	}})
}

// withSearchPath points a libpq URL or keyword/value DSN at schema.
func withSearchPath(t *testing.T, dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("ACS_TEST_POSTGRES_DSN: %v", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}
