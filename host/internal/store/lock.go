package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// Locker is a named lock shared by every host on the database. Both stores
// implement it; it is not part of Store, so callers find it with a type
// assertion.
type Locker interface {
	// TryLock takes the lock named key if nobody holds it; ok=false when
	// someone (this host or another) does. The caller must call unlock
	// (once; later calls are no-ops). Nothing is recorded: the lock only
	// excludes while it is held. On PostgreSQL it is a transaction-scoped
	// advisory lock on a dedicated connection, so a host that dies releases
	// it; on SQLite it is process-local.
	TryLock(ctx context.Context, key string) (unlock func(), ok bool, err error)
}

var (
	_ Locker = (*pgStore)(nil)
	_ Locker = (*sqliteStore)(nil)
)

func (s *pgStore) TryLock(ctx context.Context, key string) (func(), bool, error) {
	_, end, got, err := s.advisoryTx(ctx, lockKey("lock", s.schema, key))
	if err != nil {
		return nil, false, fmt.Errorf("store: lock %s: %w", key, err)
	}
	if !got {
		return nil, false, nil
	}
	return s.locks.add(func() { end(false) }), true, nil
}

// advisoryTx takes the transaction-scoped advisory lock key in a new
// transaction on a dedicated connection. The transaction, and with it the
// lock, outlives ctx: it lasts until end (commit or roll back), or until the
// connection dies with its host. got=false, with nothing held, when another
// session has the lock.
func (s *pgStore) advisoryTx(ctx context.Context, key int64) (tx *sql.Tx, end func(commit bool), got bool, err error) {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	tx, err = conn.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		_ = conn.Close()
		return nil, nil, false, err
	}
	end = func(commit bool) {
		if commit {
			_ = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
		_ = conn.Close()
	}
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1)`, key).Scan(&got); err != nil || !got {
		end(false)
		return nil, nil, false, err
	}
	return tx, end, true, nil
}

// sqliteLocks are the named locks held in this process, keyed by database
// and name.
var sqliteLocks = struct {
	sync.Mutex
	held map[string]bool
}{held: map[string]bool{}}

func (s *sqliteStore) TryLock(_ context.Context, key string) (func(), bool, error) {
	k := s.lockID + "\x00" + key
	sqliteLocks.Lock()
	defer sqliteLocks.Unlock()
	if sqliteLocks.held[k] {
		return nil, false, nil
	}
	sqliteLocks.held[k] = true
	return s.locks.add(func() {
		sqliteLocks.Lock()
		delete(sqliteLocks.held, k)
		sqliteLocks.Unlock()
	}), true, nil
}
