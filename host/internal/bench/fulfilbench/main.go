// Command fulfilbench measures fulfilment throughput from a burst of
// completed checkouts, for `make bench` (docs/benchmarks.md).
//
// Subject ("host"): the real acs-connector binary (`acs-connector run`,
// wired exactly as in production) with a SQLite state store and the csvdir
// plugin subprocess writing orders to an outbox directory. Stripe is the
// emulator (host/internal/emulator), run in this process as Stripe is
// remote from the host, and given to the host as stripe.api_url. The
// benchmark completes -orders checkouts in it (emulator.CompleteCheckout,
// from -burst goroutines, as fast as it can), and the emulator delivers each
// checkout.session.completed webhook to the host at once, up to 16 in
// flight (emulator.Options.MaxDeliveries): a concurrent burst. It retries failed deliveries like Stripe
// (see runHost). The clock runs from the first checkout until the ledger has
// every order accepted (acs_orders_total{event="fulfilled"}) and the outbox
// holds one file per order. Afterwards the ledger is read back (every order
// accepted, one attempt each) and the plugin RPC metric must show exactly one
// PushOrder per order.
//
// Baseline ("push"): the same orders (same checkout shapes, mapped once,
// untimed, through stripeapi.RetrieveSession and orders.MapSession) pushed
// straight to a fresh csvdir plugin subprocess with PushOrder through
// pluginmgr, -workers at a time (default 4, the host's fulfilment worker
// count): no webhook, no Stripe retrieval, no ledger.
//
// Rounds run baseline then host, and one more baseline follows the last
// round (A/B/A). Each run prints one JSON line. With -profile the host runs
// in this process (daemon.Start) so that a CPU profile covers it; the
// figures of such a run are not comparable.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/acs-connector/acs-connector/host/internal/bench/benchutil"
	"github.com/acs-connector/acs-connector/host/internal/daemon"
	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/metrics"
	"github.com/acs-connector/acs-connector/host/internal/orders"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

const prog = "fulfilbench"

// Result is one output line.
type Result struct {
	Bench   string `json:"bench"` // "fulfil"
	Variant string `json:"variant"`
	Round   int    `json:"round"`
	Orders  int    `json:"orders"`
	// Seconds: host: first checkout -> last order accepted and in the
	// outbox; push: first PushOrder -> last answer.
	Seconds        float64 `json:"seconds"`
	OrdersPerSec   float64 `json:"orders_per_second"`
	Concurrency    int     `json:"concurrency"`
	BurstSeconds   float64 `json:"burst_seconds,omitempty"`       // host: all checkouts completed (webhooks started)
	HalfSeconds    float64 `json:"half_seconds,omitempty"`        // host: half the orders accepted
	Accepted       int     `json:"accepted"`                      // ledger (host) or answers (push)
	OutboxFiles    int     `json:"outbox_files"`                  // files the plugin wrote
	Pushes         int     `json:"pushes"`                        // PushOrder RPCs made
	MaxAttempts    int     `json:"max_attempts,omitempty"`        // host: highest ledger attempt count
	QueueFull      int     `json:"queue_full,omitempty"`          // host: orders the queue could not take (acs_orders_total{event="deferred"})
	WebhookRetries int     `json:"webhook_retries,omitempty"`     // host: webhook deliveries repeated (timeout or non-2xx)
	Undelivered    int     `json:"undelivered,omitempty"`         // host: events the emulator gave up delivering
	Webhook500s    int     `json:"webhook_500s,omitempty"`        // host: webhook handler failures answered 500
	NoFile         int     `json:"too_many_open_files,omitempty"` // host: "too many open files" log lines
	MaxGoroutines  int     `json:"max_goroutines,omitempty"`      // host: highest go_goroutines seen on /metrics
	HostCPU        float64 `json:"host_cpu_seconds,omitempty"`
	PluginCPU      float64 `json:"plugin_cpu_seconds"`
	HostPeakMiB    float64 `json:"host_peak_rss_mib,omitempty"`
	PluginPeakMiB  float64 `json:"plugin_peak_rss_mib"`
	Complete       bool    `json:"complete"`
	Error          string  `json:"error,omitempty"`
	LoadAvg        float64 `json:"load_avg_1m"`
}

