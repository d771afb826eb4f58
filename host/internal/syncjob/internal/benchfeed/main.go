// Command benchfeed measures the catalog feed path end to end, for
// `make bench` and docs/benchmarks.md.
//
// For each size (default 100,000 and 1,000,000 variants) it generates a
// realistic products.csv, then, each in its own child process so that peak
// memory is measured per process:
//
//   - export: the real csvdir plugin (a subprocess started through
//     pluginmgr, exactly as the daemon does) reads products.csv and streams
//     it to the host, which validates every row and writes the feed file
//     (syncjob.Runner.Export, the `acs-connector feed export` path);
//   - baseline: a plain encoding/csv read of products.csv and encoding/csv
//     write of the same rows, in one process.
//
// It prints one JSON object per size on stdout: wall times, their ratio, and
// the peak RSS (VmHWM) of the host, of the plugin (read from
// /proc/<pid>/status just before the plugin is stopped) and of the baseline.
//
//	go run ./host/internal/syncjob/internal/benchfeed > bench.jsonl
//	go run ./host/internal/syncjob/internal/benchfeed -md < bench.jsonl > docs/benchmarks.md
//
// Flags: -rows 100000,1000000  -dir (work directory, default a temp dir,
// removed afterwards)  -plugin (a built csvdir binary; default: go build
// ./plugins/csvdir)  -md (turn JSON lines on stdin into Markdown).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/bench/benchutil"
	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
	"github.com/acs-connector/acs-connector/host/internal/syncjob"
)

// Result is one line of output.
type Result struct {
	Bench            string  `json:"bench"`
	Rows             int     `json:"rows"`
	InputBytes       int64   `json:"input_bytes"`
	OutputBytes      int64   `json:"output_bytes"`
	Valid            int     `json:"valid"`
	Invalid          int     `json:"invalid"`
	ExportSeconds    float64 `json:"export_seconds"`
	BaselineSeconds  float64 `json:"baseline_seconds"`
	Ratio            float64 `json:"ratio"`
	HostPeakMiB      float64 `json:"host_peak_rss_mib"`
	PluginPeakMiB    float64 `json:"plugin_peak_rss_mib"`
	BaselinePeakMiB  float64 `json:"baseline_peak_rss_mib"`
	RowsPerSecond    float64 `json:"export_rows_per_second"`
	GoVersion        string  `json:"go"`
	CPUs             int     `json:"cpus"`
	GOMAXPROCS       int     `json:"gomaxprocs"`
	HostCPUSeconds   float64 `json:"host_cpu_seconds"`
	PluginCPUSeconds float64 `json:"plugin_cpu_seconds"`
	BaseCPUSeconds   float64 `json:"baseline_cpu_seconds"`
	// Minor page faults per process: on this VM kind each first touch of
	// a page costs ~11 µs, so they are a share of the CPU seconds above.
	HostFaults       int64   `json:"host_faults"`
	PluginFaults     int64   `json:"plugin_faults"`
	BaselineFaults   int64   `json:"baseline_faults"`
	Goal             string  `json:"goal"`
	MeetsTimeGoal    bool    `json:"meets_time_goal"`
	MeetsMemoryGoal  bool    `json:"meets_memory_goal"`
	GeneratedAt      string  `json:"generated_at"`
	ExportChildWallS float64 `json:"export_child_wall_seconds"`
	// PluginStartSeconds is the part of ExportSeconds spent starting the
	// plugin (spawn, handshake, mTLS key generation, Configure).
	PluginStartSeconds float64 `json:"plugin_start_seconds"`
	Runs               int     `json:"runs"`
	// LoadAvg is the 1-minute load average when the size started: other
	// work on the machine inflates wall times (CPU seconds less so).
	LoadAvg float64 `json:"load_avg_1m"`
}

// better keeps the fastest run's times and the highest peak memory.
func better(cur, next childReport, first bool) childReport {
	if first {
		return next
	}
	out := cur
	if next.Seconds < cur.Seconds {
		out = next
	}
	out.PeakMiB = max(cur.PeakMiB, next.PeakMiB)
	out.PluginPeakMiB = max(cur.PluginPeakMiB, next.PluginPeakMiB)
	return out
}

var (
	cpuProfile *string
	memProfile *string
	keep       *bool
	batch      *int
	pluginEnv  *string
)

