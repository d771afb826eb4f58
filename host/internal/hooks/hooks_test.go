package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/webhooks"
)

const hookSecret = "whsec_hook_test"

func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func pluginFn(p *pluginmgr.Plugin) func() (*pluginmgr.Plugin, bool) {
	return func() (*pluginmgr.Plugin, bool) { return p, p != nil }
}

type reply struct {
	code    int
	body    []byte
	elapsed time.Duration
}

func (r reply) approval(t *testing.T) (typ, reason string) {
	t.Helper()
	var a approval
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("answer %s: %v", r.body, err)
	}
	if a.ManualApprovalDetails.Declined != nil {
		reason = a.ManualApprovalDetails.Declined.Reason
	}
	return a.ManualApprovalDetails.Type, reason
}

func hookBody(typ, id string, data any) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "id": id, "livemode": false, "data": data})
	return b
}

func sendRaw(h http.Handler, body []byte, sig string) reply {
	req := httptest.NewRequest(http.MethodPost, "/hooks", bytes.NewReader(body))
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, req)
	return reply{code: rec.Code, body: rec.Body.Bytes(), elapsed: time.Since(start)}
}

func send(h http.Handler, typ, id string, data any) reply {
	body := hookBody(typ, id, data)
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: hookSecret}).Header
	return sendRaw(h, body, sig)
}

func finData(sku string, qty int64) map[string]any {
	return map[string]any{
		"amount_total": 1200 * qty, "currency": "usd",
		"line_items_details": []map[string]any{{"id": "li_1", "unit_amount": 1200, "quantity": qty, "name": "Blue enamel mug"}},
		"line_item_details":  []map[string]any{{"id": "li_1", "sku_id": sku, "unit_amount": 1200, "quantity": qty, "name": "Blue enamel mug"}},
		"shipping_details":   map[string]any{"name": "Jenny", "address": map[string]any{"country": "US", "state": "CA"}},
	}
}

func TestUnverifiedRequestsNeverReachPluginOrStore(t *testing.T) {
	p, cnt := startPlugin(t, "testplugin", map[string]any{}, 100*time.Millisecond)
	st := openStore(t)
	h := New(Options{Secret: hookSecret, Plugin: pluginFn(p), Store: st})
	body := hookBody(TypeFinalize, "hook_forged", finData("MUG", 1))
	now := time.Now()
	valid := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: hookSecret, Timestamp: now}).Header
	tampered := bytes.Replace(body, []byte(`"quantity":1`), []byte(`"quantity":9`), 1)
	webhookSecretSig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: "whsec_the_webhook_endpoint", Timestamp: now}).Header
	for _, tc := range []struct {
		name string
		body []byte
		sig  string
		want string
	}{
		{"unsigned", body, "", "missing Stripe-Signature"},
		{"forged", body, webhookSecretSig, "no v1 signature"},
		{"stale", body, webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: hookSecret, Timestamp: now.Add(-301 * time.Second)}).Header, "tolerance"},
		{"valid signature, wrong body", tampered, valid, "no v1 signature"},
		{"malformed header", body, "t=now,v1=zz", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sendRaw(h, tc.body, tc.sig)
			var eb webhooks.ErrorBody
			if err := json.Unmarshal(r.body, &eb); err != nil || r.code != 400 || !strings.Contains(eb.Error.Message, tc.want) || eb.Error.Field != "Stripe-Signature" {
				t.Fatalf("got %d %s; want 400 naming %q", r.code, r.body, tc.want)
			}
		})
	}
	if n := cnt.Get("CheckAvailability"); n != 0 {
		t.Fatalf("plugin called %d times by unverified requests", n)
	}
	if _, err := st.GetHook(context.Background(), "hook_forged"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unverified request reached the store: %v", err)
	}
	// The genuine request goes through.
	if r := sendRaw(h, body, valid); r.code != 200 {
		t.Fatalf("valid: %d %s", r.code, r.body)
	}
	if n := cnt.Get("CheckAvailability"); n != 1 {
		t.Fatalf("plugin calls after a valid request: %d", n)
	}
}

