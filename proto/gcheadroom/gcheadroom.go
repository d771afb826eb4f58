// Package gcheadroom makes a one-shot process's garbage collector run when
// the heap has grown a fixed number of bytes past the live heap, rather than
// when it has doubled it (GOGC=100).
//
// A feed export's live heap is small and nearly flat (batches are bounded,
// the duplicate-id set has a budget), so Go's default collected every
// 10-15 MB, and a longer catalog only meant more collections. With GOGC off
// under a soft memory limit the heap instead grows by the headroom between
// collections, whatever the catalog's size, which keeps the peak the same at
// 100,000 and 1,000,000 rows.
//
// The limit follows the live heap: after every collection it is moved to
// the new live heap plus the headroom. A limit fixed when the export started
// would be overtaken by a live heap that does grow a little (the duplicate-id
// set's Bloom filter takes 2-4 bytes an id), and from then on the collector
// would run back to back and hand memory to the OS only to fault it back.
//
// It lives under proto/ because the host and the plugins both use it, and
// proto/ is the one tree both may import; it is not wire format.
package gcheadroom

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

var state struct {
	sync.Mutex
	n        int   // Start calls not yet stopped
	headroom int64 // of the first of them
	gen      int   // bumped by each first Start, so an old finalizer chain ends
	percent  int   // settings to restore
	limit    int64
}

// Start turns GOGC off and keeps a soft memory limit at the live heap plus
// headroom until the returned function is called (once is enough; later
// calls do nothing). Overlapping calls share the first one's setting, which
// the last stop restores. An operator's GOGC or GOMEMLIMIT wins: then Start
// changes nothing.
func Start(headroom int64) (stop func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	state.Lock()
	defer state.Unlock()
	if state.n == 0 {
		state.headroom = headroom
		state.gen++
		state.limit = debug.SetMemoryLimit(liveHeap() + headroom)
		state.percent = debug.SetGCPercent(-1)
		watch(state.gen)
	}
	state.n++
	return sync.OnceFunc(func() {
		state.Lock()
		defer state.Unlock()
		state.n--
		if state.n == 0 {
			debug.SetGCPercent(state.percent)
			debug.SetMemoryLimit(state.limit)
		}
	})
}

// watch moves the limit after the next collection, and then again after
// each one, for as long as the setting of generation gen is in force. A
// collection is noticed through an unreachable object's cleanup, which the
// runtime runs once that object has been collected.
func watch(gen int) {
	// A pointer field keeps the object out of the tiny allocator, whose
	// blocks (and so their cleanups) can outlive any one collection.
	type sentinel struct{ _ *byte }
	runtime.AddCleanup(new(sentinel), func(gen int) {
		state.Lock()
		defer state.Unlock()
		if state.n == 0 || state.gen != gen {
			return
		}
		debug.SetMemoryLimit(liveHeap() + state.headroom)
		watch(gen)
	}, gen)
}

func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}
