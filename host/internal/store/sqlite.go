package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite" // database/sql driver "sqlite"
)

// sqliteStore is the single-host store. Writes go through a pool of one
// connection whose transactions are BEGIN IMMEDIATE, so goroutines queue for
// it instead of failing with SQLITE_BUSY; reads use a separate pool of
// read-only connections, which WAL lets run alongside the writer. The busy
// timeout only matters for other processes opening the same file.
type sqliteStore struct {
	base
	lockID string // identifies the database for process-local tick locks
	locks  heldLocks
	hooks  *hookWriter
	claims *hookClaims
	reads  map[string]*sql.Stmt // prepared on the read pool
	// closeHooks makes Close idempotent for the hook claims' refcount.
	closeHooks sync.Once
	// filter lets BeginHook skip its read for ids never answered.
	filter     *hookFilter
	filterStop context.CancelFunc
	filterWG   sync.WaitGroup
	closed     atomic.Bool
}

// sqliteTicks are the tick locks held in this process, keyed by database and
// job, so that two Stores on one file exclude each other too.
var sqliteTicks = struct {
	sync.Mutex
	held map[string]bool
}{held: map[string]bool{}}

// synchronous(NORMAL) in WAL mode: a commit survives a crash of this
// process and the file never corrupts; only an OS crash or power loss can
// drop the last commits before a checkpoint. Everything the store holds is
// safe to lose that way: a hook answer is recomputed on Stripe's retry, an
// order is found again by reconciliation and re-pushed under the same
// idempotency key, and payments carry idempotency keys (refunds are also
// looked up by key). In exchange a commit costs no fsync, which was most of
// an approval hook's latency. Use PostgreSQL for stricter durability.
const sqliteParams = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"

func openSQLite(ctx context.Context, path string) (*sqliteStore, error) {
	if path == "" {
		return nil, errors.New("store: sqlite: empty database path")
	}
	s := &sqliteStore{base: base{dialect: dialectSQLite}}
	if path == ":memory:" {
		// One connection is the whole database: keep it forever.
		db, err := openDB("sqlite", ":memory:?"+sqliteParams+"&_txlock=immediate")
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		s.w, s.r = db, db
		s.lockID = fmt.Sprintf("memory:%p", s)
	} else {
		if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
			return nil, fmt.Errorf("store: sqlite: %q: give a plain file path (no file: URI, '?' or '#')", path)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
		}
		if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
			return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
		}
		w, err := openDB("sqlite", abs+"?"+sqliteParams+"&_txlock=immediate")
		if err != nil {
			return nil, err
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)
		s.w = w
		// Creates the file and switches it to WAL (persistent) before
		// readers open it.
		if err := setWAL(ctx, w); err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
		}
		r, err := openDB("sqlite", abs+"?"+sqliteParams+"&_pragma=query_only(1)")
		if err != nil {
			_ = w.Close()
			return nil, err
		}
		n := max(4, runtime.GOMAXPROCS(0))
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
		s.r = r
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		s.lockID = abs
	}
	if err := s.migrate(ctx, ""); err != nil {
		_ = s.closeDBs()
		return nil, fmt.Errorf("%w (database %s)", err, path)
	}
	hw, err := newHookWriter(ctx, &s.base)
	if err != nil {
		_ = s.closeDBs()
		return nil, fmt.Errorf("%w (database %s)", err, path)
	}
	s.hooks = hw
	get, err := s.r.PrepareContext(ctx, sqlGetHook)
	if err != nil {
		hw.close()
		_ = s.closeDBs()
		return nil, fmt.Errorf("store: prepare hook statements: %w (database %s)", err, path)
	}
	s.reads = map[string]*sql.Stmt{sqlGetHook: get}
	s.claims = acquireHookClaims(s.lockID)
	fctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.filterStop = stop
	s.filter = startHookFilter(fctx, s, &s.filterWG)
	return s, nil
}

// setWAL switches the database to WAL. SQLite answers SQLITE_BUSY without
// waiting for the busy timeout when another connection holds the file while
// the mode changes (several processes opening a new database at once), so
// retry for a while.
func setWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var mode string
		err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("journal_mode is %q, not wal (WAL needs a local file system)", mode)
			}
			return nil
		}
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqliteBusy || time.Now().After(deadline) {
			return fmt.Errorf("enable WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("enable WAL: %w", ctx.Err())
		case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
		}
	}
}

const sqliteBusy = 5 // SQLITE_BUSY

func (s *sqliteStore) TryLockTick(ctx context.Context, job string, tick time.Time) (func(), bool, error) {
	key := s.lockID + "\x00" + job
	sqliteTicks.Lock()
	if sqliteTicks.held[key] {
		sqliteTicks.Unlock()
		return nil, false, nil
	}
	sqliteTicks.held[key] = true
	sqliteTicks.Unlock()
	release := func() {
		sqliteTicks.Lock()
		delete(sqliteTicks.held, key)
		sqliteTicks.Unlock()
	}
	ok, err := s.recordTick(ctx, job, tick)
	if err != nil || !ok {
		release()
		return nil, false, err
	}
	return s.locks.add(release), true, nil
}

// recordTick inserts (job, tick) and prunes old ticks of job; false when the
// tick is already recorded.
func (s *sqliteStore) recordTick(ctx context.Context, job string, tick time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO tick_locks (job, tick, locked_at) VALUES (?, ?, ?)
		ON CONFLICT (job, tick) DO NOTHING`, job, s.tv(tick), s.tv(now()))
	if err != nil {
		return false, fmt.Errorf("store: lock tick of %s: %w", job, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: lock tick of %s: %w", job, err)
	}
	if n == 0 {
		return false, nil
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM tick_locks WHERE job = ? AND tick < ?`,
		job, s.tv(tick.Add(-TickRetention))); err != nil {
		return false, fmt.Errorf("store: lock tick of %s: prune: %w", job, err)
	}
	return true, nil
}

func (s *sqliteStore) Close() error {
	s.locks.releaseAll()
	s.closeHooks.Do(func() {
		s.closed.Store(true)
		s.filterStop()
		s.filterWG.Wait()
		s.hooks.close()
		for _, st := range s.reads {
			_ = st.Close()
		}
		releaseHookClaims(s.lockID, s.claims)
	})
	return s.closeDBs()
}

// heldLocks tracks the unlock functions a Store handed out, so Close can
// release them.
type heldLocks struct {
	mu   sync.Mutex
	next int
	fns  map[int]func()
}

// add registers release and returns the idempotent unlock function.
func (h *heldLocks) add(release func()) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fns == nil {
		h.fns = map[int]func(){}
	}
	id := h.next
	h.next++
	once := sync.OnceFunc(func() {
		h.mu.Lock()
		delete(h.fns, id)
		h.mu.Unlock()
		release()
	})
	h.fns[id] = once
	return once
}

func (h *heldLocks) releaseAll() {
	h.mu.Lock()
	fns := make([]func(), 0, len(h.fns))
	for _, f := range h.fns {
		fns = append(fns, f)
	}
	h.mu.Unlock()
	for _, f := range fns {
		f()
	}
}