func TestBadHookRequestsName400(t *testing.T) {
	h := New(Options{Secret: hookSecret})
	for _, tc := range []struct {
		name        string
		body        []byte
		field, want string
	}{
		{"unknown type", hookBody("v1.delegated_checkout.something", "hook_1", map[string]any{}), "type", "unknown hook type"},
		{"no id", hookBody(TypeFinalize, "", map[string]any{}), "id", "no id"},
		{"no data", []byte(`{"type":"` + TypeFinalize + `","id":"hook_2"}`), "data", "no data"},
		{"bad field", hookBody(TypeFinalize, "hook_3", map[string]any{"amount_total": "lots"}), "data.amount_total", "finalize_checkout data"},
		{"bad customize field", hookBody(TypeCustomize, "hook_4", map[string]any{"automatic_tax": "yes"}), "data.automatic_tax", "customize_checkout data"},
		{"null data", []byte(`{"type":"` + TypeCustomize + `","id":"hook_5","data":null}`), "data", "no data"},
		{"bad envelope field", []byte(`{"type":"` + TypeFinalize + `","id":"hook_6","livemode":"yes","data":{}}`), "livemode", "not a JSON hook request"},
		{"unknown type with bad data", hookBody("v1.other", "hook_7", map[string]any{"amount_total": "lots"}), "type", "unknown hook type"},
		{"bad json", []byte(`{"type":`), "", "not a JSON hook request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: tc.body, Secret: hookSecret}).Header
			r := sendRaw(h, tc.body, sig)
			var eb webhooks.ErrorBody
			_ = json.Unmarshal(r.body, &eb)
			if r.code != 400 || eb.Error.Field != tc.field || !strings.Contains(eb.Error.Message, tc.want) {
				t.Fatalf("got %d %s; want field %q and %q", r.code, r.body, tc.field, tc.want)
			}
			if tc.name == "bad field" && eb.Error.RequestID != "hook_3" {
				t.Errorf("request id missing: %s", r.body)
			}
		})
	}
}

func TestFinalizeRulesAndAvailability(t *testing.T) {
	p, cnt := startPlugin(t, "csvdir", csvdirConfig(t), 100*time.Millisecond)
	h := New(Options{Secret: hookSecret, Plugin: pluginFn(p), Store: openStore(t),
		MaxQuantity: 7, AllowedCountries: []string{"us", "CA"}, MaxOrderAmount: 50000})

	if typ, reason := send(h, TypeFinalize, "hook_ok", finData("MUG-BLUE", 2)).approval(t); typ != "approved" || reason != "" {
		t.Fatalf("in stock: %s %q", typ, reason)
	}
	calls := cnt.Get("CheckAvailability")
	if calls != 1 {
		t.Fatalf("availability calls: %d", calls)
	}

	rules := []struct {
		name string
		data map[string]any
		want string
	}{
		{"max quantity", finData("MUG-BLUE", 8), "at most 7 of Blue enamel mug"},
		{"country", func() map[string]any {
			d := finData("MUG-BLUE", 1)
			d["shipping_details"] = map[string]any{"address": map[string]any{"country": "FR"}}
			return d
		}(), "don't ship to FR"},
		{"no address", func() map[string]any { d := finData("MUG-BLUE", 1); delete(d, "shipping_details"); return d }(), "shipping address"},
		{"amount", func() map[string]any { d := finData("MUG-BLUE", 1); d["amount_total"] = 50001; return d }(), "above our limit of 500.00 USD"},
		{"zero quantity", finData("MUG-BLUE", 0), "not valid"},
	}
	for i, tc := range rules {
		typ, reason := send(h, TypeFinalize, "hook_rule_"+string(rune('a'+i)), tc.data).approval(t)
		if typ != "declined" || !strings.Contains(reason, tc.want) {
			t.Errorf("%s: %s %q, want declined with %q", tc.name, typ, reason, tc.want)
		}
	}
	if n := cnt.Get("CheckAvailability"); n != calls {
		t.Fatalf("rules must decline before asking the plugin (%d calls)", n-calls)
	}

	// Stock: out of stock, too few left, unknown SKU; the id falls back to
	// the line id when sku_id is missing.
	if typ, reason := send(h, TypeFinalize, "hook_oos", finData("TEE-L", 1)).approval(t); typ != "declined" || !strings.Contains(reason, "out of stock") {
		t.Errorf("out of stock: %s %q", typ, reason)
	}
	twoLines := func(q int64) map[string]any {
		return map[string]any{"amount_total": 1, "currency": "usd",
			"line_item_details": []map[string]any{
				{"id": "li_1", "sku_id": "MUG-BLUE", "quantity": q, "name": "Mug"},
				{"id": "li_2", "sku_id": "MUG-BLUE", "quantity": q, "name": "Mug"}},
			"shipping_details": map[string]any{"address": map[string]any{"country": "US"}}}
	}
	// Lines of one SKU count together against the 12 in stock.
	if typ, reason := send(h, TypeFinalize, "hook_two_ok", twoLines(4)).approval(t); typ != "approved" {
		t.Errorf("8 of 12: %s %q", typ, reason)
	}
	if typ, reason := send(h, TypeFinalize, "hook_two_many", twoLines(7)).approval(t); typ != "declined" || !strings.Contains(reason, "only 12 left") {
		t.Errorf("14 of 12: %s %q", typ, reason)
	}
	if typ, reason := send(h, TypeFinalize, "hook_unknown", map[string]any{"amount_total": 1, "currency": "usd",
		"line_items_details": []map[string]any{{"id": "NOPE-1", "quantity": 1, "name": "Ghost"}},
		"shipping_details":   map[string]any{"address": map[string]any{"country": "US"}}}).approval(t); typ != "declined" || !strings.Contains(reason, "Ghost") {
		t.Errorf("unknown SKU via line id: %s %q", typ, reason)
	}
}

