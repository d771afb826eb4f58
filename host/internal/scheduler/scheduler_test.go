package scheduler

import (
	"context"
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
