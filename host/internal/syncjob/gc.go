package syncjob

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// exportHeadroom is the memory an export may use above the live heap it
// started with before the GC collects.
//
// An export's live heap is small and does not grow with the catalog (the
// duplicate-id set has a fixed budget, batches are bounded), so with the
// default GOGC=100 the GC ran every ~15 MB of allocation: 51 collections
// for 1M variants, where the old per-id table, as ballast, had kept it at
// 34. Collecting at a fixed ceiling instead (GOGC off, a soft memory limit)
// made the export 5-10% cheaper in CPU than either, and its peak the same
// at 100,000 and 1,000,000 variants. Only the one-shot export does this
// (Runner.Export, `acs-connector feed export`); the daemon's runs keep Go's
// defaults, which suit the hooks served by the same heap.
const exportHeadroom = 48 << 20

// exportGC holds the GC settings an export replaced, while exports run.
var exportGC struct {
	sync.Mutex
	n       int
	percent int
	limit   int64
}

// batchGC switches the process to collect at live heap + exportHeadroom
// until the returned function is called; overlapping calls share one
// setting, restored by the last. An operator's GOGC or GOMEMLIMIT wins.
func batchGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	exportGC.Lock()
	defer exportGC.Unlock()
	if exportGC.n == 0 {
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(live)
		limit := int64(exportHeadroom)
		if live[0].Value.Kind() == metrics.KindUint64 {
			limit += int64(live[0].Value.Uint64())
		}
		exportGC.limit = debug.SetMemoryLimit(limit)
		exportGC.percent = debug.SetGCPercent(-1)
	}
	exportGC.n++
	return sync.OnceFunc(func() {
		exportGC.Lock()
		defer exportGC.Unlock()
		exportGC.n--
		if exportGC.n == 0 {
			debug.SetGCPercent(exportGC.percent)
			debug.SetMemoryLimit(exportGC.limit)
		}
	})
}
