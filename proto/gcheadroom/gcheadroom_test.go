package gcheadroom

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func settings() (percent int, limit int64) {
	percent = debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	return percent, debug.SetMemoryLimit(-1) // a negative limit only reads it
}

const headroom = 32 << 20

func TestStartNestsAndRestores(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	p0, l0 := settings()
	stop1 := Start(headroom)
	stop2 := Start(8 << 20)
	if p, l := settings(); p != -1 || l >= l0 || l < headroom {
		t.Fatalf("started: GOGC %d, limit %d; want off and a limit of at least %d", p, l, headroom)
	}
	stop1()
	stop1() // a second call must not count twice
	if p, _ := settings(); p != -1 {
		t.Fatalf("an overlapping stop turned the setting off under another: GOGC %d", p)
	}
	stop2()
	if p, l := settings(); p != p0 || l != l0 {
		t.Fatalf("after the last stop: GOGC %d, limit %d; want %d, %d", p, l, p0, l0)
	}
}

// The limit follows a live heap that grows after Start, so that it never
// ends up below it.
func TestLimitFollowsTheLiveHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	stop := Start(headroom)
	defer stop()
	_, before := settings()
	live := make([]byte, 96<<20) // kept live past the collections below
	for i := range live {
		live[i] = 1 // pages in use, as a real table would be
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the cleanup runs on its own goroutine
		if _, l := settings(); l >= before+96<<20 {
			break
		}
		if time.Now().After(deadline) {
			_, l := settings()
			t.Fatalf("limit %d after a 96 MiB live allocation; started at %d", l, before)
		}
	}
	runtime.KeepAlive(live)
}

func TestOperatorSettingsWin(t *testing.T) {
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("GOGC", "")
			t.Setenv("GOMEMLIMIT", "")
			t.Setenv(env, "50")
			p0, l0 := settings()
			stop := Start(headroom)
			if p, l := settings(); p != p0 || l != l0 {
				t.Fatalf("%s set by the operator, yet Start changed GOGC to %d and the limit to %d", env, p, l)
			}
			stop()
		})
	}
}
