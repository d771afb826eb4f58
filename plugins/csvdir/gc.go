package main

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// oneShotHeadroom is what a one-shot plugin process may allocate above its
// live heap before the GC collects.
//
// A read's live heap is small and flat (the duplicate-id set has a fixed
// budget, batches are bounded), so with the default GOGC=100 the GC ran
// every ~10 MB of allocation, far more often than when the old per-id table
// grew with the file. A plugin started for a one-shot command (feed export,
// sync) lives for that one read, so it collects at a fixed ceiling instead:
// 5-10% less CPU for a million-row file, and the same peak for 100,000
// rows as for 1,000,000. A plugin serving the daemon keeps Go's defaults:
// its heap also holds the availability index, which grows with the
// catalog and would make a fixed ceiling collect without pause.
const oneShotHeadroom = 48 << 20

var oneShotGC sync.Once

// collectAtCeiling turns GOGC off under a soft memory limit of the live heap
// plus oneShotHeadroom, once per process, unless GOGC or GOMEMLIMIT is set.
func collectAtCeiling() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	oneShotGC.Do(setCeiling)
}

func setCeiling() {
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	limit := int64(oneShotHeadroom)
	if live[0].Value.Kind() == metrics.KindUint64 {
		limit += int64(live[0].Value.Uint64())
	}
	debug.SetMemoryLimit(limit)
	debug.SetGCPercent(-1)
}
