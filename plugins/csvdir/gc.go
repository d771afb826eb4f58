package main

import (
	"sync"

	"github.com/acs-connector/acs-connector/proto/gcheadroom"
)

// oneShotHeadroom is how far a one-shot plugin process's heap may grow past
// its live heap before the GC collects (proto/gcheadroom). A plugin started
// for a one-shot command (feed export, sync) lives for that one read, whose
// live heap is small and flat, so it collects at a fixed distance above it:
// the same peak for 100,000 rows as for 1,000,000. With csvread and the
// packed writer a read makes little garbage, so 32 MiB means few
// collections. A plugin serving the daemon keeps Go's defaults: its heap
// also holds the availability index, which grows with the catalog.
const oneShotHeadroom = 32 << 20

var oneShotGC sync.Once

// collectAtCeiling starts gcheadroom once per process; it is never stopped.
func collectAtCeiling() {
	oneShotGC.Do(func() { gcheadroom.Start(oneShotHeadroom) })
}
