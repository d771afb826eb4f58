package store

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openSQLiteT(t *testing.T, path string) *sqliteStore {
	t.Helper()
	s, err := openSQLite(ctx, path)
	must(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Claims live in memory, shared by the Stores open on one file in this
// process; answers are in the table.
func TestSQLiteHookClaimsShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	a, b := openSQLiteT(t, path), openSQLiteT(t, path)

	if _, started, err := a.BeginHook(ctx, "h1", "k", time.Minute); err != nil || !started {
		t.Fatalf("a.BeginHook = %v, %v", started, err)
	}
	rec, started, err := b.BeginHook(ctx, "h1", "k", time.Minute)
	must(t, err)
	if started || rec.Response != nil {
		t.Fatalf("second store started a claimed hook: %+v, %v", rec, started)
	}
	got, err := b.GetHook(ctx, "h1")
	must(t, err)
	if got.Response != nil || got.LeaseUntil.IsZero() {
		t.Fatalf("GetHook of a claim = %+v", got)
	}
	// Nothing is written until the answer.
	var n int
	must(t, a.r.QueryRowContext(ctx, `SELECT count(*) FROM hooks`).Scan(&n))
	if n != 0 {
		t.Fatalf("%d hook rows written for a claim, want 0", n)
	}
	must(t, a.FinishHook(ctx, "h1", []byte(`{"ok":1}`)))
	rec, started, err = b.BeginHook(ctx, "h1", "k", time.Minute)
	must(t, err)
	if started || string(rec.Response) != `{"ok":1}` {
		t.Fatalf("after finish: %+v, %v", rec, started)
	}
}

// A restart forgets claims (their owner is gone) but not answers.
func TestSQLiteHookClaimsRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := openSQLite(ctx, path)
	must(t, err)
	_, _, err = s.BeginHook(ctx, "answered", "k", time.Minute)
	must(t, err)
	must(t, s.FinishHook(ctx, "answered", []byte(`{"a":1}`)))
	_, _, err = s.BeginHook(ctx, "orphan", "k", time.Minute)
	must(t, err)
	must(t, s.Close())
	must(t, s.Close()) // idempotent

	s = openSQLiteT(t, path)
	rec, started, err := s.BeginHook(ctx, "answered", "k", time.Minute)
	must(t, err)
	if started || !bytes.Equal(rec.Response, []byte(`{"a":1}`)) || rec.FinishedAt.IsZero() {
		t.Fatalf("answered hook after restart = %+v, %v", rec, started)
	}
	if _, started, err := s.BeginHook(ctx, "orphan", "k", time.Minute); err != nil || !started {
		t.Fatalf("orphaned claim after restart: started=%v err=%v, want a new claim", started, err)
	}
}

// A claim written to the table by an earlier version is honoured until its
// lease runs out, then taken over and answered in place.
func TestSQLiteHookTableClaim(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	old := openSQLiteT(t, path)
	if _, started, err := old.base.BeginHook(ctx, "old", "kind-a", 300*time.Millisecond); err != nil || !started {
		t.Fatalf("table claim: %v %v", started, err)
	}
	must(t, old.Close())
	s := openSQLiteT(t, path)
	if _, started, err := s.BeginHook(ctx, "old", "kind-a", time.Minute); err != nil || started {
		t.Fatalf("live table claim: started=%v err=%v", started, err)
	}
	time.Sleep(350 * time.Millisecond)
	rec, started, err := s.BeginHook(ctx, "old", "kind-b", time.Minute)
	must(t, err)
	if !started || rec.Kind != "kind-a" {
		t.Fatalf("takeover = %+v, %v (the first kind stays)", rec, started)
	}
	must(t, s.FinishHook(ctx, "old", []byte(`{}`)))
	got, err := s.base.GetHook(ctx, "old")
	must(t, err)
	if string(got.Response) != `{}` || got.Kind != "kind-a" {
		t.Fatalf("stored = %+v", got)
	}
}