func TestKilledPluginIsDeclinedInsideDeadline(t *testing.T) {
	// A long backoff keeps the killed plugin down for the whole request.
	p, _ := startPlugin(t, "testplugin", map[string]any{}, 30*time.Second)
	deadline := 1500 * time.Millisecond
	h := New(Options{Secret: hookSecret, Plugin: pluginFn(p), Store: openStore(t), Deadline: deadline})
	if typ, _ := send(h, TypeFinalize, "hook_before", finData("MUG", 1)).approval(t); typ != "approved" {
		t.Fatalf("before the kill: %s", typ)
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r := send(h, TypeFinalize, "hook_after_kill", finData("MUG", 1))
	typ, reason := r.approval(t)
	if r.code != 200 || typ != "declined" || reason != UnavailableReason {
		t.Fatalf("after the kill: %d %s %q", r.code, typ, reason)
	}
	if r.elapsed >= deadline {
		t.Fatalf("answered after %s, deadline %s", r.elapsed, deadline)
	}
	t.Logf("killed plugin: declined in %s", r.elapsed)

	// The approve policy answers approved instead.
	h2 := New(Options{Secret: hookSecret, Plugin: pluginFn(p), Deadline: deadline, OnFailure: "approve"})
	if typ, _ := send(h2, TypeFinalize, "hook_after_kill_2", finData("MUG", 1)).approval(t); typ != "approved" {
		t.Fatalf("approve policy: %s", typ)
	}
	// No plugin at all.
	h3 := New(Options{Secret: hookSecret, Plugin: pluginFn(nil)})
	if typ, reason := send(h3, TypeFinalize, "hook_none", finData("MUG", 1)).approval(t); typ != "declined" || reason != UnavailableReason {
		t.Fatalf("no plugin: %s %q", typ, reason)
	}
}

func TestSlowPluginIsDeclinedInsideDefaultDeadline(t *testing.T) {
	p, _ := startPlugin(t, "testplugin", map[string]any{"slow_sku": "SLOW"}, 100*time.Millisecond)
	h := New(Options{Secret: hookSecret, Plugin: pluginFn(p), Store: openStore(t)}) // default 3s
	r := send(h, TypeFinalize, "hook_slow", finData("SLOW", 1))
	typ, reason := r.approval(t)
	if typ != "declined" || reason != UnavailableReason {
		t.Fatalf("slow plugin: %s %q", typ, reason)
	}
	if r.elapsed >= DefaultDeadline {
		t.Fatalf("answered after %s, deadline %s", r.elapsed, DefaultDeadline)
	}
	t.Logf("slow plugin: declined in %s", r.elapsed)
	// The timeout answer is the stored answer: a retry gets it at once.
	r2 := send(h, TypeFinalize, "hook_slow", finData("SLOW", 1))
	if !bytes.Equal(r.body, r2.body) || r2.elapsed > time.Second {
		t.Fatalf("retry: %s in %s", r2.body, r2.elapsed)
	}
}

func TestRetriedHookIsAnsweredOnce(t *testing.T) {
	p, cnt := startPlugin(t, "testplugin", map[string]any{}, 100*time.Millisecond)
	st := openStore(t)
	h := New(Options{Secret: hookSecret, Plugin: pluginFn(p), Store: st})
	first := send(h, TypeFinalize, "hook_retry", finData("MUG", 1))
	second := send(h, TypeFinalize, "hook_retry", finData("MUG", 1))
	if first.code != 200 || !bytes.Equal(first.body, second.body) {
		t.Fatalf("answers differ: %s / %s", first.body, second.body)
	}
	if n := cnt.Get("CheckAvailability"); n != 1 {
		t.Fatalf("plugin asked %d times", n)
	}

	// Concurrent retries, on this host and on a second host sharing the
	// store: one plugin call, one answer.
	other := New(Options{Secret: hookSecret, Plugin: pluginFn(p), Store: st})
	var wg sync.WaitGroup
	answers := make([][]byte, 20)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hh := h
			if i%2 == 1 {
				hh = other
			}
			r := send(hh, TypeCustomize, "hook_concurrent", map[string]any{"currency": "usd", "automatic_tax": map[string]any{"enabled": false},
				"line_item_details": []map[string]any{{"id": "li_1", "sku_id": "MUG", "quantity": 1}}})
			if r.code != 200 {
				t.Errorf("concurrent %d: %d %s", i, r.code, r.body)
			}
			answers[i] = r.body
		}()
	}
	wg.Wait()
	for i := range answers {
		if !bytes.Equal(answers[i], answers[0]) {
			t.Fatalf("answer %d differs: %s vs %s", i, answers[i], answers[0])
		}
	}
	if n := cnt.Get("CustomizeCheckout"); n != 1 {
		t.Fatalf("plugin asked %d times for concurrent retries", n)
	}
	// An id reused for another hook type is refused.
	if r := send(h, TypeFinalize, "hook_concurrent", finData("MUG", 1)); r.code != 400 {
		t.Fatalf("id reuse across types: %d %s", r.code, r.body)
	}
}

