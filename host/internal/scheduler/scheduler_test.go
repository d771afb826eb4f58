package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memStore is an in-memory RunStore: one lock table shared by several
// schedulers stands in for a shared database.
type memStore struct {
	mu    sync.Mutex
	ticks map[string]bool
	runs  []string
}

func (m *memStore) StartRun(_ context.Context, job string, tick time.Time, host string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs = append(m.runs, job+"@"+tick.Format(time.RFC3339)+"@"+host)
	return int64(len(m.runs)), nil
}
func (m *memStore) FinishRun(context.Context, int64, string, string) error { return nil }
func (m *memStore) TryLockTick(_ context.Context, job string, tick time.Time) (func(), bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := job + tick.String()
	if m.ticks[k] {
		return nil, false, nil
	}
	m.ticks[k] = true
	return func() {}, true, nil
}

func TestPanicIsRecoveredAndReported(t *testing.T) {
	s := New(Options{})
	if err := s.Add("p", "@every 1h", time.Minute, func(context.Context) (string, error) { panic("kaboom") }); err != nil {
		t.Fatal(err)
	}
	err := s.RunNow(context.Background(), "p")
	if err == nil || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("want the panic as an error, got %v", err)
	}
	if e := s.Entries()[0]; e.Last.OK || !strings.Contains(e.Last.Error, "kaboom") {
		t.Errorf("outcome should record the panic: %+v", e.Last)
	}
}

func TestSkipIfStillRunning(t *testing.T) {
	s := New(Options{})
	release := make(chan struct{})
	var runs atomic.Int32
	_ = s.Add("slow", "@every 1h", time.Minute, func(ctx context.Context) (string, error) {
		runs.Add(1)
		<-release
		return "done", nil
	})
	go func() { _ = s.RunNow(context.Background(), "slow") }()
	for runs.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	err := s.RunNow(context.Background(), "slow")
	if err == nil || !strings.Contains(err.Error(), "still in progress") {
		t.Errorf("a second run while the first is going must be skipped, got %v", err)
	}
	if !s.Entries()[0].Running {
		t.Error("entry should show running")
	}
	close(release)
}

