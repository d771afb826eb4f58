package store

import (
	"context"
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
	wrap := func(err error) error { return fmt.Errorf("store: lock %s: %w", key, err) }
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, false, wrap(err)
	}
	// The lock lives as long as the transaction, which must outlive ctx.
	tx, err := conn.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		_ = conn.Close()
		return nil, false, wrap(err)
	}
	release := func() {
		_ = tx.Rollback()
		_ = conn.Close()
	}
	var got bool
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1)`, lockKey("lock", s.schema, key)).Scan(&got); err != nil {
		release()
		return nil, false, wrap(err)
	}
	if !got {
		release()
		return nil, false, nil
	}
	return s.locks.add(release), true, nil
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