var (
	binFlag     = flag.String("bin", "bin/acs-connector", "acs-connector binary")
	pluginFlag  = flag.String("plugin", "bin/acs-plugin-csvdir", "csvdir plugin binary (pinned by acs-plugins.lock beside it)")
	ordersFlag  = flag.Int("orders", 10000, "orders per run")
	roundsFlag  = flag.Int("rounds", 3, "rounds (each: baseline, then host); one more baseline run follows the last round")
	workersFlag = flag.Int("workers", 4, "baseline PushOrder concurrency (the host's fulfilment workers: orders.Options.Workers default)")
	burstFlag   = flag.Int("burst", 4, "goroutines completing checkouts in the emulator")
	timeoutFlag = flag.Duration("timeout", 6*time.Minute, "give up on a host run after this")
	onlyFlag    = flag.String("only", "", "run only this variant: host or push")
	profileFlag = flag.String("profile", "", "write CPU profiles to this directory; the host then runs in this process (daemon.Start), not as the binary")
)

func main() {
	flag.Parse()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		if h := running.Load(); h != nil {
			h.stop()
		}
		os.Exit(1)
	}()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, prog+":", err)
		os.Exit(1)
	}
}

func run() error {
	bin, err := filepath.Abs(*binFlag)
	if err != nil {
		return err
	}
	plugin, err := filepath.Abs(*pluginFlag)
	if err != nil {
		return err
	}
	var prepared []*pb.Order
	if *onlyFlag != "host" {
		benchutil.Logf(prog, "preparing %d orders for the baseline (emulator -> RetrieveSession -> MapSession, untimed)", *ordersFlag)
		var prof *os.File
		if *profileFlag != "" {
			if prof, err = os.Create(filepath.Join(*profileFlag, "prepare.cpu.pprof")); err != nil {
				return err
			}
			_ = pprof.StartCPUProfile(prof)
		}
		start := time.Now()
		prepared, err = prepareOrders(*ordersFlag)
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
		}
		benchutil.Logf(prog, "prepared in %.1f s", time.Since(start).Seconds())
		if err != nil {
			return fmt.Errorf("prepare orders: %w", err)
		}
	}
	push := func(round int) {
		benchutil.Logf(prog, "round %d: baseline, %d PushOrder calls, %d at a time", round, len(prepared), *workersFlag)
		r, err := runPush(plugin, prepared, *workersFlag)
		r.Round = round
		if err != nil {
			r.Error = err.Error()
		}
		benchutil.Emit(r)
		benchutil.Logf(prog, "  baseline: %.2f s, %.0f orders/s", r.Seconds, r.OrdersPerSec)
	}
	for round := 1; round <= *roundsFlag; round++ {
		if *onlyFlag != "host" {
			push(round)
		}
		if *onlyFlag != "push" {
			benchutil.Logf(prog, "round %d/%d: host, burst of %d completed checkouts", round, *roundsFlag, *ordersFlag)
			r, err := runHost(bin, plugin, *ordersFlag, *burstFlag, *timeoutFlag)
			r.Round = round
			if err != nil {
				r.Error = err.Error()
				benchutil.Logf(prog, "  host run failed: %v", err)
			}
			benchutil.Emit(r)
			benchutil.Logf(prog, "  host: %.2f s, %.0f orders/s (burst created in %.2f s, half done at %.2f s, queue-full drops %d, webhook 500s %d, failed deliveries %d)",
				r.Seconds, r.OrdersPerSec, r.BurstSeconds, r.HalfSeconds, r.QueueFull, r.Webhook500s, r.WebhookRetries)
		}
	}
	if *onlyFlag == "" {
		// A/B/A: the host runs are bracketed by baseline runs.
		push(*roundsFlag + 1)
	}
	return nil
}

