package syncjob

import (
	"runtime/debug"
	"testing"
)

func gcSettings() (percent int, limit int64) {
	percent = debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	return percent, debug.SetMemoryLimit(-1) // a negative limit only reads it
}

func TestBatchGCNestsAndRestores(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	p0, l0 := gcSettings()
	r1 := batchGC()
	r2 := batchGC()
	if p, l := gcSettings(); p != -1 || l >= l0 || l < exportHeadroom {
		t.Fatalf("during an export: GOGC %d, limit %d; want off and a limit of at least %d", p, l, exportHeadroom)
	}
	r1()
	r1() // a second call must not count twice
	if p, _ := gcSettings(); p != -1 {
		t.Fatalf("an overlapping export's restore turned the setting off under another: GOGC %d", p)
	}
	r2()
	if p, l := gcSettings(); p != p0 || l != l0 {
		t.Fatalf("after the exports: GOGC %d, limit %d; want %d, %d", p, l, p0, l0)
	}
}

func TestBatchGCLeavesOperatorSettings(t *testing.T) {
	t.Setenv("GOGC", "50")
	p0, l0 := gcSettings()
	restore := batchGC()
	if p, l := gcSettings(); p != p0 || l != l0 {
		t.Fatalf("GOGC set by the operator, yet the export changed GOGC to %d and the limit to %d", p, l)
	}
	restore()
}
