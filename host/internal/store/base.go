package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

type dialect int

const (
	dialectSQLite dialect = iota + 1
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// base holds the SQL shared by both dialects. Queries are written with ?
// placeholders and rewritten to $n for PostgreSQL.
type base struct {
	dialect dialect
	// w runs writes and transactions. On SQLite it is a pool of exactly one
	// connection, so writers queue in Go instead of failing with SQLITE_BUSY.
	w *sql.DB
	// r runs plain reads. On SQLite it is a separate pool of read-only
	// connections (WAL lets them read while a write is in progress); on
	// PostgreSQL it is w.
	r *sql.DB

	rebound sync.Map // query -> rebound query (PostgreSQL)

	// syncPage is the page size of VanishedItems (0: defaultSyncPage); tests
	// set it per store to page through small tables.
	syncPage int
}

// q rewrites ? placeholders to $1, $2, ... for PostgreSQL. Queries must not
// contain a literal question mark.
func (b *base) q(query string) string {
	if b.dialect != dialectPostgres {
		return query
	}
	if v, ok := b.rebound.Load(query); ok {
		return v.(string)
	}
	var sb strings.Builder
	sb.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			sb.WriteByte('$')
			sb.WriteString(strconv.Itoa(n))
			continue
		}
		sb.WriteByte(query[i])
	}
	out := sb.String()
	b.rebound.Store(query, out)
	return out
}

// now is the store's clock: UTC, microsecond precision (what both databases
// keep).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// tv converts a time to a query argument: NULL for the zero time, unix
// microseconds on SQLite, timestamptz on PostgreSQL.
func (b *base) tv(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = normTime(t)
	if b.dialect == dialectSQLite {
		return t.UnixMicro()
	}
	return t
}

// tcol scans a time column of either dialect; NULL becomes the zero time.
type tcol struct{ p *time.Time }

func (c tcol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.p = time.Time{}
	case time.Time:
		*c.p = v.UTC()
	case int64:
		*c.p = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("store: cannot scan %T into a time", src)
	}
	return nil
}

// nstr scans a nullable text column; NULL becomes "".
type nstr struct{ p *string }

func (c nstr) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.p = ""
	case string:
		*c.p = v
	case []byte:
		*c.p = string(v)
	default:
		return fmt.Errorf("store: cannot scan %T into a string", src)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

// inTx runs fn in a write transaction and commits it.
func (b *base) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func limitClause(limit int) string {
	if limit <= 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(limit)
}

func notFound(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrNotFound)...)
}

// placeholders returns "?,?,...,?" (n of them).
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

// inList returns a condition "col IN (...)" or "col = ANY(?)" and its
// arguments for a batch of strings.
func (b *base) inList(col string, vals []string) (string, []any) {
	if b.dialect == dialectPostgres {
		return col + " = ANY(?::text[])", []any{vals}
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return col + " IN (" + placeholders(len(vals)) + ")", args
}

func (b *base) Ping(ctx context.Context) error {
	if err := b.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", b.dialect, err)
	}
	if b.r != b.w {
		if err := b.r.PingContext(ctx); err != nil {
			return fmt.Errorf("store: ping %s (read pool): %w", b.dialect, err)
		}
	}
	return nil
}