func TestTimeoutCancelsRun(t *testing.T) {
	s := New(Options{})
	_ = s.Add("t", "@every 1h", 50*time.Millisecond, func(ctx context.Context) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	})
	if err := s.RunNow(context.Background(), "t"); !strings.Contains(fmtErr(err), "deadline") {
		t.Errorf("want a deadline error, got %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestEachTickRunsOnceAcrossSchedulers(t *testing.T) {
	store := &memStore{ticks: map[string]bool{}}
	var runs atomic.Int32
	var all []*Scheduler
	for i := 0; i < 3; i++ {
		s := New(Options{Store: store, HostID: string(rune('a' + i))})
		_ = s.Add("every-second", "* * * * * *", 5*time.Second, func(context.Context) (string, error) {
			runs.Add(1)
			return "", nil
		})
		s.Start()
		all = append(all, s)
	}
	time.Sleep(3200 * time.Millisecond)
	for _, s := range all {
		_ = s.Stop(context.Background())
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	seen := map[string]int{}
	for _, r := range store.runs {
		tick := r[:strings.LastIndex(r, "@")]
		seen[tick]++
	}
	if len(seen) < 2 {
		t.Fatalf("expected at least two ticks in 3s, got %v", store.runs)
	}
	for tick, n := range seen {
		if n != 1 {
			t.Errorf("tick %s ran %d times", tick, n)
		}
	}
	if int(runs.Load()) != len(store.runs) {
		t.Errorf("runs %d vs records %d", runs.Load(), len(store.runs))
	}
}

func TestStopWaitsThenCancels(t *testing.T) {
	s := New(Options{})
	started := make(chan struct{})
	_ = s.Add("long", "* * * * * *", time.Hour, func(ctx context.Context) (string, error) {
		close(started)
		<-ctx.Done()
		return "", ctx.Err()
	})
	s.Start()
	select {
	case <-started:
	case <-time.After(3 * time.Second):
		t.Fatal("job never started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err := s.Stop(ctx)
	if err == nil || time.Since(begin) > 3*time.Second {
		t.Errorf("Stop should cancel a job past the deadline and report it: %v after %v", err, time.Since(begin))
	}
}

func TestBadSpecRejected(t *testing.T) {
	s := New(Options{})
	if err := s.Add("x", "TZ=0", 0, nil); err == nil {
		t.Error("a spec that makes robfig/cron panic must be an error")
	}
}

func TestActivationIsTheFiringJustPassed(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse("15:04:05.000", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct{ spec, now, want string }{
		{"* * * * * *", "12:00:05.000", "12:00:05.000"},
		{"* * * * * *", "12:00:05.300", "12:00:05.000"},
		{"* * * * * *", "12:00:05.999", "12:00:05.000"},
		{"*/5 * * * * *", "12:00:07.100", "12:00:05.000"},
		{"0 * * * *", "13:00:00.001", "13:00:00.000"},
		{"0 * * * *", "13:00:40.000", "13:00:00.000"}, // late, within the look-back
		{"0 * * * *", "13:05:00.000", "13:05:00.000"}, // later than the look-back: now's second
		{"@every 2s", "12:00:05.300", "12:00:04.000"},
		{"@every 1m", "12:00:59.900", "12:00:00.000"},
	} {
		sched, err := parseSchedule(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := activation(sched, at(c.now)); !got.Equal(at(c.want)) {
			t.Errorf("%s at %s: tick %s, want %s", c.spec, c.now, got.Format("15:04:05.000"), c.want)
		}
	}
}

func TestEveryFiresAtTheSameInstantsOnEveryHost(t *testing.T) {
	// Two hosts started 1.3s apart must agree on when @every 2s fires.
	sched, err := parseSchedule("@every 2s")
	if err != nil {
		t.Fatal(err)
	}
	a := time.Date(2026, 1, 1, 12, 0, 0, 100e6, time.UTC)
	b := a.Add(1300 * time.Millisecond)
	na, nb := sched.Next(a), sched.Next(b)
	for i := 0; i < 5; i++ {
		if na.Before(nb) {
			na = sched.Next(na)
			continue
		}
		if !na.Equal(nb) {
			t.Fatalf("@every 2s fires at %s on one host and %s on the other", na, nb)
		}
		if na.Unix()%2 != 0 || na.Nanosecond() != 0 {
			t.Fatalf("@every 2s fired at %s, not a multiple of 2s", na)
		}
		na, nb = sched.Next(na), sched.Next(nb)
	}
}

// heldStore is a RunStore whose lock of every job is held by another host.
type heldStore struct{ memStore }

func (h *heldStore) TryLockTick(context.Context, string, time.Time) (func(), bool, error) {
	return nil, false, nil
}

func TestRunNowTakesTheStoreLock(t *testing.T) {
	s := New(Options{Store: &heldStore{memStore{ticks: map[string]bool{}}}})
	var runs atomic.Int32
	_ = s.Add("j", "@every 1h", time.Minute, func(context.Context) (string, error) {
		runs.Add(1)
		return "", nil
	})
	err := s.RunNow(context.Background(), "j")
	if !errors.Is(err, ErrSkipped) || !strings.Contains(err.Error(), "another host") {
		t.Errorf("RunNow while another host holds the job's lock: want a skip, got %v", err)
	}
	if runs.Load() != 0 {
		t.Error("the job ran although another host holds its lock")
	}

	// With the lock free, the run records a sub-second tick that cannot
	// collide with a scheduled (whole-second) one.
	ms := &memStore{ticks: map[string]bool{}}
	s = New(Options{Store: ms, HostID: "h"})
	_ = s.Add("j", "@every 1h", time.Minute, func(context.Context) (string, error) { return "", nil })
	for i := 0; i < 3; i++ {
		if err := s.RunNow(context.Background(), "j"); err != nil {
			t.Fatal(err)
		}
	}
	if len(ms.ticks) != 3 || len(ms.runs) != 3 {
		t.Errorf("three RunNow calls: %d ticks locked, %d runs recorded; want 3 each", len(ms.ticks), len(ms.runs))
	}
}