// Expired claims and old answers are dropped from memory; an answer is
// still found in the table afterwards.
func TestSQLiteHookClaimsPrune(t *testing.T) {
	s := openSQLiteT(t, filepath.Join(t.TempDir(), "state.db"))
	_, _, err := s.BeginHook(ctx, "gone", "k", time.Millisecond)
	must(t, err)
	_, _, err = s.BeginHook(ctx, "kept", "k", time.Minute)
	must(t, err)
	must(t, s.FinishHook(ctx, "kept", []byte(`{"k":1}`)))
	c := s.claims
	c.mu.Lock()
	c.prune(now().Add(claimGrace + time.Second))
	_, goneKnown := c.entries["gone"]
	_, keptKnown := c.entries["kept"]
	c.mu.Unlock()
	if goneKnown || !keptKnown {
		t.Fatalf("after the claim grace: gone kept=%v, answered kept=%v", goneKnown, keptKnown)
	}
	c.mu.Lock()
	c.prune(now().Add(2*finishedKeep + time.Second))
	n := len(c.entries)
	c.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d entries after everything expired", n)
	}
	rec, started, err := s.BeginHook(ctx, "kept", "k", time.Minute)
	must(t, err)
	if started || string(rec.Response) != `{"k":1}` {
		t.Fatalf("answer after prune = %+v, %v", rec, started)
	}
}

// Many answers at once go through the group commit; one op that fails
// (finishing an unknown hook) gets its own error and costs the others
// nothing.
func TestSQLiteHookGroupCommit(t *testing.T) {
	s := openSQLiteT(t, filepath.Join(t.TempDir(), "state.db"))
	const n = 200
	for i := range n {
		_, started, err := s.BeginHook(ctx, fmt.Sprint("g", i), "k", time.Minute)
		must(t, err)
		if !started {
			t.Fatalf("g%d not started", i)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	for i := range n + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == n {
				errs[i] = s.FinishHook(ctx, "unknown", []byte(`{}`))
				return
			}
			errs[i] = s.FinishHook(ctx, fmt.Sprint("g", i), fmt.Appendf(nil, `{"i":%d}`, i))
		}()
	}
	wg.Wait()
	wantErr(t, errs[n], ErrNotFound)
	for i := range n {
		must(t, errs[i])
		got, err := s.base.GetHook(ctx, fmt.Sprint("g", i))
		must(t, err)
		if want := fmt.Sprintf(`{"i":%d}`, i); string(got.Response) != want {
			t.Fatalf("g%d stored %s, want %s", i, got.Response, want)
		}
	}
	_, _, err := s.BeginHook(ctx, "open", "k", time.Minute)
	must(t, err)
	must(t, s.Close())
	if _, _, err := s.BeginHook(ctx, "late", "k", time.Minute); err == nil {
		t.Fatal("BeginHook after Close succeeded")
	}
	if err := s.FinishHook(ctx, "open", []byte(`{}`)); err == nil {
		t.Fatal("FinishHook after Close succeeded")
	}
}

// The filter of answered ids: loaded from the table at open, fed by every
// answer; it never hides an answered id.
func TestSQLiteHookFilter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openSQLiteT(t, path)
	for i := range 50 {
		id := fmt.Sprint("f", i)
		_, _, err := s.BeginHook(ctx, id, "k", time.Minute)
		must(t, err)
		must(t, s.FinishHook(ctx, id, []byte(`{}`)))
	}
	must(t, s.Close())

	s = openSQLiteT(t, path)
	s.filterWG.Wait()
	if !s.filter.loaded.Load() {
		t.Fatal("filter not loaded")
	}
	for i := range 50 {
		if id := fmt.Sprint("f", i); !s.filter.mayHave(id) {
			t.Fatalf("filter lost answered id %s", id)
		}
	}
	fp := 0
	for i := range 10000 {
		if s.filter.mayHave(fmt.Sprint("new", i)) {
			fp++
		}
	}
	if fp > 20 {
		t.Fatalf("%d of 10000 new ids pass the filter", fp)
	}
	// A retry after the restart still gets the stored answer.
	rec, started, err := s.BeginHook(ctx, "f7", "k", time.Minute)
	must(t, err)
	if started || string(rec.Response) != `{}` {
		t.Fatalf("retry after restart = %+v, %v", rec, started)
	}
	_, _, err = s.BeginHook(ctx, "later", "k", time.Minute)
	must(t, err)
	must(t, s.FinishHook(ctx, "later", []byte(`{"x":1}`)))
	if !s.filter.mayHave("later") {
		t.Fatal("an answer stored after the load is not in the filter")
	}
}
