package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// pgStore is the multi-host store. Row-level atomicity comes from single
// UPDATE ... WHERE / INSERT ... ON CONFLICT statements (and SELECT ... FOR
// UPDATE in UpdateOrderPayment); tick exclusivity from advisory locks.
type pgStore struct {
	base
	schema string // current_schema() of the connection; part of lock keys
	locks  heldLocks
}

func openDB(driver, dsn string) (*sql.DB, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", driver, err)
	}
	return db, nil
}

func openPostgres(ctx context.Context, dsn string) (*pgStore, error) {
	if dsn == "" {
		return nil, errors.New("store: postgres: empty DSN")
	}
	db, err := openDB("pgx", dsn)
	if err != nil {
		return nil, err
	}
	// TryLockTick keeps one connection per running job; leave room for them.
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &pgStore{base: base{dialect: dialectPostgres, w: db, r: db}}
	var schema sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: postgres: connect: %w", err)
	}
	if !schema.Valid {
		_ = db.Close()
		return nil, errors.New("store: postgres: no schema to create tables in (check search_path)")
	}
	s.schema = schema.String
	if err := s.migrate(ctx, s.schema); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func (s *pgStore) tickKey(job string) int64 { return lockKey("tick", s.schema, job) }

func (s *pgStore) TryLockTick(ctx context.Context, job string, tick time.Time) (func(), bool, error) {
	wrap := func(err error) error { return fmt.Errorf("store: lock tick of %s: %w", job, err) }
	tx, end, got, err := s.advisoryTx(ctx, s.tickKey(job))
	if err != nil {
		return nil, false, wrap(err)
	}
	if !got {
		return nil, false, nil
	}
	abandon := func() { end(false) }
	// Recorded in the lock's transaction: visible to other hosts once the
	// run ends, gone again if the host dies mid-run.
	res, err := tx.ExecContext(ctx, `INSERT INTO tick_locks (job, tick, locked_at) VALUES ($1, $2, $3)
		ON CONFLICT (job, tick) DO NOTHING`, job, s.tv(tick), s.tv(now()))
	if err != nil {
		abandon()
		return nil, false, wrap(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		abandon()
		if err != nil {
			return nil, false, wrap(err)
		}
		return nil, false, nil // this tick already ran
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM tick_locks WHERE job = $1 AND tick < $2`,
		job, s.tv(tick.Add(-TickRetention))); err != nil {
		abandon()
		return nil, false, wrap(fmt.Errorf("prune: %w", err))
	}
	// Committed at unlock: the (job, tick) row then tells other hosts the
	// tick ran.
	return s.locks.add(func() { end(true) }), true, nil
}

func (s *pgStore) Close() error {
	s.locks.releaseAll()
	return s.closeDBs()
}