func (b *base) closeDBs() error {
	var errs []error
	if b.r != nil && b.r != b.w {
		errs = append(errs, b.r.Close())
	}
	if b.w != nil {
		errs = append(errs, b.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// ---------------------------------------------------------------- cursors

func (b *base) GetCursor(ctx context.Context, key string) (string, error) {
	var v string
	err := b.r.QueryRowContext(ctx, b.q(`SELECT value FROM cursors WHERE key = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: get cursor %q: %w", key, err)
	}
	return v, nil
}

func (b *base) SetCursor(ctx context.Context, key, value string) error {
	_, err := b.w.ExecContext(ctx, b.q(`INSERT INTO cursors (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
		key, value, b.tv(now()))
	if err != nil {
		return fmt.Errorf("store: set cursor %q: %w", key, err)
	}
	return nil
}

// ---------------------------------------------------------------- hooks

const hookCols = `id, kind, response, created_at, finished_at, lease_until`

// scanOptional reads the row an UPDATE ... RETURNING may have produced:
// nil when the statement matched nothing. rows is always closed, and its
// iteration and close errors are not lost.
func scanOptional[T any](rows *sql.Rows, scan func(scanner) (*T, error)) (*T, error) {
	var v *T
	var err error
	if rows.Next() {
		v, err = scan(rows)
	}
	if err == nil {
		err = rows.Err()
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return v, err
}

func scanHook(sc scanner) (*HookRecord, error) {
	var h HookRecord
	var resp []byte
	if err := sc.Scan(&h.ID, &h.Kind, &resp, tcol{&h.CreatedAt}, tcol{&h.FinishedAt}, tcol{&h.LeaseUntil}); err != nil {
		return nil, err
	}
	if !h.FinishedAt.IsZero() {
		if resp == nil {
			resp = []byte{}
		}
		h.Response = resp
	}
	return &h, nil
}

// The hook records' SQL, shared by the direct path below and the SQLite
// group commit (hookwriter.go).
const (
	sqlBeginHook = `INSERT INTO hooks (id, kind, created_at, lease_until) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until
		WHERE hooks.finished_at IS NULL AND hooks.lease_until < ?
		RETURNING ` + hookCols
	sqlFinishHook = `UPDATE hooks SET response = ?, finished_at = ? WHERE id = ? AND finished_at IS NULL`
	sqlGetHook    = `SELECT ` + hookCols + ` FROM hooks WHERE id = ?`
	// sqlStoreHook writes a whole answered record whose claim was kept
	// elsewhere (in memory on SQLite); an answer already stored stays.
	sqlStoreHook = `INSERT INTO hooks (id, kind, response, created_at, finished_at, lease_until) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET response = excluded.response, finished_at = excluded.finished_at
		WHERE hooks.finished_at IS NULL`
)

// querier runs the hook records' SQL (written with ? placeholders) on a
// database, a transaction, or prepared statements.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// dbQuerier runs queries on db, rebinding placeholders for the dialect.
type dbQuerier struct {
	b  *base
	db *sql.DB
}

func (d dbQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.db.QueryContext(ctx, d.b.q(query), args...)
}

func (d dbQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.db.ExecContext(ctx, d.b.q(query), args...)
}

func checkBeginHook(hookID string, lease time.Duration) error {
	if hookID == "" {
		return errors.New("store: begin hook: empty hook id")
	}
	if lease <= 0 {
		return fmt.Errorf("store: begin hook %s: lease must be positive, got %s", hookID, lease)
	}
	return nil
}

func (b *base) BeginHook(ctx context.Context, hookID, kind string, lease time.Duration) (*HookRecord, bool, error) {
	if err := checkBeginHook(hookID, lease); err != nil {
		return nil, false, err
	}
	return b.beginHook(ctx, dbQuerier{b, b.w}, hookID, kind, lease)
}

func (b *base) beginHook(ctx context.Context, q querier, hookID, kind string, lease time.Duration) (*HookRecord, bool, error) {
	ts := now()
	// Insert, or take over an unfinished hook whose owner's lease ran out.
	rows, err := q.QueryContext(ctx, sqlBeginHook, hookID, kind, b.tv(ts), b.tv(ts.Add(lease)), b.tv(ts))
	if err != nil {
		return nil, false, fmt.Errorf("store: begin hook %s: %w", hookID, err)
	}
	rec, err := scanOptional(rows, scanHook)
	if err != nil {
		return nil, false, fmt.Errorf("store: begin hook %s: %w", hookID, err)
	}
	if rec != nil {
		return rec, true, nil
	}
	existing, err := getHook(ctx, q, hookID)
	if err != nil {
		return nil, false, fmt.Errorf("store: begin hook %s: %w", hookID, err)
	}
	return existing, false, nil
}

func (b *base) FinishHook(ctx context.Context, hookID string, response []byte) error {
	return b.finishHook(ctx, dbQuerier{b, b.w}, hookID, response)
}

func (b *base) finishHook(ctx context.Context, q querier, hookID string, response []byte) error {
	if response == nil {
		response = []byte{}
	}
	res, err := q.ExecContext(ctx, sqlFinishHook, response, b.tv(now()), hookID)
	if err != nil {
		return fmt.Errorf("store: finish hook %s: %w", hookID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: finish hook %s: %w", hookID, err)
	} else if n == 0 {
		if _, err := getHook(ctx, q, hookID); err != nil {
			return fmt.Errorf("store: finish hook %s: %w", hookID, err)
		}
		// Already finished: the first answer stays.
	}
	return nil
}

// storeHook writes the answer to claim and returns the stored record: this
// answer, or the one stored first. The common case, a new answer, needs no
// read back: the record is what was written.
func (b *base) storeHook(ctx context.Context, q querier, claim *HookRecord, response []byte) (*HookRecord, error) {
	finished := now()
	res, err := q.ExecContext(ctx, sqlStoreHook, claim.ID, claim.Kind, response,
		b.tv(claim.CreatedAt), b.tv(finished), b.tv(claim.LeaseUntil))
	if err != nil {
		return nil, fmt.Errorf("store: finish hook %s: %w", claim.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("store: finish hook %s: %w", claim.ID, err)
	}
	if n == 1 {
		rec := *claim
		rec.Response, rec.FinishedAt = response, finished
		rec.CreatedAt, rec.LeaseUntil = normTime(rec.CreatedAt), normTime(rec.LeaseUntil)
		return &rec, nil
	}
	rec, err := getHook(ctx, q, claim.ID)
	if err != nil {
		return nil, fmt.Errorf("store: finish hook %s: %w", claim.ID, err)
	}
	return rec, nil
}

func (b *base) GetHook(ctx context.Context, hookID string) (*HookRecord, error) {
	h, err := getHook(ctx, dbQuerier{b, b.r}, hookID)
	if err != nil {
		return nil, fmt.Errorf("store: get hook %s: %w", hookID, err)
	}
	return h, nil
}

// getHook returns the record of hookID, ErrNotFound when there is none.
func getHook(ctx context.Context, q querier, hookID string) (*HookRecord, error) {
	rows, err := q.QueryContext(ctx, sqlGetHook, hookID)
	if err != nil {
		return nil, err
	}
	h, err := scanOptional(rows, scanHook)
	if err == nil && h == nil {
		return nil, ErrNotFound
	}
	return h, err
}

// ---------------------------------------------------------------- order updates

func (b *base) BeginOrderUpdate(ctx context.Context, updateID, sessionID, kind string, payload []byte) (bool, error) {
	if updateID == "" {
		return false, errors.New("store: begin order update: empty update id")
	}
	ts := now()
	rows, err := b.w.QueryContext(ctx, b.q(`INSERT INTO order_updates (update_id, session_id, kind, payload, created_at, started_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (update_id) DO UPDATE SET started_at = excluded.started_at
		WHERE order_updates.finished_at IS NULL AND order_updates.started_at < ?
		RETURNING update_id`),
		updateID, sessionID, kind, payload, b.tv(ts), b.tv(ts), b.tv(ts.Add(-OrderUpdateReclaimAfter)))
	if err != nil {
		return false, fmt.Errorf("store: begin order update %s: %w", updateID, err)
	}
	started := rows.Next()
	err = rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("store: begin order update %s: %w", updateID, err)
	}
	return started, nil
}

func (b *base) FinishOrderUpdate(ctx context.Context, updateID, outcome, refundID string) error {
	res, err := b.w.ExecContext(ctx, b.q(`UPDATE order_updates SET outcome = ?, refund_id = ?, finished_at = ? WHERE update_id = ?`),
		outcome, refundID, b.tv(now()), updateID)
	if err != nil {
		return fmt.Errorf("store: finish order update %s: %w", updateID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: finish order update %s: %w", updateID, err)
	} else if n == 0 {
		return notFound("store: finish order update %s", updateID)
	}
	return nil
}

// ---------------------------------------------------------------- runs

const runCols = `id, job, tick, host, started_at, finished_at, outcome, message`

func scanRun(sc scanner) (Run, error) {
	var r Run
	err := sc.Scan(&r.ID, &r.Job, tcol{&r.Tick}, &r.Host, tcol{&r.StartedAt}, tcol{&r.FinishedAt}, &r.Outcome, &r.Message)
	return r, err
}

func (b *base) StartRun(ctx context.Context, job string, tick time.Time, host string) (int64, error) {
	var id int64
	err := b.w.QueryRowContext(ctx, b.q(`INSERT INTO runs (job, tick, host, started_at) VALUES (?, ?, ?, ?) RETURNING id`),
		job, b.tv(tick), host, b.tv(now())).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: start run of %s: %w", job, err)
	}
	return id, nil
}

func (b *base) FinishRun(ctx context.Context, runID int64, outcome, message string) error {
	res, err := b.w.ExecContext(ctx, b.q(`UPDATE runs SET finished_at = ?, outcome = ?, message = ? WHERE id = ?`),
		b.tv(now()), outcome, message, runID)
	if err != nil {
		return fmt.Errorf("store: finish run %d: %w", runID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: finish run %d: %w", runID, err)
	} else if n == 0 {
		return notFound("store: finish run %d", runID)
	}
	return nil
}

func (b *base) queryRuns(ctx context.Context, what, query string, args ...any) ([]Run, error) {
	rows, err := b.r.QueryContext(ctx, b.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

func (b *base) RecentRuns(ctx context.Context, job string, limit int) ([]Run, error) {
	return b.queryRuns(ctx, "recent runs of "+job,
		`SELECT `+runCols+` FROM runs WHERE job = ? ORDER BY id DESC`+limitClause(limit), job)
}

func (b *base) LastRuns(ctx context.Context) ([]Run, error) {
	return b.queryRuns(ctx, "last runs",
		`SELECT `+runCols+` FROM runs WHERE id IN (SELECT MAX(id) FROM runs GROUP BY job) ORDER BY job`)
}
