package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/acs-connector/acs-connector/host/internal/testbin"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/hooks"
	"github.com/acs-connector/acs-connector/host/internal/orders"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
	"github.com/acs-connector/acs-connector/host/internal/webhooks"
)

var binDir string

// TestMain builds the csvdir plugin the simulated host fulfils through.
func TestMain(m *testing.M) {
	testbin.Main(m, &binDir, map[string]string{"csvdir": "./plugins/csvdir"})
}

const (
	hookSecret    = "whsec_sim_hooks"
	webhookSecret = "whsec_sim_webhooks"
	emulatorKey   = "sk_test_simulate"
)

// host assembles the pieces a running daemon serves, against the emulator
// and a csvdir backend.
func host(t *testing.T) (hostURL, emuURL string, st store.Store) {
	t.Helper()
	ctx := context.Background()
	emu := emulator.New(emulator.Options{APIKey: emulatorKey})
	emuURL, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	sc, err := stripeapi.New(stripeapi.Config{Key: emulatorKey, URL: emuURL})
	if err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	dir := t.TempDir()
	products := "id,title,description,link,image_link,availability,inventory_quantity,price\n" +
		"MUG-BLUE,Blue enamel mug,A mug.,https://shop.example.com/p/mug,https://img.example.com/mug.jpg,in_stock,10,12.00 USD\n" +
		"TEE-L,Organic tee,A tee.,https://shop.example.com/p/tee,https://img.example.com/tee.jpg,out_of_stock,0,25.00 USD\n"
	if err := os.WriteFile(filepath.Join(dir, "products.csv"), []byte(products), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "outbox"), 0o755)
	cfg, _ := json.Marshal(map[string]any{"dir": dir, "outbox": filepath.Join(dir, "outbox"),
		"shipping_options": []map[string]any{{"id": "standard", "name": "Standard shipping", "amount": "5.00", "currency": "USD", "min_days": 3, "max_days": 5}},
		"tax_rates":        []map[string]any{{"country": "US", "state": "IL", "name": "Illinois sales tax", "percentage": 6.25}}})
	mgr := pluginmgr.New(pluginmgr.Options{HostVersion: "test"})
	if err := mgr.Start(ctx, []pluginmgr.Spec{{Name: "csvdir", Path: filepath.Join(binDir, "csvdir"), ConfigJSON: cfg, ConfigSource: "test.yaml:1",
		MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, CallTimeout: 10 * time.Second, StartTimeout: 20 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Stop(ctx) })
	plugin := func() (*pluginmgr.Plugin, bool) { return mgr.Get("csvdir") }

	svc := orders.New(orders.Options{Stripe: sc, Store: st, Plugin: plugin, RefundRejected: true, RetryInterval: -1})
	router := webhooks.NewRouter(webhooks.Options{Secret: webhookSecret})
	svc.RegisterWebhooks(router)
	mux := http.NewServeMux()
	mux.Handle("/hooks", hooks.New(hooks.Options{Secret: hookSecret, Plugin: plugin, Store: st, AllowedCountries: []string{"US"}}))
	mux.Handle("/webhooks", router)
	mux.Handle("/orders/", svc.OrderPage())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	svc.Start(ctx)
	t.Cleanup(svc.Stop)
	emu.SetWebhook(srv.URL+"/webhooks", webhookSecret)
	return srv.URL, emuURL, st
}

func TestSimulateApprovedOrderIsFulfilled(t *testing.T) {
	hostURL, emuURL, st := host(t)
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{HostURL: hostURL, HookSecret: hookSecret, EmulatorURL: emuURL, EmulatorKey: emulatorKey,
		SKU: "MUG-BLUE", Qty: 2, Country: "US", Out: &out, Timeout: 20 * time.Second})
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Approved || !res.Fulfilled || res.OrderState != "accepted" || res.ShippingOptionID != "standard" || res.TaxPercent != 6.25 {
		t.Fatalf("result: %+v", res)
	}
	names := []string{}
	for _, s := range res.Steps {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "catalog,customize_checkout,finalize_checkout,payment,fulfilment" {
		t.Fatalf("steps: %v", names)
	}
	for _, want := range []string{"customize_checkout", "finalize_checkout", "approved", "final order state: accepted"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The completed order carries the shipping option the hook offered.
	o, err := st.GetOrder(context.Background(), res.SessionID)
	if err != nil || o.State != store.OrderAccepted {
		t.Fatalf("ledger: %+v %v", o, err)
	}
	if !bytes.Contains(o.OrderJSON, []byte(`"shippingOptionId":"standard"`)) {
		t.Errorf("mapped order lacks the shipping option id: %s", o.OrderJSON)
	}
}

func TestSimulateDeclinedOrderStopsBeforePayment(t *testing.T) {
	hostURL, emuURL, st := host(t)
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{HostURL: hostURL, HookSecret: hookSecret, EmulatorURL: emuURL, EmulatorKey: emulatorKey,
		SKU: "TEE-L", Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Approved || !strings.Contains(res.DeclineReason, "out of stock") || res.SessionID != "" {
		t.Fatalf("result: %+v\n%s", res, out.String())
	}
	if n, _ := st.CountOrdersByState(context.Background()); len(n) != 0 {
		t.Fatalf("orders: %v", n)
	}
	// A wrong hook secret: the host refuses (400), Stripe would answer 424.
	_, err = Run(context.Background(), Options{HostURL: hostURL, HookSecret: "whsec_wrong", EmulatorURL: emuURL, EmulatorKey: emulatorKey, SKU: "MUG-BLUE"})
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestParsePrice(t *testing.T) {
	for in, want := range map[string]int64{"12.00 USD": 1200, "1,000.5 USD": 100050, "7 USD": 700, "500 JPY": 500} {
		if got, _, ok := parsePrice(in); !ok || got != want {
			t.Errorf("parsePrice(%q) = %d %v, want %d", in, got, ok, want)
		}
	}
	if _, _, ok := parsePrice("twelve"); ok {
		t.Error("parsePrice accepted junk")
	}
}