// catalog is the backend's products.csv: the SKUs the checkouts buy.
const catalog = "id,title,description,link,image_link,availability,inventory_quantity,price\n" +
	"MUG-BLUE,Blue enamel mug,A mug.,https://shop.example.com/p/mug,https://img.example.com/mug.jpg,in_stock,1000000,12.00 USD\n" +
	"TEE-L,Organic tee,A tee.,https://shop.example.com/p/tee,https://img.example.com/tee.jpg,in_stock,1000000,25.00 USD\n"

// checkout is order i: two lines, shipping and tax, like an agentic order.
func checkout(i int) emulator.CheckoutInput {
	return emulator.CheckoutInput{
		Lines: []emulator.CheckoutLine{
			{SKU: "MUG-BLUE", Name: "Blue enamel mug", Quantity: 1 + int64(i%3), UnitAmount: 1200},
			{SKU: "TEE-L", Name: "Organic tee", Quantity: 1, UnitAmount: 2500},
		},
		Currency:     "usd",
		ShippingName: "Jenny Rosen",
		Shipping: emulator.Address{Line1: strconv.Itoa(100+i%900) + " Market St", City: "San Francisco", State: "CA",
			PostalCode: "94103", Country: "US"},
		Email:                "jenny" + strconv.Itoa(i) + "@example.com",
		ShippingAmount:       500,
		ShippingDisplayName:  "Standard shipping",
		ShippingRateMetadata: map[string]string{"acs_shipping_option_id": "standard"},
		TaxPercent:           7.25,
	}
}

func writeCatalog(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "outbox"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "products.csv"), []byte(catalog), 0o644)
}

func countOutbox(dir string) int {
	f, err := os.Open(dir)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	for {
		names, err := f.Readdirnames(4096)
		for _, name := range names {
			if strings.HasSuffix(name, ".json") && !strings.HasPrefix(name, ".") {
				n++
			}
		}
		if err != nil {
			return n
		}
	}
}

// prepareOrders builds n orders the way the host pushes them: a set of
// real checkouts (emulator.CompleteCheckout, stripeapi.RetrieveSession,
// orders.MapSession), repeated with fresh session ids up to n.
func prepareOrders(n int) ([]*pb.Order, error) {
	emu := emulator.New(emulator.Options{})
	defer emu.Close()
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sc, err := stripeapi.New(stripeapi.Config{Key: "sk_test_fulfilbench", URL: url, MaxRetries: 2})
	if err != nil {
		return nil, err
	}
	const templates = 60 // checkout(i) repeats its variations every 60 orders
	var tmpl []*pb.Order
	for i := range min(n, templates) {
		id, err := emu.CompleteCheckout(checkout(i))
		if err != nil {
			return nil, err
		}
		raw, err := sc.RetrieveSession(context.Background(), id)
		if err != nil {
			return nil, err
		}
		m, err := orders.MapSession(raw)
		if err != nil {
			return nil, err
		}
		tmpl = append(tmpl, m.Order)
	}
	out := make([]*pb.Order, n)
	for i := range out {
		o := proto.Clone(tmpl[i%len(tmpl)]).(*pb.Order)
		o.CheckoutSessionId = fmt.Sprintf("cs_test_a1bench%050d", i) // 10 + 5 + 50 = like Stripe's 66 characters
		out[i] = o
	}
	return out, nil
}

