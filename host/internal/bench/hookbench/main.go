// Command hookbench measures the approval hook under load, for `make bench`
// (docs/benchmarks.md).
//
// Subject ("hooks"): the full POST /hooks path of host/internal/hooks,
// wired as the daemon wires it: Stripe-Signature verification, the
// idempotency record in the real store (a SQLite file in a temp dir,
// BeginHook before and FinishHook after the answer), the configured
// approval rules, one CheckAvailability call to a real csvdir plugin
// subprocess through pluginmgr (with the daemon's RPC metric interceptor),
// the hook metrics and an info log line per request (formatted, written to
// io.Discard).
//
// Baseline ("bare"): a plain net/http handler that reads the same body,
// decodes it with encoding/json, makes the same CheckAvailability call to the
// same plugin process and writes an approval. No signature, no store, no
// metrics, no log.
//
// Both are served on loopback by net/http servers with the daemon's
// timeouts, in this process, and driven by -clients concurrent keep-alive
// clients (also in this process) sending signed finalize_checkout hooks,
// each with a new hook id, for -duration after a -warmup. Rounds alternate
// baseline and subject (A/B/A/B); the subject gets a fresh store each run.
// Each run prints one JSON line: throughput and client-side latency
// percentiles. The subject's store is wrapped to time BeginHook and
// FinishHook inside the handler (waiting for the write connection
// included). Each round ends with a diagnostic, "store": BeginHook and
// FinishHook on a fresh store from as many goroutines, no HTTP, no plugin.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/acs-connector/acs-connector/host/internal/bench/benchutil"
	"github.com/acs-connector/acs-connector/host/internal/hooks"
	"github.com/acs-connector/acs-connector/host/internal/logging"
	"github.com/acs-connector/acs-connector/host/internal/metrics"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/store"
	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

const (
	prog   = "hookbench"
	secret = "whsec_hookbench"
)

var (
	pluginFlag   = flag.String("plugin", "bin/acs-plugin-csvdir", "csvdir plugin binary (pinned by acs-plugins.lock beside it)")
	clientsFlag  = flag.Int("clients", 32, "concurrent clients")
	durationFlag = flag.Duration("duration", 5*time.Second, "measured time per run")
	warmupFlag   = flag.Duration("warmup", time.Second, "unmeasured load before each run")
	roundsFlag   = flag.Int("rounds", 5, "rounds (each: bare, then hooks, then the store alone)")
	storeFlag    = flag.Duration("store", 3*time.Second, "measured time of the store-only diagnostic per round (0: skip)")
	profileFlag  = flag.String("profile", "", "write a CPU profile of the last subject run to this file")
)

