// Package benchutil holds what the `make bench` programs share: per-process
// peak RSS and CPU time from /proc, the load average, percentiles, and the
// JSON-lines output every benchmark program writes for
// host/internal/bench/report.
package benchutil

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PeakRSSMiB reads VmHWM (peak resident set size) of pid ("self" for this
// process) in MiB.
func PeakRSSMiB(pid string) (float64, error) {
	return statusKiB(pid, "VmHWM:")
}

// RSSMiB reads VmRSS (current resident set size) of pid in MiB.
func RSSMiB(pid string) (float64, error) {
	return statusKiB(pid, "VmRSS:")
}

func statusKiB(pid, field string) (float64, error) {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%s/status", field, pid)
}

// ProcCPU is the user+system CPU seconds of pid, from /proc/<pid>/stat.
func ProcCPU(pid string) (float64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

// ProcMinorFaults is the number of minor page faults pid has taken, from
// /proc/<pid>/stat. On the VMs this project is measured on a fault that
// maps a fresh page costs ~10 µs, so a process's fault count times that is
// a real share of its CPU time.
func ProcMinorFaults(pid string) (int64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(f[7], 10, 64) // field 10, minflt
}

// procStat returns the fields of /proc/<pid>/stat after the command name
// (field 3, the state, is f[0]).
func procStat(pid string) ([]string, error) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return nil, errors.New("short /proc stat")
	}
	return f, nil
}

// SelfMinorFaults is this process's minor page faults so far.
func SelfMinorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Minflt
}

// SelfCPU is this process's user+system CPU seconds.
func SelfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// Children returns the pids of pid's direct children (of any of its
// threads: a Go program starts children from whichever thread runs).
func Children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// LoadAvg is the 1-minute load average.
func LoadAvg() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// Percentile returns the p-th percentile (0..100, nearest rank) of sorted.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.5) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// SortDurations sorts d in place and returns it.
func SortDurations(d []time.Duration) []time.Duration {
	slices.Sort(d)
	return d
}

// Round rounds v to digits decimals.
func Round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}

// Emit writes v as one JSON line on stdout (the report reads them).
func Emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
}

// Logf writes progress to stderr with the program's name.
func Logf(prog, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s: %s\n", time.Now().Format("15:04:05"), prog, fmt.Sprintf(format, args...))
}
