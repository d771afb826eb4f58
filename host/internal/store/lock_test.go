package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lockEnvs are the databases the Locker tests run against: SQLite, and
// PostgreSQL when ACS_TEST_POSTGRES_DSN is set (a fresh schema per test).
func lockEnvs(t *testing.T) map[string]env {
	envs := map[string]env{"sqlite": {driver: "sqlite", fresh: func(t *testing.T) string {
		return filepath.Join(t.TempDir(), "state.db")
	}}}
	dsn := os.Getenv("ACS_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("ACS_REQUIRE_POSTGRES") == "1" {
			t.Fatal("ACS_REQUIRE_POSTGRES=1 but ACS_TEST_POSTGRES_DSN is empty")
		}
		return envs
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	var n atomic.Int64
	envs["postgres"] = env{driver: "postgres", fresh: func(t *testing.T) string {
		schema := "acs_test_lock_" + itoa(time.Now().UnixNano()) + "_" + itoa(n.Add(1))
		if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
			t.Fatalf("create schema: %v", err)
		}
		t.Cleanup(func() { _, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
		return withSearchPath(t, dsn, schema)
	}}
	return envs
}

func TestTryLockExcludesAcrossStores(t *testing.T) {
	for name, e := range lockEnvs(t) {
		t.Run(name, func(t *testing.T) {
			dsn := e.fresh(t)
			a, b := e.open(t, dsn).(Locker), e.open(t, dsn).(Locker)
			unlock, ok, err := a.TryLock(context.Background(), "finish:1")
			if err != nil || !ok {
				t.Fatalf("first TryLock: %v %v", ok, err)
			}
			if _, ok, err := b.TryLock(context.Background(), "finish:1"); err != nil || ok {
				t.Fatalf("second store took a held lock: %v %v", ok, err)
			}
			if _, ok, _ := a.TryLock(context.Background(), "finish:1"); ok {
				t.Fatal("the holder took its own lock twice")
			}
			u2, ok, err := b.TryLock(context.Background(), "finish:2")
			if err != nil || !ok {
				t.Fatalf("another name must be free: %v %v", ok, err)
			}
			u2()
			unlock()
			unlock() // no-op
			u3, ok, err := b.TryLock(context.Background(), "finish:1")
			if err != nil || !ok {
				t.Fatalf("TryLock after unlock: %v %v", ok, err)
			}
			u3()

			// Of many concurrent takers, exactly one gets it. The winner
			// holds the lock until every taker has had its answer: a taker
			// still waiting for a connection when a fixed sleep ran out
			// would otherwise find the lock free again, and count twice.
			var wg, attempted sync.WaitGroup
			var got atomic.Int32
			start := make(chan struct{})
			release := make(chan struct{})
			for i := 0; i < 16; i++ {
				s := a
				if i%2 == 1 {
					s = b
				}
				wg.Add(1)
				attempted.Add(1)
				go func() {
					defer wg.Done()
					<-start
					unlock, ok, err := s.TryLock(context.Background(), "race")
					attempted.Done()
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						got.Add(1)
						<-release
						unlock()
					}
				}()
			}
			close(start)
			attempted.Wait()
			close(release)
			wg.Wait()
			if got.Load() != 1 {
				t.Errorf("%d of 16 concurrent TryLocks got the lock", got.Load())
			}
		})
	}
}

func TestTryLockReleasedWhenHostDies(t *testing.T) {
	e, ok := lockEnvs(t)["postgres"]
	if !ok {
		t.Skip("ACS_TEST_POSTGRES_DSN is not set")
	}
	dsn := e.fresh(t)
	dying, survivor := e.open(t, dsn), e.open(t, dsn)
	if _, ok, err := dying.(Locker).TryLock(ctx, "finish:7"); err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	key := lockKey("lock", dying.(*pgStore).schema, "finish:7")
	var killed int
	must(t, baseOf(survivor).r.QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = $1`, key).Scan(&killed))
	if killed != 1 {
		t.Fatalf("terminated %d backends", killed)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		unlock, ok, err := survivor.(Locker).TryLock(ctx, "finish:7")
		must(t, err)
		if ok {
			unlock()
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock of a dead host was never released")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