// Result is one output line.
type Result struct {
	Bench    string  `json:"bench"` // "hooks"
	Variant  string  `json:"variant"`
	Round    int     `json:"round"`
	Clients  int     `json:"clients"`
	Requests int     `json:"requests"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P90ms    float64 `json:"p90_ms"`
	P99ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	Errors   int     `json:"errors"`
	FirstErr string  `json:"first_error,omitempty"`
	// Subject only: how long the handler's store calls took (waiting for
	// the write connection included), from a timing wrapper around the store.
	BeginP50ms  float64 `json:"begin_hook_p50_ms,omitempty"`
	BeginP99ms  float64 `json:"begin_hook_p99_ms,omitempty"`
	FinishP50ms float64 `json:"finish_hook_p50_ms,omitempty"`
	FinishP99ms float64 `json:"finish_hook_p99_ms,omitempty"`
	CPU         float64 `json:"cpu_seconds"`        // this process (server + clients)
	PluginCPU   float64 `json:"plugin_cpu_seconds"` // the plugin process
	LoadAvg     float64 `json:"load_avg_1m"`
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, prog+":", err)
		os.Exit(1)
	}
}

func run() error {
	plugin, err := filepath.Abs(*pluginFlag)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hookbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "products.csv"), []byte(catalog), 0o644); err != nil {
		return err
	}
	ctx := context.Background()
	m := metrics.New()
	log := logging.New(io.Discard, logging.Options{Level: "info", Format: "json"})
	mgr := pluginmgr.New(pluginmgr.Options{Logger: log, HostVersion: prog, DialOptions: m.PluginDialOptions})
	cfg, _ := json.Marshal(map[string]any{"dir": dir, "currency": "USD"})
	if err := mgr.Start(ctx, []pluginmgr.Spec{{Name: "backend", Path: plugin, WorkDir: dir, ConfigJSON: cfg, ConfigSource: prog,
		CallTimeout: 30 * time.Second}}); err != nil {
		return err
	}
	defer mgr.Stop(ctx)
	getPlugin := func() (*pluginmgr.Plugin, bool) { return mgr.Get("backend") }
	p, _ := getPlugin()
	pluginPid := strconv.Itoa(p.Pid())

	bare := &bareHandler{plugin: getPlugin}
	for round := 1; round <= *roundsFlag; round++ {
		for _, variant := range []string{"bare", "hooks"} {
			var h http.Handler = bare
			var st store.Store
			var ts *timedStore
			var pending sync.WaitGroup
			if variant == "hooks" {
				st, err = store.Open(ctx, "sqlite", filepath.Join(dir, fmt.Sprintf("state-%d.db", round)))
				if err != nil {
					return err
				}
				ts = &timedStore{Store: st}
				// As daemon.app.buildHooks, with configs/example.yaml's rules.
				h = hooks.New(hooks.Options{
					Secret: secret, Plugin: getPlugin, Store: ts, Deadline: hooks.DefaultDeadline, OnFailure: "decline",
					MaxQuantity: 10, AllowedCountries: []string{"US", "CA"}, MaxOrderAmount: 200000,
					Metrics: m, Pending: &pending, Logger: log.With("component", "hooks"),
				})
			}
			benchutil.Logf(prog, "round %d/%d: %s, %d clients, %s", round, *roundsFlag, variant, *clientsFlag, *durationFlag)
			res, err := measure(h, variant, round, pluginPid, ts)
			pending.Wait()
			if st != nil {
				st.Close()
			}
			if err != nil {
				return err
			}
			benchutil.Emit(res)
			benchutil.Logf(prog, "  %s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors", variant, res.RPS, res.P50ms, res.P99ms, res.Errors)
		}
		if *storeFlag > 0 {
			// Diagnostic: the idempotency record alone (BeginHook +
			// FinishHook per hook id, no HTTP, no plugin), as many goroutines.
			st, err := store.Open(ctx, "sqlite", filepath.Join(dir, fmt.Sprintf("state-store-%d.db", round)))
			if err != nil {
				return err
			}
			res, err := measureStore(st)
			st.Close()
			if err != nil {
				return err
			}
			res.Round = round
			benchutil.Emit(res)
			benchutil.Logf(prog, "  store only: %.0f hooks/s, p50 %.2f ms, p99 %.2f ms", res.RPS, res.P50ms, res.P99ms)
		}
	}
	return nil
}

// measureStore loads the store's hook record the way hooks.answerOnce
// does: BeginHook, then FinishHook with a typical answer.
func measureStore(st store.Store) (Result, error) {
	res := Result{Bench: "hooks", Variant: "store", Clients: *clientsFlag, LoadAvg: benchutil.LoadAvg()}
	ctx := context.Background()
	answer := []byte(`{"manual_approval_details":{"type":"approved"}}`)
	var seq atomic.Int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, *clientsFlag)
	deadline := time.Now().Add(*storeFlag)
	cpu0 := benchutil.SelfCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range *clientsFlag {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				id := "hook_store_" + strconv.FormatInt(seq.Add(1), 10)
				t := time.Now()
				if _, _, err := st.BeginHook(ctx, id, hooks.TypeFinalize, 4*time.Second); err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				if err := st.FinishHook(ctx, id, answer); err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				lat[c] = append(lat[c], time.Since(t))
			}
		}()
	}
	wg.Wait()
	window := time.Since(start)
	if e, ok := firstErr.Load().(string); ok {
		return res, errors.New(e)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	benchutil.SortDurations(all)
	ms := func(d time.Duration) float64 { return benchutil.Round(float64(d)/float64(time.Millisecond), 2) }
	res.Requests, res.Seconds = len(all), benchutil.Round(window.Seconds(), 3)
	res.RPS = benchutil.Round(float64(len(all))/window.Seconds(), 0)
	res.P50ms, res.P90ms, res.P99ms = ms(benchutil.Percentile(all, 50)), ms(benchutil.Percentile(all, 90)), ms(benchutil.Percentile(all, 99))
	res.MaxMs = ms(all[len(all)-1])
	res.CPU = benchutil.Round(benchutil.SelfCPU()-cpu0, 2)
	return res, nil
}

const catalog = "id,title,description,link,image_link,availability,inventory_quantity,price\n" +
	"MUG-BLUE,Blue enamel mug,A mug.,https://shop.example.com/p/mug,https://img.example.com/mug.jpg,in_stock,1000000,12.00 USD\n" +
	"TEE-L,Organic tee,A tee.,https://shop.example.com/p/tee,https://img.example.com/tee.jpg,in_stock,1000000,25.00 USD\n"

// hookBody is a finalize_checkout request for two in-stock lines, shipped
// to California: approved by the rules and by the plugin.
func hookBody(id string) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": hooks.TypeFinalize, "id": id, "livemode": false, "context": "",
		"data": map[string]any{
			"amount_subtotal": 4900, "amount_total": 5755, "currency": "usd",
			"line_item_details": []map[string]any{
				{"id": "li_1", "sku_id": "MUG-BLUE", "unit_amount": 1200, "quantity": 2, "name": "Blue enamel mug"},
				{"id": "li_2", "sku_id": "TEE-L", "unit_amount": 2500, "quantity": 1, "name": "Organic tee"},
			},
			"shipping_details": map[string]any{"name": "Jenny Rosen", "address": map[string]any{
				"line1": "510 Townsend St", "city": "San Francisco", "state": "CA", "postal_code": "94103", "country": "US"}},
		},
	})
	return b
}

// bareHandler is the baseline: decode, one plugin call, answer.
type bareHandler struct {
	plugin func() (*pluginmgr.Plugin, bool)
}

type bareLine struct {
	ID         string `json:"id"`
	SKUID      string `json:"sku_id"`
	UnitAmount int64  `json:"unit_amount"`
	Quantity   int64  `json:"quantity"`
	Name       string `json:"name"`
}

type bareRequest struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data struct {
		Currency        string     `json:"currency"`
		LineItemDetails []bareLine `json:"line_item_details"`
		ShippingDetails struct {
			Address struct {
				Line1, City, State, Country string
				PostalCode                  string `json:"postal_code"`
			} `json:"address"`
		} `json:"shipping_details"`
	} `json:"data"`
}

func (b *bareHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, hooks.DefaultMaxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req bareRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p, ok := b.plugin()
	if !ok {
		http.Error(w, "no plugin", http.StatusServiceUnavailable)
		return
	}
	a := req.Data.ShippingDetails.Address
	creq := &pb.CheckAvailabilityRequest{Currency: req.Data.Currency, RequestId: req.ID,
		ShippingAddress: &pb.Address{Line1: a.Line1, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country}}
	for _, l := range req.Data.LineItemDetails {
		creq.Items = append(creq.Items, &pb.LineItem{LineId: l.ID, Sku: l.SKUID, Quantity: l.Quantity, Name: l.Name, UnitAmount: l.UnitAmount})
	}
	ctx, cancel := context.WithTimeout(r.Context(), hooks.DefaultDeadline)
	defer cancel()
	resp, err := p.CheckAvailability(ctx, creq)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	answer := `{"manual_approval_details":{"type":"approved"}}`
	for _, it := range resp.GetItems() {
		if !it.GetAvailable() {
			answer = `{"manual_approval_details":{"type":"declined","declined":{"reason":"unavailable"}}}`
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, answer)
}

// measure serves h on loopback and loads it.
func measure(h http.Handler, variant string, round int, pluginPid string, ts *timedStore) (Result, error) {
	res := Result{Bench: "hooks", Variant: variant, Round: round, Clients: *clientsFlag, LoadAvg: benchutil.LoadAvg()}
	mux := http.NewServeMux()
	mux.Handle("POST /hooks", h)
	// The daemon's server settings (daemon.Start).
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelWarn)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/hooks"
	tr := &http.Transport{Proxy: nil, MaxIdleConns: *clientsFlag, MaxIdleConnsPerHost: *clientsFlag, MaxConnsPerHost: *clientsFlag}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	var seq atomic.Int64
	var errCount atomic.Int64
	var firstErr atomic.Value
	send := func() (time.Duration, error) {
		id := fmt.Sprintf("hook_bench_%s_%d_%d", variant, round, seq.Add(1))
		body := hookBody(id)
		sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret}).Header
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Stripe-Signature", sig)
		start := time.Now()
		r, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		out, err := io.ReadAll(r.Body)
		r.Body.Close()
		elapsed := time.Since(start)
		if err != nil {
			return 0, err
		}
		if r.StatusCode != http.StatusOK || !bytes.Contains(out, []byte(`"type":"approved"`)) {
			return 0, fmt.Errorf("HTTP %d: %s", r.StatusCode, out)
		}
		return elapsed, nil
	}

	var measuring atomic.Bool
	stop := make(chan struct{})
	lat := make([][]time.Duration, *clientsFlag)
	var wg sync.WaitGroup
	for c := range *clientsFlag {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				on := measuring.Load()
				d, err := send()
				if !on || !measuring.Load() {
					continue // started in the warm-up or finished after the window
				}
				if err != nil {
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat[c] = append(lat[c], d)
			}
		}()
	}
	time.Sleep(*warmupFlag)
	var prof *os.File
	if *profileFlag != "" && variant == "hooks" && round == *roundsFlag {
		if prof, err = os.Create(*profileFlag); err != nil {
			return res, err
		}
		_ = pprof.StartCPUProfile(prof)
	}
	cpu0, pcpu0 := benchutil.SelfCPU(), procCPU(pluginPid)
	start := time.Now()
	if ts != nil {
		ts.record.Store(true)
	}
	measuring.Store(true)
	time.Sleep(*durationFlag)
	measuring.Store(false)
	if ts != nil {
		ts.record.Store(false)
	}
	window := time.Since(start)
	cpu1, pcpu1 := benchutil.SelfCPU(), procCPU(pluginPid)
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}
	close(stop)
	wg.Wait()

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		e, _ := firstErr.Load().(string)
		return res, errors.New("no successful request: " + e)
	}
	benchutil.SortDurations(all)
	ms := func(d time.Duration) float64 { return benchutil.Round(float64(d)/float64(time.Millisecond), 2) }
	res.Requests = len(all)
	res.Seconds = benchutil.Round(window.Seconds(), 3)
	res.RPS = benchutil.Round(float64(len(all))/window.Seconds(), 0)
	res.P50ms, res.P90ms, res.P99ms = ms(benchutil.Percentile(all, 50)), ms(benchutil.Percentile(all, 90)), ms(benchutil.Percentile(all, 99))
	res.MaxMs = ms(all[len(all)-1])
	res.Errors = int(errCount.Load())
	if e, ok := firstErr.Load().(string); ok {
		res.FirstErr = e
	}
	res.CPU = benchutil.Round(cpu1-cpu0, 2)
	res.PluginCPU = benchutil.Round(pcpu1-pcpu0, 2)
	if ts != nil {
		b, f := ts.sorted()
		res.BeginP50ms, res.BeginP99ms = ms(benchutil.Percentile(b, 50)), ms(benchutil.Percentile(b, 99))
		res.FinishP50ms, res.FinishP99ms = ms(benchutil.Percentile(f, 50)), ms(benchutil.Percentile(f, 99))
	}
	return res, nil
}

// timedStore records how long BeginHook and FinishHook take inside the
// handler (waiting for the single write connection included).
type timedStore struct {
	store.Store
	record        atomic.Bool
	mu            sync.Mutex
	begin, finish []time.Duration
}

func (t *timedStore) BeginHook(ctx context.Context, id, kind string, lease time.Duration) (*store.HookRecord, bool, error) {
	start := time.Now()
	rec, ok, err := t.Store.BeginHook(ctx, id, kind, lease)
	t.add(&t.begin, time.Since(start))
	return rec, ok, err
}

func (t *timedStore) FinishHook(ctx context.Context, id string, response []byte) error {
	start := time.Now()
	err := t.Store.FinishHook(ctx, id, response)
	t.add(&t.finish, time.Since(start))
	return err
}

func (t *timedStore) add(dst *[]time.Duration, d time.Duration) {
	if !t.record.Load() {
		return
	}
	t.mu.Lock()
	*dst = append(*dst, d)
	t.mu.Unlock()
}

func (t *timedStore) sorted() (begin, finish []time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return benchutil.SortDurations(append([]time.Duration(nil), t.begin...)), benchutil.SortDurations(append([]time.Duration(nil), t.finish...))
}

func procCPU(pid string) float64 {
	v, _ := benchutil.ProcCPU(pid)
	return v
}