// childReport is what a child process prints.
type childReport struct {
	Seconds       float64 `json:"seconds"`
	StartSeconds  float64 `json:"start_seconds"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	PluginCPU     float64 `json:"plugin_cpu_seconds"`
	PeakMiB       float64 `json:"peak_mib"`
	PluginPeakMiB float64 `json:"plugin_peak_mib"`
	Valid         int     `json:"valid"`
	Invalid       int     `json:"invalid"`
	OutputBytes   int64   `json:"output_bytes"`
	// Minor page faults of the process (and of the plugin, for export).
	Faults       int64 `json:"faults"`
	PluginFaults int64 `json:"plugin_faults"`
}

func main() {
	rowsFlag := flag.String("rows", "100000,1000000", "comma-separated catalog sizes (variants)")
	dirFlag := flag.String("dir", "", "work directory (default: a temp dir, removed afterwards)")
	pluginFlag := flag.String("plugin", "", "csvdir plugin binary (default: go build ./plugins/csvdir)")
	md := flag.Bool("md", false, "read JSON lines on stdin and write Markdown")
	child := flag.String("child", "", "internal: export|baseline")
	in := flag.String("in", "", "internal: products.csv")
	out := flag.String("out", "", "internal: output file")
	cpuProfile = flag.String("cpuprofile", "", "write the export child's CPU profile here")
	keep = flag.Bool("keep", false, "keep the generated catalogs in -dir")
	memProfile = flag.String("memprofile", "", "write the export child's heap profile (at the end of the export) here")
	batch = flag.Int("batch", 0, "records per plugin batch (default: syncjob's)")
	pluginEnv = flag.String("plugin-env", "", "extra environment for the plugin, as K=V,K=V (GODEBUG=gctrace=1, say)")
	count := flag.Int("count", 3, "runs per measurement; the fastest is reported (peak RSS: the highest)")
	runPath := flag.Bool("run", true, "also measure a full catalog job run (store + upload to an emulator in this process)")
	stripeURL := flag.String("stripe-url", "", "internal: emulator URL for -child run")
	onlyRun := flag.Bool("only-run", false, "measure only the catalog job run (with -rows, -dir)")
	flag.Parse()

	var err error
	switch {
	case *md:
		err = markdown(os.Stdin, os.Stdout)
	case *child == "export":
		err = childExport(*pluginFlag, *in, *out)
	case *child == "baseline":
		err = childBaseline(*in, *out)
	case *child == "run":
		err = childRun(*pluginFlag, *in, *out, *stripeURL)
	case *onlyRun:
		err = onlyRunPath(*rowsFlag, *dirFlag, *pluginFlag)
	default:
		err = run(*rowsFlag, *dirFlag, *pluginFlag, *count, *runPath)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchfeed:", err)
		os.Exit(1)
	}
}

func run(rowsFlag, dir, plugin string, count int, runPath bool) error {
	if count < 1 {
		count = 1
	}
	var sizes []int
	for _, s := range strings.Split(rowsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("-rows: %q is not a positive number", s)
		}
		sizes = append(sizes, n)
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "benchfeed")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if plugin == "" {
		plugin = filepath.Join(dir, "csvdir")
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		cmd := exec.Command("go", "build", "-o", plugin, "./plugins/csvdir")
		cmd.Dir = root
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build csvdir: %w", err)
		}
	}
	var profArgs []string
	if *cpuProfile != "" {
		profArgs = []string{"-cpuprofile", *cpuProfile}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, n := range sizes {
		data := filepath.Join(dir, fmt.Sprintf("catalog-%d", n))
		if err := os.MkdirAll(data, 0o750); err != nil {
			return err
		}
		in := filepath.Join(data, "products.csv")
		fmt.Fprintf(os.Stderr, "benchfeed: generating %d variants\n", n)
		size, err := generate(in, n)
		if err != nil {
			return err
		}
		res := Result{Bench: "catalog_feed_export", Rows: n, InputBytes: size, GoVersion: runtime.Version(), Runs: count,
			CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
			Goal: "at 1,000,000 variants export <= 1.5x baseline; < 100 MiB peak RSS per process at every size", GeneratedAt: time.Now().UTC().Format(time.RFC3339)}

		res.LoadAvg = benchutil.LoadAvg()
		// Warm the page cache the same way for both. Into io.Discard: this
		// process once kept cat's output (the whole catalog, 650 MB at 1M
		// variants) as garbage while the children ran, and both of them
		// then took half again as long, the baseline more (it ran first).
		warm := exec.Command("cat", in)
		warm.Stdout = io.Discard
		_ = warm.Run()

		var base, exp childReport
		var wall time.Duration
		outputs := []string{filepath.Join(dir, "baseline.csv"), filepath.Join(dir, "feed.csv"), filepath.Join(dir, "feed.errors.csv")}
		for i := 0; i < count; i++ {
			// Each child writes a new file right after the last outputs
			// were deleted. Left in place, the baseline's O_TRUNC freed
			// its old file's page cache just before reusing it, while
			// the export wrote a new file beside its old one (renamed
			// over at the end) into page cache the VM had to map anew:
			// 0.4 s of the export's time at 1M variants, none of it the
			// export's own work.
			removeAll(outputs)
			fmt.Fprintf(os.Stderr, "benchfeed: baseline, %d variants (%d/%d)\n", n, i+1, count)
			var b childReport
			if _, err := runChild(self, &b, "-child", "baseline", "-in", in, "-out", filepath.Join(dir, "baseline.csv")); err != nil {
				return err
			}
			removeAll(outputs)
			base = better(base, b, i == 0)
			fmt.Fprintf(os.Stderr, "benchfeed: export through csvdir, %d variants (%d/%d)\n", n, i+1, count)
			var x childReport
			w, err := runChild(self, &x, append([]string{"-child", "export", "-plugin", plugin, "-in", in, "-out", filepath.Join(dir, "feed.csv")}, profArgs...)...)
			if err != nil {
				return err
			}
			if i == 0 || x.Seconds < exp.Seconds {
				wall = w
			}
			exp = better(exp, x, i == 0)
		}
		removeAll(outputs)
		res.ExportSeconds, res.BaselineSeconds = benchutil.Round(exp.Seconds, 3), benchutil.Round(base.Seconds, 3)
		res.PluginStartSeconds = benchutil.Round(exp.StartSeconds, 3)
		res.Ratio = benchutil.Round(exp.Seconds/base.Seconds, 2)
		res.HostPeakMiB, res.PluginPeakMiB, res.BaselinePeakMiB = benchutil.Round(exp.PeakMiB, 1), benchutil.Round(exp.PluginPeakMiB, 1), benchutil.Round(base.PeakMiB, 1)
		res.Valid, res.Invalid, res.OutputBytes = exp.Valid, exp.Invalid, exp.OutputBytes
		res.RowsPerSecond = benchutil.Round(float64(n)/exp.Seconds, 0)
		res.ExportChildWallS = benchutil.Round(wall.Seconds(), 3)
		res.HostCPUSeconds, res.PluginCPUSeconds, res.BaseCPUSeconds = benchutil.Round(exp.CPUSeconds, 2), benchutil.Round(exp.PluginCPU, 2), benchutil.Round(base.CPUSeconds, 2)
		res.HostFaults, res.PluginFaults, res.BaselineFaults = exp.Faults, exp.PluginFaults, base.Faults
		// The issue sets the time goal on the million-variant run; smaller
		// runs are reported for reference.
		res.MeetsTimeGoal = res.Ratio <= 1.5 || n < 1_000_000
		res.MeetsMemoryGoal = res.HostPeakMiB < 100 && res.PluginPeakMiB < 100
		line, _ := json.Marshal(res)
		fmt.Println(string(line))

		if runPath {
			if err := generateAgain(in, n); err != nil {
				return err
			}
			rr, err := measureRun(self, plugin, in, filepath.Join(dir, fmt.Sprintf("state-%d", n)), n)
			if err != nil {
				return err
			}
			line, _ := json.Marshal(rr)
			fmt.Println(string(line))
		}
		if !*keep {
			_ = os.RemoveAll(data)
		}
	}
	return nil
}

func onlyRunPath(rowsFlag, dir, plugin string) error {
	n, err := strconv.Atoi(rowsFlag)
	if err != nil || dir == "" || plugin == "" {
		return errors.New("-only-run needs one -rows value, -dir and -plugin")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in := filepath.Join(dir, fmt.Sprintf("catalog-%d", n), "products.csv")
	if err := generateAgain(in, n); err != nil {
		return err
	}
	rr, err := measureRun(self, plugin, in, filepath.Join(dir, fmt.Sprintf("state-%d", n)), n)
	if err != nil {
		return err
	}
	line, _ := json.Marshal(rr)
	fmt.Println(string(line))
	return nil
}

// generateAgain regenerates the catalog if it was removed.
func generateAgain(in string, n int) error {
	if _, err := os.Stat(in); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(in), 0o750); err != nil {
		return err
	}
	_, err := generate(in, n)
	return err
}

// RunResult is the full-job measurement.
type RunResult struct {
	Bench         string  `json:"bench"`
	Rows          int     `json:"rows"`
	API           string  `json:"api"`
	Seconds       float64 `json:"seconds"`
	SettleSeconds float64 `json:"settle_seconds"`
	HostPeakMiB   float64 `json:"host_peak_rss_mib"`
	PluginPeakMiB float64 `json:"plugin_peak_rss_mib"`
	HostCPU       float64 `json:"host_cpu_seconds"`
	Sent          int     `json:"sent"`
	Parts         int     `json:"parts"`
	Summary       string  `json:"summary"`
	LoadAvg       float64 `json:"load_avg_1m"`
}

// measureRun runs a catalog job (SQLite store, ImportSet uploads) in a
// child process against an emulator served by this process, and waits for
// Stripe's side to finish.
func measureRun(self, plugin, in, stateDir string, n int) (RunResult, error) {
	emu := emulator.New(emulator.Options{ProcessingDelay: func(string, int) time.Duration { return 10 * time.Millisecond }})
	defer emu.Close()
	base, err := emu.Start("127.0.0.1:0")
	if err != nil {
		return RunResult{}, err
	}
	_ = os.RemoveAll(stateDir)
	fmt.Fprintf(os.Stderr, "benchfeed: catalog job run (store + ImportSet upload), %d variants\n", n)
	var rep RunResult
	args := []string{"-child", "run", "-plugin", plugin, "-in", in, "-out", stateDir, "-stripe-url", base}
	if *cpuProfile != "" {
		args = append(args, "-cpuprofile", *cpuProfile)
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return rep, fmt.Errorf("child run: %w", err)
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &rep); err != nil {
		return rep, fmt.Errorf("child run: %w (%q)", err, out)
	}
	rep.Bench, rep.Rows, rep.LoadAvg = "catalog_job_run", n, benchutil.LoadAvg()
	_ = os.RemoveAll(stateDir)
	return rep, nil
}

// childRun runs one catalog job end to end and polls until Stripe (the
// emulator) has finished every part.
func childRun(plugin, in, stateDir, stripeURL string) error {
	spec, err := csvdirSpec(plugin, in)
	if err != nil {
		return err
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := store.Open(ctx, "sqlite", filepath.Join(stateDir, "state.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	sc, err := stripeapi.New(stripeapi.Config{Key: "sk_test_benchfeed", URL: stripeURL, MaxRetries: 2, Logger: log})
	if err != nil {
		return err
	}
	stopProfile, err := startCPUProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	start := time.Now()
	mgr := pluginmgr.New(pluginmgr.Options{Logger: log, HostVersion: "benchfeed"})
	if err := mgr.Start(ctx, []pluginmgr.Spec{spec}); err != nil {
		return err
	}
	r := syncjob.New(syncjob.Options{Store: st, Stripe: sc, Plugin: mgr.Get, StateDir: stateDir, Logger: log, PollInterval: 100 * time.Millisecond})
	res, err := r.Run(ctx, &config.Job{Type: config.JobCatalog, Plugin: "csvdir", Name: "catalog"})
	if err != nil {
		return err
	}
	ran := time.Since(start)
	p, _ := mgr.Get("csvdir")
	pluginPeak, _ := benchutil.PeakRSSMiB(strconv.Itoa(p.Pid()))
	mgr.Stop(ctx)
	for {
		if err := r.PollPending(ctx); err != nil {
			return err
		}
		pending, err := st.PendingUploads(ctx)
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	settled := time.Since(start)
	hostPeak, err := benchutil.PeakRSSMiB("self")
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(RunResult{API: "importset", Seconds: benchutil.Round(ran.Seconds(), 3), SettleSeconds: benchutil.Round(settled.Seconds(), 3),
		HostPeakMiB: benchutil.Round(hostPeak, 1), PluginPeakMiB: benchutil.Round(pluginPeak, 1), HostCPU: benchutil.Round(benchutil.SelfCPU(), 2),
		Sent: res.Sent, Parts: res.Parts, Summary: res.Summary()})
}

func removeAll(paths []string) {
	for _, p := range paths {
		_ = os.Remove(p)
	}
}

func runChild(self string, into *childReport, args ...string) (time.Duration, error) {
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start)
	if err != nil {
		return wall, fmt.Errorf("child %v: %w", args[:2], err)
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), into); err != nil {
		return wall, fmt.Errorf("child %v: %w (output %q)", args[:2], err, out)
	}
	return wall, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run benchfeed inside the acs-connector module (or pass -plugin)")
	}
	return filepath.Dir(mod), nil
}

// startCPUProfile starts the -cpuprofile profile, if asked for; stop ends
// it.
func startCPUProfile() (stop func(), err error) {
	if *cpuProfile == "" {
		return func() {}, nil
	}
	pf, err := os.Create(*cpuProfile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		pf.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); pf.Close() }, nil
}

// csvdirSpec is the csvdir plugin binary, pinned to its own hash, on the
// directory of the catalog file in, as the host would configure it. The
// hash is taken here, before any timer starts.
func csvdirSpec(plugin, in string) (pluginmgr.Spec, error) {
	in, err := filepath.Abs(in)
	if err != nil {
		return pluginmgr.Spec{}, err
	}
	sum, err := pluginmgr.FileSHA256(plugin)
	if err != nil {
		return pluginmgr.Spec{}, err
	}
	cfg, _ := json.Marshal(map[string]string{"dir": filepath.Dir(in), "currency": "USD"})
	env := map[string]string{}
	if *pluginEnv != "" {
		for _, kv := range strings.Split(*pluginEnv, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return pluginmgr.Spec{}, fmt.Errorf("-plugin-env: %q is not K=V", kv)
			}
			env[k] = v
		}
	}
	return pluginmgr.Spec{Name: "csvdir", Path: plugin, SHA256: sum, SHA256Source: "benchfeed", Env: env,
		ConfigJSON: cfg, ConfigSource: "benchfeed", WorkDir: filepath.Dir(in),
		StartTimeout: 30 * time.Second, CallTimeout: 30 * time.Second}, nil
}

// childExport runs the export path: csvdir plugin -> host -> feed file.
func childExport(plugin, in, out string) error {
	spec, err := csvdirSpec(plugin, in)
	if err != nil {
		return err
	}
	stopProfile, err := startCPUProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	start := time.Now()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Export is what `acs-connector feed export` does: a one-shot host.
	ctx := context.Background()
	mgr := pluginmgr.New(pluginmgr.Options{Logger: log, HostVersion: "benchfeed", OneShot: true})
	if err := mgr.Start(ctx, []pluginmgr.Spec{spec}); err != nil {
		return err
	}
	started := time.Since(start)
	r := syncjob.New(syncjob.Options{Plugin: mgr.Get, Logger: log, BatchSize: *batch})
	stats, err := r.Export(ctx, &config.Job{Type: config.JobCatalog, Plugin: "csvdir", Name: "catalog"}, out, strings.TrimSuffix(out, ".csv")+".errors.csv")
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	if *memProfile != "" {
		mf, err := os.Create(*memProfile)
		if err != nil {
			return err
		}
		if err := pprof.Lookup("heap").WriteTo(mf, 0); err != nil {
			return err
		}
		mf.Close()
	}
	p, _ := mgr.Get("csvdir")
	pluginPeak, err := benchutil.PeakRSSMiB(strconv.Itoa(p.Pid()))
	if err != nil {
		return fmt.Errorf("plugin peak RSS: %w", err)
	}
	pluginCPU, err := benchutil.ProcCPU(strconv.Itoa(p.Pid()))
	if err != nil {
		return fmt.Errorf("plugin CPU time: %w", err)
	}
	pluginFaults, err := benchutil.ProcMinorFaults(strconv.Itoa(p.Pid()))
	if err != nil {
		return fmt.Errorf("plugin page faults: %w", err)
	}
	mgr.Stop(ctx)
	hostPeak, err := benchutil.PeakRSSMiB("self")
	if err != nil {
		return err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(childReport{Seconds: elapsed.Seconds(), StartSeconds: started.Seconds(),
		CPUSeconds: benchutil.SelfCPU(), PluginCPU: pluginCPU,
		PeakMiB: hostPeak, PluginPeakMiB: pluginPeak, Faults: benchutil.SelfMinorFaults(), PluginFaults: pluginFaults,
		Valid: stats.Valid, Invalid: stats.Invalid, OutputBytes: fi.Size()})
}

// childBaseline is the floor: read the same CSV and write it back with
// encoding/csv, nothing else.
func childBaseline(in, out string) error {
	start := time.Now()
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	o, err := os.Create(out)
	if err != nil {
		return err
	}
	r := csv.NewReader(bufio.NewReaderSize(f, 256<<10))
	r.ReuseRecord = true
	bw := bufio.NewWriterSize(o, 256<<10)
	w := csv.NewWriter(bw)
	rows := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := w.Write(rec); err != nil {
			return err
		}
		rows++
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := o.Close(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	peak, err := benchutil.PeakRSSMiB("self")
	if err != nil {
		return err
	}
	fi, _ := os.Stat(out)
	return json.NewEncoder(os.Stdout).Encode(childReport{Seconds: elapsed.Seconds(), CPUSeconds: benchutil.SelfCPU(), PeakMiB: peak,
		Faults: benchutil.SelfMinorFaults(), Valid: rows - 1, OutputBytes: fi.Size()})
}

// generate writes a products.csv of n variants the way a shop's export
// looks: per-variant ids, GTINs, titles, links, images, stock and prices;
// shop-wide brand, category, shipping and tax code; groups of 24 variants
// (4 colours x 6 sizes); bare amounts, as ERP exports write them. One row in
// a thousand has a GTIN with a wrong check digit (rejected by the host) and
// one in ten thousand an unparsable price (rejected by the plugin).
func generate(path string, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	header := []string{"id", "item_group_id", "title", "description", "link", "image_link", "additional_image_link",
		"brand", "gtin", "mpn", "condition", "product_category", "color", "size", "size_system", "gender", "material",
		"weight", "availability", "inventory_quantity", "price", "sale_price", "sale_price_effective_date", "shipping",
		"stripe_product_tax_code"}
	_ = w.Write(header)
	colors := []string{"Blue", "White", "Pink", "Striped Navy"}
	sizes := []string{"XS", "S", "M", "L", "XL", "XXL"}
	rec := make([]string, len(header))
	for i := 0; i < n; i++ {
		num := fmt.Sprintf("%07d", i)
		group := fmt.Sprintf("OX-%06d", i/24)
		color, size := colors[(i/6)%4], sizes[i%6]
		gtin := withCheckDigit("40" + fmt.Sprintf("%010d", 3813000000+i))
		if i%1000 == 999 {
			gtin = gtin[:12] + strconv.Itoa((int(gtin[12]-'0')+1)%10)
		}
		price := strconv.Itoa(40+i%20) + ".00"
		if i%10000 == 5000 {
			price = "forty"
		}
		avail, qty := "in_stock", strconv.Itoa(i%97)
		if i%97 == 0 {
			avail = "out_of_stock"
		}
		rec = rec[:0]
		rec = append(rec,
			"SKU-"+num, group,
			"Classic Oxford Shirt "+color+" "+size,
			"Style "+num+". A breathable long-staple cotton oxford shirt with a button-down collar, a chest pocket and a tailored fit; machine washable.",
			"https://shop.example.com/products/oxford-shirt?variant="+num,
			"https://cdn.example.com/img/oxford-"+num+".jpg",
			"https://cdn.example.com/img/oxford-"+num+"-2.jpg,https://cdn.example.com/img/oxford-"+num+"-3.jpg",
			"Harbor & Pine", gtin, "HP-OX-"+num, "new", "Apparel & Accessories > Clothing > Shirts & Tops",
			color, size, "US", "male", "Cotton", "0.4 lb", avail, qty, price, strconv.Itoa(30+i%10)+".00",
			"2026-06-01/2026-06-30", "US:ALL:Standard:3-5:5.00 USD,US:ALL:Express:1-2:15.00 USD", "txcd_30011000",
		)
		if err := w.Write(rec); err != nil {
			return 0, err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	// Written back before anything is timed: left dirty, the kernel flushed
	// the new catalog to disk during the first measurements (the baseline's,
	// which ran first), and at 1M variants the baseline took 3 s instead of 2.
	if err := f.Sync(); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), f.Close()
}

func withCheckDigit(payload string) string {
	sum, w := 0, 3
	for i := len(payload) - 1; i >= 0; i-- {
		sum += int(payload[i]-'0') * w
		w = 4 - w
	}
	return payload + strconv.Itoa((10-sum%10)%10)
}

// markdown turns JSON lines into the benchmarks page.
func markdown(in io.Reader, out io.Writer) error {
	var rs []Result
	var runs []RunResult
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var kind struct {
			Bench string `json:"bench"`
		}
		if err := json.Unmarshal(line, &kind); err != nil {
			return err
		}
		if kind.Bench == "catalog_job_run" {
			var r RunResult
			if err := json.Unmarshal(line, &r); err != nil {
				return err
			}
			runs = append(runs, r)
			continue
		}
		var r Result
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		rs = append(rs, r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(rs) == 0 {
		return errors.New("no results on stdin")
	}
	b := &strings.Builder{}
	fmt.Fprintf(b, "# Benchmarks\n\n")
	fmt.Fprintf(b, "Generated by `make bench` (`go run ./host/internal/syncjob/internal/benchfeed`) on %s, %s, %d CPUs.\n\n",
		rs[0].GeneratedAt, rs[0].GoVersion, rs[0].CPUs)
	fmt.Fprintf(b, "## Catalog feed: csvdir plugin -> validated feed file\n\n")
	fmt.Fprintf(b, "The export path of `acs-connector feed export` (and the build half of a catalog job): the real csvdir plugin\n")
	fmt.Fprintf(b, "subprocess reads a generated `products.csv` (realistic shirt variants, 25 columns) and streams it over gRPC;\n")
	fmt.Fprintf(b, "the host validates every row against Stripe's feed spec and writes the feed file and the error report.\n")
	fmt.Fprintf(b, "The baseline reads the same file with `encoding/csv` and writes it back, in one process.\n")
	fmt.Fprintf(b, "Peak RSS is VmHWM, per process. Goal: %s.\n\n", rs[0].Goal)
	fmt.Fprintf(b, "Times are the fastest of %d runs; export includes starting the plugin. CPU is user+system seconds per process.\n\n", rs[0].Runs)
	fmt.Fprintf(b, "| variants | input | export (plugin start) | baseline | ratio | CPU host / plugin / baseline | peak RSS host / plugin / baseline | valid / invalid | load | goal met |\n")
	fmt.Fprintf(b, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|\n")
	for _, r := range rs {
		met := "yes"
		switch {
		case !r.MeetsTimeGoal && !r.MeetsMemoryGoal:
			met = "no (time, memory)"
		case !r.MeetsTimeGoal:
			met = "no (time)"
		case !r.MeetsMemoryGoal:
			met = "no (memory)"
		}
		fmt.Fprintf(b, "| %d | %.0f MiB | %.2f s (%.2f s) | %.2f s | %.2fx | %.1f / %.1f / %.1f s | %.1f / %.1f / %.1f MiB | %d / %d | %.1f | %s |\n",
			r.Rows, float64(r.InputBytes)/(1<<20), r.ExportSeconds, r.PluginStartSeconds, r.BaselineSeconds, r.Ratio,
			r.HostCPUSeconds, r.PluginCPUSeconds, r.BaseCPUSeconds,
			r.HostPeakMiB, r.PluginPeakMiB, r.BaselinePeakMiB, r.Valid, r.Invalid, r.LoadAvg, met)
	}
	if len(runs) > 0 {
		fmt.Fprintf(b, "\n## Catalog job run: plugin -> store -> ImportSet upload (emulator)\n\n")
		fmt.Fprintf(b, "A full `catalog` job against the embedded Stripe emulator (in another process): the same read and\n")
		fmt.Fprintf(b, "validation, plus a row hash per item staged in SQLite, the parts uploaded through the Files API and\n")
		fmt.Fprintf(b, "ImportSets, and the imports polled until Stripe accepted them. Single run.\n\n")
		fmt.Fprintf(b, "| variants | run | until accepted | host CPU | host peak RSS | plugin peak RSS | parts | load |\n")
		fmt.Fprintf(b, "|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range runs {
			fmt.Fprintf(b, "| %d | %.1f s | %.1f s | %.1f s | %.1f MiB | %.1f MiB | %d | %.1f |\n",
				r.Rows, r.Seconds, r.SettleSeconds, r.HostCPU, r.HostPeakMiB, r.PluginPeakMiB, r.Parts, r.LoadAvg)
		}
	}
	fmt.Fprintf(b, "\nAnalysis of where the time and memory go: docs/feeds.md, \"Performance\".\n")
	_, err := io.WriteString(out, b.String())
	return err
}