func TestRetryTakesOverFromDeadOwner(t *testing.T) {
	p, cnt := startPlugin(t, "testplugin", map[string]any{}, 100*time.Millisecond)
	st := openStore(t)
	// A host that began answering and died: its lease runs out.
	if _, started, err := st.BeginHook(context.Background(), "hook_orphan", TypeFinalize, 200*time.Millisecond); err != nil || !started {
		t.Fatal(started, err)
	}
	h := New(Options{Secret: hookSecret, Plugin: pluginFn(p), Store: st, Deadline: 2 * time.Second})
	r := send(h, TypeFinalize, "hook_orphan", finData("MUG", 1))
	if typ, _ := r.approval(t); typ != "approved" || cnt.Get("CheckAvailability") != 1 {
		t.Fatalf("takeover: %s, %d calls, %s", r.body, cnt.Get("CheckAvailability"), r.elapsed)
	}
	rec, err := st.GetHook(context.Background(), "hook_orphan")
	if err != nil || !bytes.Equal(rec.Response, r.body) {
		t.Fatalf("stored answer %v %v", rec, err)
	}
}

func TestCustomizeMapsShippingAndTax(t *testing.T) {
	p, _ := startPlugin(t, "csvdir", csvdirConfig(t), 100*time.Millisecond)
	h := New(Options{Secret: hookSecret, Plugin: pluginFn(p), Store: openStore(t)})
	data := func(auto bool) map[string]any {
		return map[string]any{"currency": "usd", "automatic_tax": map[string]any{"enabled": auto},
			"line_item_details": []map[string]any{{"id": "li_A", "sku_id": "MUG-BLUE", "quantity": 1, "unit_amount": 1200, "name": "Mug",
				"tax_rates": []any{}, "amount_total": 1200}},
			"shipping_details": map[string]any{"address": map[string]any{"country": "US", "state": "CA"}}}
	}
	r := send(h, TypeCustomize, "hook_cust", data(false))
	var ans CustomizeAnswer
	if err := json.Unmarshal(r.body, &ans); err != nil || r.code != 200 {
		t.Fatalf("%d %s %v", r.code, r.body, err)
	}
	if len(ans.ShippingOptions) != 2 {
		t.Fatalf("shipping options: %s", r.body)
	}
	std := ans.ShippingOptions[0].ShippingRateData
	if std.DisplayName != "Standard shipping" || std.FixedAmount != (FixedAmount{500, "usd"}) ||
		std.Metadata[ShippingOptionMetadataKey] != "standard" || std.DeliveryEstimate == nil ||
		*std.DeliveryEstimate.Minimum != (EstimateBound{"business_day", 3}) || *std.DeliveryEstimate.Maximum != (EstimateBound{"business_day", 5}) {
		t.Fatalf("standard option: %+v", std)
	}
	if ans.ShippingOptions[1].ShippingRateData.Metadata[ShippingOptionMetadataKey] != "express" {
		t.Fatalf("express option: %+v", ans.ShippingOptions[1])
	}
	if len(ans.LineItems) != 1 || ans.LineItems[0].ID != "li_A" || len(ans.LineItems[0].TaxRates) != 1 ||
		ans.LineItems[0].TaxRates[0].RateData != (RateData{"California sales tax", false, 7.25}) {
		t.Fatalf("tax rates: %s", r.body)
	}
	// The raw JSON has the documented keys.
	for _, k := range []string{`"shipping_rate_data"`, `"fixed_amount"`, `"acs_shipping_option_id":"standard"`, `"rate_data"`, `"percentage":7.25`, `"delivery_estimate"`} {
		if !bytes.Contains(r.body, []byte(k)) {
			t.Errorf("answer lacks %s: %s", k, r.body)
		}
	}

	// Stripe Tax on: no tax rates at all.
	r = send(h, TypeCustomize, "hook_cust_auto", data(true))
	ans = CustomizeAnswer{}
	_ = json.Unmarshal(r.body, &ans)
	if len(ans.ShippingOptions) != 2 || len(ans.LineItems) != 0 || bytes.Contains(r.body, []byte("tax_rates")) {
		t.Fatalf("automatic tax: %s", r.body)
	}
}

