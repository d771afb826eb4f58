// Command runstat runs one command for `make bench` and appends a JSON line
// with its wall time, CPU time and peak resident set size (the kernel's
// ru_maxrss of the child, i.e. of its largest process) to -o:
//
//	runstat -o results.jsonl -label sql/sqlite/subject -- ./sql.test -test.bench ...
//
// The command's stdout and stderr pass through; runstat exits with the
// command's exit code.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/bench/benchutil"
)

// Stat is the line appended to -o.
type Stat struct {
	Bench     string   `json:"bench"` // "runstat"
	Label     string   `json:"label"`
	Args      []string `json:"args"`
	Wall      float64  `json:"wall_seconds"`
	User      float64  `json:"user_seconds"`
	Sys       float64  `json:"sys_seconds"`
	MaxRSSMiB float64  `json:"max_rss_mib"`
	Exit      int      `json:"exit"`
	LoadAvg   float64  `json:"load_avg_1m"`
}

func main() {
	out := flag.String("o", "", "append the JSON line to this file (default stdout)")
	label := flag.String("label", "", "label of the measurement")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: runstat [-o file] [-label name] -- command [args...]")
		os.Exit(2)
	}
	st := Stat{Bench: "runstat", Label: *label, Args: flag.Args(), LoadAvg: benchutil.LoadAvg()}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	st.Wall = benchutil.Round(time.Since(start).Seconds(), 3)
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		st.Exit = ee.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "runstat:", err)
		os.Exit(1)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		st.User = benchutil.Round(time.Duration(ru.Utime.Nano()).Seconds(), 2)
		st.Sys = benchutil.Round(time.Duration(ru.Stime.Nano()).Seconds(), 2)
		st.MaxRSSMiB = benchutil.Round(float64(ru.Maxrss)/1024, 1) // KiB on Linux
	}
	line, _ := json.Marshal(st)
	if *out == "" {
		fmt.Println(string(line))
	} else {
		f, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "runstat:", err)
			os.Exit(1)
		}
		_, _ = f.Write(append(line, '\n'))
		_ = f.Close()
	}
	os.Exit(st.Exit)
}
