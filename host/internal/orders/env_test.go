package orders

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/acs-connector/acs-connector/host/internal/testbin"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
	"github.com/acs-connector/acs-connector/host/internal/webhooks"
)

var binDir string

// TestMain builds the csvdir plugin (orders go to its outbox directory,
// updates come from its inbox).
func TestMain(m *testing.M) {
	testbin.Main(m, &binDir, map[string]string{"csvdir": "./plugins/csvdir"})
}

const whSecret = "whsec_orders_test"

// webhookAttempts is how often the emulator delivers an event at most.
const webhookAttempts = 8

type envOptions struct {
	Capture, CaptureOn string
	RefundRejected     bool
	// Fanout delivers every webhook this many times, concurrently.
	Fanout  int
	Workers int
	// NoStart leaves the worker stopped.
	NoStart bool
	// RetryInterval runs the worker's own retry pass (default: off, tests
	// call RetryPending themselves).
	RetryInterval time.Duration
	// PluginBackoff is how long a crashed plugin stays down (default 100ms).
	PluginBackoff time.Duration
	// SweepLimit is Options.SweepLimit (default: the service's).
	SweepLimit int
	// QueueSize is Options.QueueSize (default: the service's).
	QueueSize int
}

type env struct {
	t       *testing.T
	emu     *emulator.Emulator
	emuURL  string
	sc      *stripeapi.Client
	st      store.Store
	plugin  *pluginmgr.Plugin
	rpc     *testbin.RPCCounter
	svc     *Service
	host    *httptest.Server
	catalog string
	outbox  string
	inbox   string
	logs    *syncBuffer
	// webhookURL is where the emulator delivers (the fan-out, if any).
	webhookURL string
	// patience bounds the waits (default 20s).
	patience time.Duration
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newEnv(t *testing.T, eo envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	e.emu = emulator.New(emulator.Options{WebhookAttempts: webhookAttempts, WebhookBackoff: func(int) time.Duration { return 50 * time.Millisecond }})
	url, err := e.emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.emuURL = url
	t.Cleanup(func() { e.emu.Close() })
	e.sc, err = stripeapi.New(stripeapi.Config{Key: "sk_test_orders", URL: url, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.st, err = store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}

	// csvdir: a small catalog, an outbox and an inbox.
	e.catalog = t.TempDir()
	products := "id,title,description,link,image_link,availability,inventory_quantity,price\n" +
		"MUG-BLUE,Blue enamel mug,A mug.,https://shop.example.com/p/mug,https://img.example.com/mug.jpg,in_stock,1000000,12.00 USD\n" +
		"TEE-L,Organic tee,A tee.,https://shop.example.com/p/tee,https://img.example.com/tee.jpg,in_stock,1000000,25.00 USD\n"
	if err := os.WriteFile(filepath.Join(e.catalog, "products.csv"), []byte(products), 0o644); err != nil {
		t.Fatal(err)
	}
	e.outbox, e.inbox = filepath.Join(e.catalog, "outbox"), filepath.Join(e.catalog, "inbox")
	for _, d := range []string{e.outbox, e.inbox} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.rpc = &testbin.RPCCounter{}
	mgr := pluginmgr.New(pluginmgr.Options{DialOptions: e.rpc.Dial, HostVersion: "test"})
	cfg, _ := json.Marshal(map[string]any{"dir": e.catalog, "outbox": e.outbox, "inbox": e.inbox, "reject_unknown_skus": true})
	backoff := eo.PluginBackoff
	if backoff <= 0 {
		backoff = 100 * time.Millisecond
	}
	if err := mgr.Start(ctx, []pluginmgr.Spec{{Name: "csvdir", Path: filepath.Join(binDir, "csvdir"), ConfigJSON: cfg, WorkDir: e.catalog,
		ConfigSource: "test.yaml:1", MinBackoff: backoff, MaxBackoff: 2 * backoff,
		CallTimeout: 20 * time.Second, StartTimeout: 20 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	e.plugin, _ = mgr.Get("csvdir")

	retryEvery := eo.RetryInterval
	if retryEvery == 0 {
		retryEvery = -1
	}
	e.svc = New(Options{Stripe: e.sc, Store: e.st, Plugin: func() (*pluginmgr.Plugin, bool) { return e.plugin, true },
		Capture: eo.Capture, CaptureOn: eo.CaptureOn, RefundRejected: eo.RefundRejected, Workers: eo.Workers,
		RetryInterval: retryEvery, RetryBackoff: 10 * time.Millisecond, SweepLimit: eo.SweepLimit, QueueSize: eo.QueueSize, Logger: log})
	router := webhooks.NewRouter(webhooks.Options{Secret: whSecret, Logger: log})
	e.svc.RegisterWebhooks(router)
	mux := http.NewServeMux()
	mux.Handle("/webhooks", router)
	mux.Handle("/orders/", e.svc.OrderPage())
	e.host = httptest.NewServer(mux)
	target := e.host.URL + "/webhooks"
	if eo.Fanout > 1 {
		target = fanout(t, target, eo.Fanout)
	}
	e.webhookURL = target
	e.emu.SetWebhook(target, whSecret)
	if !eo.NoStart {
		e.svc.Start(ctx)
	}
	// Cleanups run last-in first-out: stop the worker, then the host, the
	// plugin and the store.
	t.Cleanup(func() { e.st.Close() })
	t.Cleanup(func() { mgr.Stop(ctx) })
	t.Cleanup(e.host.Close)
	t.Cleanup(e.svc.Stop)
	t.Cleanup(func() {
		if f := os.Getenv("ACS_TEST_DUMP_LOGS"); f != "" {
			_ = os.WriteFile(f, []byte(e.logs.String()), 0o644)
		}
		if t.Failed() {
			t.Logf("logs (tail):\n%s", tail(e.logs.String(), 6000))
		}
	})
	return e
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// fanout is a webhook endpoint that delivers every request n times at
// once to target (same body, same signature) and answers with the worst
// status.
func fanout(t *testing.T, target string, n int) string {
	hc := &http.Client{Timeout: 30 * time.Second}
	// At most 16 events in flight (48 requests to the host). Unbounded,
	// a thousand deliveries at once mostly measure the machine; deliveries
	// that still time out are retried by the emulator, as Stripe would.
	sem := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sem <- struct{}{}
		defer func() { <-sem }()
		body, _ := io.ReadAll(r.Body)
		sig := r.Header.Get("Stripe-Signature")
		var wg sync.WaitGroup
		var mu sync.Mutex
		worst := 200
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
				req.Header.Set("Stripe-Signature", sig)
				req.Header.Set("Content-Type", "application/json")
				code := 599
				if res, err := hc.Do(req); err == nil {
					code = res.StatusCode
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				mu.Lock()
				worst = max(worst, code)
				mu.Unlock()
			}()
		}
		wg.Wait()
		w.WriteHeader(worst)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (e *env) checkout(in emulator.CheckoutInput) string {
	e.t.Helper()
	id, err := e.emu.CompleteCheckout(in)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func mugOrder(qty int64) emulator.CheckoutInput {
	return emulator.CheckoutInput{
		Lines:        []emulator.CheckoutLine{{SKU: "MUG-BLUE", Name: "Blue enamel mug", Description: "A mug.", Quantity: qty, UnitAmount: 1200}},
		ShippingName: "Jenny Rosen",
		Shipping:     emulator.Address{Line1: "1 Main St", City: "Springfield", State: "IL", PostalCode: "62701", Country: "US"},
		Email:        "jenny@example.com",
	}
}

// waitOrder waits until the order reaches one of states.
func (e *env) waitOrder(id string, states ...string) *store.Order {
	e.t.Helper()
	deadline := time.Now().Add(e.wait())
	for {
		o, err := e.st.GetOrder(context.Background(), id)
		if err == nil {
			for _, s := range states {
				if o.State == s {
					return o
				}
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("order %s did not reach %v (now %+v, err %v)", id, states, o, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(e.wait())
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *env) wait() time.Duration {
	if e.patience > 0 {
		return e.patience
	}
	return 20 * time.Second
}

func (e *env) paymentIntent(id string) string {
	e.t.Helper()
	o, err := e.st.GetOrder(context.Background(), id)
	if err != nil || o.PaymentIntentID == "" {
		e.t.Fatalf("order %s: %+v %v", id, o, err)
	}
	return o.PaymentIntentID
}

func (e *env) refundsOf(pi string) []emulator.RefundInfo {
	var out []emulator.RefundInfo
	for _, r := range e.emu.Refunds() {
		if r.PaymentIntent == pi {
			out = append(out, r)
		}
	}
	return out
}

// writeUpdate drops an order update into csvdir's inbox.
func (e *env) writeUpdate(name string, u map[string]any) {
	e.t.Helper()
	b, _ := json.Marshal(u)
	tmp := filepath.Join(e.inbox, "."+name+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.inbox, name+".json")); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) outboxFiles() []string {
	ents, err := os.ReadDir(e.outbox)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, en := range ents {
		if strings.HasSuffix(en.Name(), ".json") && !strings.HasPrefix(en.Name(), ".") {
			out = append(out, strings.TrimSuffix(en.Name(), ".json"))
		}
	}
	return out
}
