package main

import (
	"runtime/debug"
	"testing"
)

func TestSetCeiling(t *testing.T) {
	percent := debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	setCeiling()
	p := debug.SetGCPercent(-1)
	l := debug.SetMemoryLimit(-1)
	if p != -1 || l < oneShotHeadroom || l > oneShotHeadroom+1<<30 {
		t.Fatalf("GOGC %d, memory limit %d; want off and the live heap plus %d", p, l, oneShotHeadroom)
	}
}
