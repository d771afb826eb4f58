package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Migrations live in migrations/<dialect>/NNNN_name.sql, one set per dialect
// with the same version numbers. A migration is a list of statements, each
// ending with a semicolon at the end of a line. Open applies the missing ones,
// all in one transaction, and records them in schema_migrations. Versions in
// the database that this binary does not know (a newer binary migrated it)
// are left alone, so migrations must stay backwards compatible (additive).
//
//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	stmts   []string
}

var migrationName = regexp.MustCompile(`^(\d+)_([a-z0-9_]+)\.sql$`)

func loadMigrations(d dialect) ([]migration, error) {
	dir := "migrations/" + d.String()
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("%s/%s: migration file names must look like 0001_name.sql", dir, e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("%s: migrations %s and %s have the same version %d", dir, prev, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(migrationFS, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: m[2], stmts: splitStatements(string(body))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// splitStatements splits SQL at semicolons that end a line, dropping pieces
// that hold only comments and blank lines.
func splitStatements(src string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		for _, line := range strings.Split(s, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
				out = append(out, s)
				return
			}
		}
	}
	for _, line := range strings.SplitAfter(src, "\n") {
		cur.WriteString(line)
		code := line
		if i := strings.Index(code, "--"); i >= 0 {
			code = code[:i]
		}
		if strings.HasSuffix(strings.TrimSpace(code), ";") {
			flush()
		}
	}
	flush()
	return out
}

// lockKey derives a 64-bit advisory lock key.
func lockKey(parts ...string) int64 {
	h := fnv.New64a()
	h.Write([]byte("acs-connector"))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return int64(h.Sum64())
}

// migrate applies the missing migrations in one transaction. On PostgreSQL
// the transaction first takes an advisory lock (per schema), so hosts opening
// the same database at once migrate one after the other; on SQLite the
// transaction is BEGIN IMMEDIATE, which does the same for processes sharing
// the file.
func (b *base) migrate(ctx context.Context, pgSchema string) error {
	migs, err := loadMigrations(b.dialect)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	err = b.inTx(ctx, func(tx *sql.Tx) error {
		appliedType := "INTEGER"
		if b.dialect == dialectPostgres {
			appliedType = "TIMESTAMPTZ"
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("migrate", pgSchema)); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at `+appliedType+` NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied := map[int]bool{}
		rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				_ = rows.Close()
				return fmt.Errorf("read schema_migrations: %w", err)
			}
			applied[v] = true
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		for _, m := range migs {
			if applied[m.version] {
				continue
			}
			for i, stmt := range m.stmts {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migration %04d_%s statement %d: %w", m.version, m.name, i+1, err)
				}
			}
			if _, err := tx.ExecContext(ctx, b.q(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
				m.version, m.name, b.tv(now())); err != nil {
				return fmt.Errorf("record migration %04d_%s: %w", m.version, m.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: migrate %s: %w", b.dialect, err)
	}
	return nil
}