// runPush is the baseline: PushOrder straight to a fresh plugin.
func runPush(plugin string, list []*pb.Order, workers int) (Result, error) {
	res := Result{Bench: "fulfil", Variant: "push", Orders: len(list), Concurrency: workers, LoadAvg: benchutil.LoadAvg()}
	dir, err := os.MkdirTemp("", "fulfilbench-push")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	if err := writeCatalog(dir); err != nil {
		return res, err
	}
	ctx := context.Background()
	// Wired like the daemon: same dial options (the RPC timing metric).
	mgr := pluginmgr.New(pluginmgr.Options{Logger: slog.New(slog.DiscardHandler), HostVersion: prog,
		DialOptions: metrics.New().PluginDialOptions})
	cfg, _ := json.Marshal(map[string]any{"dir": dir, "currency": "USD", "outbox": filepath.Join(dir, "outbox")})
	if err := mgr.Start(ctx, []pluginmgr.Spec{{Name: "backend", Path: plugin, WorkDir: dir, ConfigJSON: cfg, ConfigSource: prog}}); err != nil {
		return res, err
	}
	defer mgr.Stop(ctx)
	p, _ := mgr.Get("backend")

	var next, accepted, pushes atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(list) {
					return
				}
				o := list[i]
				pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				resp, err := p.PushOrder(pctx, &pb.PushOrderRequest{IdempotencyKey: o.GetCheckoutSessionId(), Order: o})
				cancel()
				pushes.Add(1)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				if resp.GetStatus() == pb.PushOrderResponse_STATUS_ACCEPTED {
					accepted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	pid := strconv.Itoa(p.Pid())
	res.PluginCPU, _ = benchutil.ProcCPU(pid)
	res.PluginPeakMiB, _ = benchutil.PeakRSSMiB(pid)
	res.PluginCPU, res.PluginPeakMiB = benchutil.Round(res.PluginCPU, 2), benchutil.Round(res.PluginPeakMiB, 1)
	res.Seconds = benchutil.Round(elapsed.Seconds(), 3)
	res.OrdersPerSec = benchutil.Round(float64(len(list))/elapsed.Seconds(), 0)
	res.Accepted, res.Pushes = int(accepted.Load()), int(pushes.Load())
	res.OutboxFiles = countOutbox(filepath.Join(dir, "outbox"))
	res.Complete = res.Accepted == len(list) && res.OutboxFiles == len(list)
	if e, ok := firstErr.Load().(error); ok {
		return res, e
	}
	if !res.Complete {
		return res, fmt.Errorf("%d accepted, %d outbox files of %d", res.Accepted, res.OutboxFiles, len(list))
	}
	return res, nil
}

const configYAML = `version: 1
stripe:
  secret_key: sk_test_fulfilbench
  api_url: %[3]s
  webhook_secret: %[4]s
server:
  listen: %[5]s
state:
  driver: sqlite
  dir: %[1]s/state
log:
  level: warn
  format: json
plugins:
  backend:
    path: %[2]s
    config:
      dir: %[1]s
      currency: USD
      outbox: %[1]s/outbox
fulfillment:
  plugin: backend
`

const webhookSecret = "whsec_fulfilbench"

// runHost is the subject: the real daemon, a burst of completed checkouts.
func runHost(bin, plugin string, n, burst int, timeout time.Duration) (Result, error) {
	res := Result{Bench: "fulfil", Variant: "host", Orders: n, Concurrency: burst, LoadAvg: benchutil.LoadAvg()}
	dir, err := os.MkdirTemp("", "fulfilbench-host")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	if err := writeCatalog(dir); err != nil {
		return res, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o755); err != nil {
		return res, err
	}
	logPath := filepath.Join(dir, "host.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return res, err
	}
	defer logf.Close()

	// Stripe: the emulator, in this process (as Stripe is remote from the
	// host); its failed deliveries are logged to the same file.
	// Stripe retries a failed delivery for days; the emulator's default (6
	// attempts within about a minute) would drop events a slow host leaves
	// unanswered, so it retries like Stripe here: up to 40 attempts, 1 s
	// doubling to 30 s between them.
	emu := emulator.New(emulator.Options{
		Logger:          slog.New(slog.NewJSONHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn})),
		WebhookAttempts: 40,
		WebhookBackoff:  func(n int) time.Duration { return min(time.Second<<min(n-1, 5), 30*time.Second) },
	})
	defer emu.Close()
	stripeURL, err := emu.Start("127.0.0.1:0")
	if err != nil {
		return res, err
	}
	addr, err := freeAddr()
	if err != nil {
		return res, err
	}
	hostURL := "http://" + addr
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, configYAML, dir, plugin, stripeURL, webhookSecret, addr), 0o644); err != nil {
		return res, err
	}
	h, err := startHost(bin, cfgPath, logf)
	if err != nil {
		return res, err
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			h.stop()
		}
	}
	defer stop()
	if err := waitReady(hostURL, h.exited); err != nil {
		return res, fmt.Errorf("host did not start: %w (log: %s)", err, tail(logPath))
	}
	emu.SetWebhook(hostURL+"/webhooks", webhookSecret)
	var prof *os.File
	if *profileFlag != "" {
		if prof, err = os.Create(filepath.Join(*profileFlag, fmt.Sprintf("host-%d.cpu.pprof", time.Now().Unix()))); err != nil {
			return res, err
		}
		if err := pprof.StartCPUProfile(prof); err != nil {
			return res, err
		}
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 30 * time.Second}
	outbox := filepath.Join(dir, "outbox")

	// The burst: CompleteCheckout returns once the session exists and its
	// webhook delivery has started in the background.
	start := time.Now()
	var next atomic.Int64
	var burstErr atomic.Value
	var wg sync.WaitGroup
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if _, err := emu.CompleteCheckout(checkout(i)); err != nil {
					burstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	burstDone := make(chan time.Duration, 1)
	go func() { wg.Wait(); burstDone <- time.Since(start) }()

	var fulfilled, files int
	deadline := time.After(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var elapsed time.Duration
poll:
	for {
		select {
		case d := <-burstDone:
			res.BurstSeconds = benchutil.Round(d.Seconds(), 3)
			if e, ok := burstErr.Load().(error); ok {
				return res, fmt.Errorf("completing checkouts: %w", e)
			}
		case err := <-h.exited:
			stopped = true
			return res, fmt.Errorf("host exited: %v (log: %s)", err, tail(logPath))
		case <-deadline:
			elapsed = time.Since(start)
			break poll
		case <-tick.C:
			m, err := scrape(hc, hostURL)
			if err != nil {
				continue
			}
			fulfilled = int(m[`acs_orders_total{event="fulfilled"}`])
			res.MaxGoroutines = max(res.MaxGoroutines, int(m["go_goroutines"]))
			if res.HalfSeconds == 0 && fulfilled >= n/2 {
				res.HalfSeconds = benchutil.Round(time.Since(start).Seconds(), 3)
			}
			if fulfilled >= n {
				files = countOutbox(outbox)
				if files >= n {
					elapsed = time.Since(start)
					res.Complete = true
					break poll
				}
			}
		}
	}
	res.Seconds = benchutil.Round(elapsed.Seconds(), 3)
	res.OrdersPerSec = benchutil.Round(float64(fulfilled)/elapsed.Seconds(), 0)
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}

	// Process figures before the daemon stops.
	hostPid := strconv.Itoa(h.pid)
	res.HostCPU, _ = benchutil.ProcCPU(hostPid)
	res.HostPeakMiB, _ = benchutil.PeakRSSMiB(hostPid)
	for _, c := range benchutil.Children(h.pid) {
		cs := strconv.Itoa(c)
		if cpu, err := benchutil.ProcCPU(cs); err == nil {
			res.PluginCPU += cpu
		}
		if rss, err := benchutil.PeakRSSMiB(cs); err == nil {
			res.PluginPeakMiB = max(res.PluginPeakMiB, rss)
		}
	}
	res.HostCPU, res.HostPeakMiB = benchutil.Round(res.HostCPU, 2), benchutil.Round(res.HostPeakMiB, 1)
	res.PluginCPU, res.PluginPeakMiB = benchutil.Round(res.PluginCPU, 2), benchutil.Round(res.PluginPeakMiB, 1)
	// Let in-flight work settle before counting what happened exactly once.
	time.Sleep(500 * time.Millisecond)
	if m, err := scrape(hc, hostURL); err == nil {
		res.QueueFull = int(m[`acs_orders_total{event="deferred"}`])
		for k, v := range m {
			if strings.HasPrefix(k, "acs_plugin_rpc_duration_seconds_count{") && strings.Contains(k, `method="PushOrder"`) {
				res.Pushes += int(v)
			}
		}
	}
	for _, d := range emu.Deliveries() {
		res.WebhookRetries += d.Attempts - 1
		if !d.Delivered {
			res.Undelivered++
		}
	}
	stop()
	res.OutboxFiles = countOutbox(outbox)
	_, res.Webhook500s, res.NoFile = countLog(logPath)

	st, err := store.Open(context.Background(), "sqlite", filepath.Join(dir, "state", "acs.db"))
	if err != nil {
		return res, fmt.Errorf("open the ledger: %w", err)
	}
	defer st.Close()
	counts, err := st.CountOrdersByState(context.Background())
	if err != nil {
		return res, err
	}
	res.Accepted = counts[store.OrderAccepted]
	all, err := st.RecentOrders(context.Background(), 0)
	if err != nil {
		return res, err
	}
	for _, o := range all {
		res.MaxAttempts = max(res.MaxAttempts, o.Attempts)
	}
	switch {
	case !res.Complete:
		return res, fmt.Errorf("not done after %s: %d of %d fulfilled, %d outbox files, %d webhooks never delivered; ledger %v",
			timeout, fulfilled, n, res.OutboxFiles, res.Undelivered, counts)
	case res.Accepted != n || res.OutboxFiles != n || len(all) != n:
		return res, fmt.Errorf("ledger %v (%d rows), %d outbox files; want %d accepted", counts, len(all), res.OutboxFiles, n)
	case res.Pushes != n:
		return res, fmt.Errorf("%d PushOrder calls for %d orders: not exactly once", res.Pushes, n)
	}
	return res, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// host is a running acs-connector.
type host struct {
	pid    int
	exited chan error
	stop   func()
}

// running holds the host being measured, stopped if this program is
// interrupted.
var running atomic.Pointer[host]

// startHost runs `acs-connector run`: the binary, or with -profile the same
// daemon.Start in this process so that it can be profiled.
func startHost(bin, cfgPath string, logf *os.File) (*host, error) {
	if *profileFlag != "" {
		d, err := daemon.Start(daemon.Options{ConfigPath: cfgPath, LogOutput: logf, Signals: make(chan os.Signal, 1),
			Notify: func(string) {}})
		if err != nil {
			return nil, err
		}
		return &host{pid: os.Getpid(), exited: make(chan error), stop: func() { _ = d.Shutdown() }}, nil
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &host{pid: cmd.Process.Pid, exited: make(chan error, 1)}
	done := make(chan struct{})
	go func() { err := cmd.Wait(); close(done); h.exited <- err }()
	h.stop = func() {
		running.CompareAndSwap(h, nil)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	running.Store(h)
	return h, nil
}

func waitReady(hostURL string, exited <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		default:
		}
		if res, err := http.Get(hostURL + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("not ready after 60s")
}

// scrape reads /metrics into "name{labels}" -> value.
func scrape(hc *http.Client, hostURL string) (map[string]float64, error) {
	res, err := hc.Get(hostURL + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: HTTP %d", res.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "acs_") && !strings.HasPrefix(line, "go_goroutines") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// countLog counts failed webhook deliveries (timeouts and 500s, as the
// emulator saw them), webhook handler failures (500s, as the host saw them)
// and file descriptor exhaustion.
func countLog(path string) (webhookRetries, handler500s, noFile int) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "webhook delivery failed") {
			webhookRetries++
		}
		if strings.Contains(line, "webhook handler failed") {
			handler500s++
		}
		if strings.Contains(line, "too many open files") {
			noFile++
		}
	}
	return webhookRetries, handler500s, noFile
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return strings.TrimSpace(string(data))
}