func TestCustomizeFallsBackToEmptyObject(t *testing.T) {
	// testplugin does not implement CustomizeCheckout; a missing plugin is
	// the same: 200 {} so Stripe uses the catalog's shipping and tax.
	p, _ := startPlugin(t, "testplugin", map[string]any{}, 100*time.Millisecond)
	for name, fn := range map[string]func() (*pluginmgr.Plugin, bool){"unimplemented": pluginFn(p), "no plugin": pluginFn(nil)} {
		h := New(Options{Secret: hookSecret, Plugin: fn, Store: openStore(t)})
		r := send(h, TypeCustomize, "hook_fb", map[string]any{"currency": "usd", "automatic_tax": map[string]any{"enabled": false}})
		if r.code != 200 || string(r.body) != "{}" {
			t.Fatalf("%s: %d %s", name, r.code, r.body)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	for _, tc := range []struct {
		minor int64
		cur   string
		want  string
	}{{50000, "usd", "500.00 USD"}, {123456789, "eur", "1,234,567.89 EUR"}, {5, "usd", "0.05 USD"}, {1000, "jpy", "1,000 JPY"}} {
		if got := FormatAmount(tc.minor, tc.cur); got != tc.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", tc.minor, tc.cur, got, tc.want)
		}
	}
}

// With Pending, the answer is stored after the request returns; a retry
// right behind it still gets the same answer without a second plugin call,
// and Pending covers the write.
func TestAnswerStoredAfterReturn(t *testing.T) {
	p, cnt := startPlugin(t, "testplugin", map[string]any{}, 100*time.Millisecond)
	st := openStore(t)
	var pending sync.WaitGroup
	h := New(Options{Secret: hookSecret, Plugin: pluginFn(p), Store: st, Pending: &pending})
	for i := range 20 {
		id := "hook_pending_" + string(rune('a'+i))
		first := send(h, TypeFinalize, id, finData("MUG", 1))
		retry := send(h, TypeFinalize, id, finData("MUG", 1))
		if typ, _ := first.approval(t); typ != "approved" || !bytes.Equal(first.body, retry.body) {
			t.Fatalf("%s: %s / %s", id, first.body, retry.body)
		}
	}
	if n := cnt.Get("CheckAvailability"); n != 20 {
		t.Fatalf("plugin asked %d times for 20 hooks and their retries", n)
	}
	pending.Wait()
	rec, err := st.GetHook(context.Background(), "hook_pending_a")
	if err != nil || rec.Response == nil || rec.FinishedAt.IsZero() {
		t.Fatalf("stored: %+v %v", rec, err)
	}
}

// BenchmarkFinalize is one approval hook through the handler as the daemon
// wires it (SQLite store, Pending), against the csvdir plugin, without
// HTTP: for allocs/op and CPU per hook. The end-to-end comparison with a
// bare handler is host/internal/bench/hookbench (make bench).
func BenchmarkFinalize(b *testing.B) {
	p, _ := startPlugin(b, "csvdir", csvdirConfig(b), 100*time.Millisecond)
	var pending sync.WaitGroup
	h := New(Options{Secret: hookSecret, Plugin: pluginFn(p), Store: openStore(b), Pending: &pending})
	data := finData("MUG-BLUE", 1)
	bodies := make([][]byte, b.N)
	sigs := make([]string, b.N)
	for i := range bodies {
		bodies[i] = hookBody(TypeFinalize, "hook_bench_"+strconv.Itoa(i), data)
		sigs[i] = webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: bodies[i], Secret: hookSecret}).Header
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest(http.MethodPost, "/hooks", bytes.NewReader(bodies[i]))
		req.Header.Set("Stripe-Signature", sigs[i])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	pending.Wait()
}
