package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/sdktest"
)

const stockProducts = `id,title,availability,inventory_quantity,inventory_not_tracked,price,delete
IN-1,In stock,in_stock,10,,10.00,
LOW-1,Low stock,in_stock,3,,10.00,
OUT-1,Sold out,out_of_stock,0,,10.00,
ZERO-1,Zero but in_stock,in_stock,0,,10.00,
BACK-1,Backorder,backorder,0,,10.00,
NT-1,Not tracked,in_stock,,true,10.00,
GONE-1,Deleted,,,,,true
`

func availability(t *testing.T, c *sdktest.Client, items ...sdk.LineItem) map[string]sdk.ItemAvailability {
	t.Helper()
	resp, err := c.CheckAvailability(ctx, &sdk.AvailabilityRequest{Items: items, Currency: "usd"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]sdk.ItemAvailability{}
	for _, it := range resp.Items {
		if _, dup := out[it.SKU]; dup {
			t.Errorf("SKU %s answered twice", it.SKU)
		}
		out[it.SKU] = it
	}
	return out
}

func TestCheckAvailability(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "products.csv"), stockProducts)
	c := start(t, map[string]any{"dir": dir})
	got := availability(t, c,
		sdk.LineItem{SKU: "IN-1", Quantity: 2},
		sdk.LineItem{SKU: "LOW-1", Quantity: 5},
		sdk.LineItem{SKU: "OUT-1", Quantity: 1},
		sdk.LineItem{SKU: "ZERO-1", Quantity: 1},
		sdk.LineItem{SKU: "BACK-1", Quantity: 4},
		sdk.LineItem{SKU: "NT-1", Quantity: 99},
		sdk.LineItem{SKU: "GONE-1", Quantity: 1},
		sdk.LineItem{SKU: "NOPE", Quantity: 1},
	)
	want := map[string]struct {
		ok     bool
		reason string
	}{
		"IN-1": {true, ""}, "LOW-1": {false, "only 3 left"}, "OUT-1": {false, "out of stock"},
		"ZERO-1": {false, "out of stock"}, "BACK-1": {true, ""}, "NT-1": {true, ""},
		"GONE-1": {false, "unknown product"}, "NOPE": {false, "unknown product"},
	}
	for sku, w := range want {
		a, ok := got[sku]
		if !ok || a.Available != w.ok || a.Reason != w.reason {
			t.Errorf("%s: got %+v, want available=%v reason=%q", sku, a, w.ok, w.reason)
		}
	}
	if got["LOW-1"].QuantityAvailable != 3 {
		t.Errorf("LOW-1 quantity available: %d", got["LOW-1"].QuantityAvailable)
	}

	// Lines of one SKU add up.
	got = availability(t, c, sdk.LineItem{LineID: "a", SKU: "LOW-1", Quantity: 2}, sdk.LineItem{LineID: "b", SKU: "LOW-1", Quantity: 2})
	if a := got["LOW-1"]; a.Available || a.Reason != "only 3 left" {
		t.Errorf("two lines of 2 against a stock of 3: %+v", a)
	}
}

// TestAvailabilityReloadsInventory: inventory.csv overrides products.csv,
// and a changed file is picked up on the next call.
func TestAvailabilityReloadsInventory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "products.csv"), stockProducts)
	c := start(t, map[string]any{"dir": dir})
	if a := availability(t, c, sdk.LineItem{SKU: "LOW-1", Quantity: 5})["LOW-1"]; a.Available {
		t.Fatalf("before inventory.csv: %+v", a)
	}
	inv := filepath.Join(dir, "inventory.csv")
	writeFile(t, inv, "id,availability,inventory_quantity\nLOW-1,in_stock,8\nNEW-1,in_stock,1\n")
	if a := availability(t, c, sdk.LineItem{SKU: "LOW-1", Quantity: 5})["LOW-1"]; !a.Available || a.QuantityAvailable != 8 {
		t.Errorf("inventory.csv appeared: %+v", a)
	}
	// IN-1 is not in inventory.csv: products.csv still answers for it.
	if a := availability(t, c, sdk.LineItem{SKU: "IN-1", Quantity: 1})["IN-1"]; !a.Available {
		t.Errorf("product missing from inventory.csv: %+v", a)
	}
	// Same size, new content, new mtime.
	writeFile(t, inv, "id,availability,inventory_quantity\nLOW-1,in_stock,2\nNEW-1,in_stock,1\n")
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(inv, later, later)
	if a := availability(t, c, sdk.LineItem{SKU: "LOW-1", Quantity: 5})["LOW-1"]; a.Available || a.Reason != "only 2 left" {
		t.Errorf("after the change: %+v", a)
	}
}

func TestAvailabilityConcurrentWithReloads(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "products.csv"), stockProducts)
	inv := filepath.Join(dir, "inventory.csv")
	c := start(t, map[string]any{"dir": dir})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				resp, err := c.CheckAvailability(ctx, &sdk.AvailabilityRequest{Items: []sdk.LineItem{{SKU: "IN-1", Quantity: 1}}})
				if err != nil {
					errs <- err
					return
				}
				if len(resp.Items) != 1 || !resp.Items[0].Available {
					errs <- fmt.Errorf("goroutine %d: %+v", g, resp.Items)
					return
				}
			}
		}()
	}
	for i := range 20 {
		tmp := inv + ".tmp"
		writeFile(t, tmp, fmt.Sprintf("id,availability,inventory_quantity\nIN-1,in_stock,%d\n", 10+i))
		if err := os.Rename(tmp, inv); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCustomizeCheckout(t *testing.T) {
	c := start(t, fullConfig(acceptanceDir(t)))
	items := []sdk.LineItem{{LineID: "li_1", SKU: "MUG-BLUE", Quantity: 1, UnitAmount: 1200}, {LineID: "li_2", SKU: "TEE-BLK-M", Quantity: 1, UnitAmount: 2500}}
	call := func(country, state, currency string, auto bool) *sdk.CustomizeResponse {
		t.Helper()
		resp, err := c.CustomizeCheckout(ctx, &sdk.CustomizeRequest{Items: items, Currency: currency, AutomaticTax: auto,
			ShippingAddress: &sdk.Address{Country: country, State: state}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	ids := func(r *sdk.CustomizeResponse) []string {
		var out []string
		for _, o := range r.ShippingOptions {
			out = append(out, o.ID)
		}
		return out
	}

	us := call("US", "CA", "usd", false)
	if got := ids(us); !slices.Equal(got, []string{"standard", "world"}) {
		t.Errorf("US options: %v", got)
	}
	std := us.ShippingOptions[0]
	if std.Amount != 500 || std.Currency != "usd" || std.DisplayName != "Standard" || std.Estimate == nil || std.Estimate.MinValue != 3 || std.Estimate.MaxValue != 5 {
		t.Errorf("standard option: %+v %+v", std, std.Estimate)
	}
	if us.ShippingOptions[1].Amount != 2500 {
		t.Errorf("numeric YAML amount 25: %+v", us.ShippingOptions[1])
	}
	if len(us.LineTaxRates) != 2 || us.LineTaxRates[0].LineID != "li_1" || len(us.LineTaxRates[0].Rates) != 1 ||
		us.LineTaxRates[0].Rates[0].DisplayName != "CA sales tax" || us.LineTaxRates[0].Rates[0].Percentage != 7.25 {
		t.Errorf("CA rates: %+v", us.LineTaxRates)
	}
	if ny := call("us", "US-NY", "usd", false); len(ny.LineTaxRates) != 2 || ny.LineTaxRates[1].Rates[0].DisplayName != "NY sales tax" {
		t.Errorf("NY rates (state configured as US-NY, sent as US-NY): %+v", ny.LineTaxRates)
	}
	if tx := call("US", "TX", "usd", false); len(tx.LineTaxRates) != 0 {
		t.Errorf("TX has no configured rate: %+v", tx.LineTaxRates)
	}
	if auto := call("US", "CA", "usd", true); len(auto.LineTaxRates) != 0 || len(auto.ShippingOptions) != 2 {
		t.Errorf("automatic tax: %+v", auto)
	}
	de := call("DE", "", "eur", false)
	if got := ids(de); !slices.Equal(got, []string{"eu"}) {
		t.Errorf("DE in EUR: %v", got)
	}
	if len(de.LineTaxRates) != 2 || !de.LineTaxRates[0].Rates[0].Inclusive {
		t.Errorf("DE rates: %+v", de.LineTaxRates)
	}
	if got := ids(call("JP", "", "usd", false)); !slices.Equal(got, []string{"world"}) {
		t.Errorf("JP: %v", got)
	}
}

func order(key string, skus ...string) sdk.Order {
	o := sdk.Order{CheckoutSessionID: key, PaymentIntentID: "pi_123", Currency: "usd", Created: time.Unix(1767225600, 0),
		AmountTotal: 1700, AmountSubtotal: 1200, AmountShipping: 500, Email: "ada@example.com",
		ShippingName: "Ada Lovelace", ShippingAddress: &sdk.Address{Line1: "1 Main St", City: "San Francisco", State: "CA", PostalCode: "94107", Country: "US"},
		Card: &sdk.Card{Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030}, ShippingOptionID: "standard",
		AgentDetailsJSON: `{"agent":"test"}`}
	for _, s := range skus {
		o.Lines = append(o.Lines, sdk.OrderLine{SKU: s, Name: "Item " + s, Quantity: 1, UnitAmount: 1200, AmountTotal: 1200})
	}
	return o
}

func outboxNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestPushOrder(t *testing.T) {
	dir := acceptanceDir(t)
	outbox := filepath.Join(dir, "outbox")
	c := start(t, fullConfig(dir))

	first, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "cs_test_a1", Order: order("cs_test_a1", "MUG-BLUE")})
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != sdk.Accepted || first.BackendReference != "outbox/cs_test_a1.json" {
		t.Errorf("first push: %+v", first)
	}
	var rec map[string]any
	data, err := os.ReadFile(filepath.Join(outbox, "cs_test_a1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("outbox file is not JSON: %v", err)
	}
	if rec["status"] != "accepted" || rec["backend_reference"] != "outbox/cs_test_a1.json" || rec["received_at"] == nil ||
		rec["checkout_session_id"] != "cs_test_a1" || rec["email"] != "ada@example.com" || rec["amount_total"] != 1700.0 {
		t.Errorf("outbox record: %s", data)
	}
	if lines, _ := rec["lines"].([]any); len(lines) != 1 || lines[0].(map[string]any)["sku"] != "MUG-BLUE" {
		t.Errorf("lines: %v", rec["lines"])
	}
	if ad, _ := rec["agent_details"].(map[string]any); ad["agent"] != "test" {
		t.Errorf("agent details kept as JSON: %v", rec["agent_details"])
	}
	if !strings.Contains(string(data), "\n  \"status\": \"accepted\",") {
		t.Errorf("not indented:\n%s", data)
	}

	// Same key again, even with a different body: the recorded answer.
	again, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "cs_test_a1", Order: order("cs_test_a1", "NOPE")})
	if err != nil {
		t.Fatal(err)
	}
	if *again != *first {
		t.Errorf("repeat push: %+v, first %+v", again, first)
	}
	data2, _ := os.ReadFile(filepath.Join(outbox, "cs_test_a1.json"))
	if string(data2) != string(data) {
		t.Error("a repeated push rewrote the outbox file")
	}

	// Unknown SKU: rejected with a shopper-readable reason, recorded, stable.
	rej, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "cs_test_r1", Order: order("cs_test_r1", "MUG-BLUE", "NOPE-9")})
	if err != nil {
		t.Fatal(err)
	}
	if rej.Status != sdk.Rejected || !strings.Contains(rej.Reason, `"Item NOPE-9"`) || strings.Contains(rej.Reason, "MUG-BLUE") {
		t.Errorf("unknown SKU: %+v", rej)
	}
	if r, err := readOutbox(filepath.Join(outbox, "cs_test_r1.json")); err != nil || r.Status != "rejected" || r.Reason != rej.Reason {
		t.Errorf("rejected order recorded: %+v %v", r, err)
	}
	// Even once the SKU exists, the answer stays.
	f, _ := os.OpenFile(filepath.Join(dir, "products.csv"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("NOPE-9,New,New.,https://shop.example.com/n,https://img.example.com/n.jpg,B,,N9,Cat,,,,in_stock,1,,1.00,,,\n")
	f.Close()
	rej2, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "cs_test_r1", Order: order("cs_test_r1", "MUG-BLUE", "NOPE-9")})
	if err != nil || *rej2 != *rej {
		t.Errorf("rejected answer not stable: %+v %v", rej2, err)
	}

	// Keys that are not file names are refused, and nothing escapes the outbox.
	for _, key := range []string{"../escape", "a/b", `a\b`, ".hidden", "..", "cs test", "x\x00y", strings.Repeat("x", 201)} {
		if _, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: key, Order: order(key, "MUG-BLUE")}); err == nil {
			t.Errorf("key %q accepted", key)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "escape.json")); err == nil {
		t.Error("a push wrote outside the outbox")
	}
	for _, n := range outboxNames(t, outbox) {
		if n != ".gitkeep" && !strings.HasSuffix(n, ".json") || strings.Contains(n, ".tmp") {
			t.Errorf("stray file in the outbox: %s", n)
		}
	}
}

func TestPushOrderAcceptsUnknownWhenConfigured(t *testing.T) {
	dir := acceptanceDir(t)
	cfg := fullConfig(dir)
	cfg["reject_unknown_skus"] = false
	c := start(t, cfg)
	r, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "cs_test_u", Order: order("cs_test_u", "NOPE")})
	if err != nil || r.Status != sdk.Accepted {
		t.Errorf("%+v %v", r, err)
	}
}

// TestPushOrderConcurrent: many pushes of one key at once make one file and
// one answer, and leave no temp files.
func TestPushOrderConcurrent(t *testing.T) {
	dir := acceptanceDir(t)
	outbox := filepath.Join(dir, "outbox")
	c := start(t, fullConfig(dir))
	const n = 32
	answers := make([]*sdk.PushOrderResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "cs_test_same", Order: order("cs_test_same", "MUG-BLUE")})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if *answers[i] != *answers[0] {
			t.Errorf("answer %d differs: %+v vs %+v", i, answers[i], answers[0])
		}
	}
	names := outboxNames(t, outbox)
	if !slices.Equal(names, []string{".gitkeep", "cs_test_same.json"}) {
		t.Errorf("outbox holds %v", names)
	}
	r, err := readOutbox(filepath.Join(outbox, "cs_test_same.json"))
	if err != nil || r.ReceivedAt.IsZero() {
		t.Fatal(r, err)
	}
}

func TestPushOrderCorruptRecordIsNotOverwritten(t *testing.T) {
	dir := acceptanceDir(t)
	writeFile(t, filepath.Join(dir, "outbox", "cs_test_bad.json"), "{not json")
	c := start(t, fullConfig(dir))
	if _, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "cs_test_bad", Order: order("cs_test_bad", "MUG-BLUE")}); err == nil || !strings.Contains(err.Error(), "cs_test_bad.json") {
		t.Errorf("corrupt record: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "outbox", "cs_test_bad.json")); string(data) != "{not json" {
		t.Error("corrupt record overwritten")
	}
}

func TestOrderUpdates(t *testing.T) {
	dir := acceptanceDir(t)
	inbox := filepath.Join(dir, "inbox")
	files := map[string]string{
		"upd-1.json":       "", // from acceptanceDir: shipped, id = file name
		"upd-2.json":       `{"id": "erp-77", "checkout_session_id": "cs_test_2", "kind": "partially_cancelled", "lines": [{"sku": "MUG-BLUE", "quantity": 1}], "refund_amount": "12.50", "reason": "damaged", "occurred_at": "2026-05-31T14:00:00Z"}`,
		"upd-3.json":       `{"checkout_session_id": "cs_test_3", "kind": "cancelled", "refund_amount": 1700}`,
		"bad-syntax.json":  "{\n  \"checkout_session_id\": \"cs\",\n  \"kind\": shipped\n}",
		"bad-session.json": `{"kind": "shipped"}`,
		"bad-kind.json":    `{"checkout_session_id": "cs", "kind": "lost"}`,
		"bad-field.json":   `{"checkout_session_id": "cs", "kind": "shipped", "tracking_no": "1Z"}`,
		"bad-lines.json":   `{"checkout_session_id": "cs", "kind": "partially_cancelled"}`,
		"bad-qty.json":     `{"checkout_session_id": "cs", "kind": "partially_cancelled", "lines": [{"sku": "A", "quantity": 0}]}`,
		"bad-refund.json":  `{"checkout_session_id": "cs", "kind": "cancelled", "refund_amount": 12.5}`,
		"bad-type.json":    `{"checkout_session_id": 42, "kind": "shipped"}`,
		"bad-time.json":    `{"checkout_session_id": "cs", "kind": "shipped", "occurred_at": "yesterday"}`,
		"bad-empty.json":   ``,
		".hidden.json":     `{"checkout_session_id": "cs_hidden", "kind": "shipped"}`,
		"upd-4.json.tmp":   `{"checkout_session_id": "cs_tmp", "kind": "shipped"}`,
		"notes.txt":        `not an update`,
	}
	for name, content := range files {
		if content != "" || name == "bad-empty.json" {
			writeFile(t, filepath.Join(inbox, name), content)
		}
	}
	writeFile(t, filepath.Join(inbox, "processed", "old.json"), `{"checkout_session_id": "cs_old", "kind": "shipped"}`)
	c := start(t, fullConfig(dir))

	resp, err := c.ReadOrderUpdates(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]sdk.OrderUpdate{}
	for _, u := range resp.Updates {
		got[u.ID] = u
	}
	if len(got) != 3 {
		t.Errorf("updates: %+v", resp.Updates)
	}
	if u := got["upd-1"]; u.SessionID != "cs_test_1" || u.Kind != sdk.Shipped || u.TrackingNumber != "1Z999" || u.Carrier != "UPS" || u.Origin != "upd-1.json" || u.OccurredAt.IsZero() {
		t.Errorf("upd-1: %+v", u)
	}
	if u := got["erp-77"]; u.Kind != sdk.PartiallyCancelled || u.RefundAmount != 1250 || len(u.Lines) != 1 || u.Lines[0].SKU != "MUG-BLUE" ||
		u.Reason != "damaged" || !u.OccurredAt.Equal(time.Date(2026, 5, 31, 14, 0, 0, 0, time.UTC)) {
		t.Errorf("erp-77: %+v", u)
	}
	if u := got["upd-3"]; u.Kind != sdk.Cancelled || u.RefundAmount != 1700 {
		t.Errorf("upd-3: %+v", u)
	}
	wantErrs := map[string]string{ // origin -> field
		"bad-syntax.json": "", "bad-session.json": "checkout_session_id", "bad-kind.json": "kind",
		"bad-field.json": "tracking_no", "bad-lines.json": "lines", "bad-qty.json": "lines[0].quantity",
		"bad-refund.json": "refund_amount", "bad-type.json": "checkout_session_id", "bad-time.json": "occurred_at",
		"bad-empty.json": "",
	}
	for _, e := range resp.Errors {
		f, ok := wantErrs[e.Origin]
		if !ok || f != e.Field || e.Message == "" {
			t.Errorf("unexpected error %+v", e)
		}
		delete(wantErrs, e.Origin)
		if e.Origin == "bad-syntax.json" && !strings.Contains(e.Message, "line 3") {
			t.Errorf("syntax error should name the line: %s", e.Message)
		}
	}
	for origin := range wantErrs {
		t.Errorf("no error for %s", origin)
	}

	// Limit.
	if lim, err := c.ReadOrderUpdates(ctx, 1); err != nil || len(lim.Updates) != 1 {
		t.Errorf("limit 1: %+v %v", lim, err)
	}

	if err := c.AckOrderUpdates(ctx, []string{"upd-1", "erp-77", "no-such-id"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"upd-1.json", "upd-2.json", "old.json"} {
		if _, err := os.Stat(filepath.Join(inbox, "processed", name)); err != nil {
			t.Errorf("%s not in processed/: %v", name, err)
		}
	}
	again, err := c.ReadOrderUpdates(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Updates) != 1 || again.Updates[0].ID != "upd-3" {
		t.Errorf("after ack: %+v", again.Updates)
	}
	if len(again.Errors) != len(resp.Errors) {
		t.Errorf("bad files must keep being reported until fixed: %d then %d", len(resp.Errors), len(again.Errors))
	}

	// A new file with an already processed name does not clobber the old one.
	writeFile(t, filepath.Join(inbox, "upd-1.json"), `{"id": "upd-1b", "checkout_session_id": "cs_test_1", "kind": "cancelled"}`)
	if err := c.AckOrderUpdates(ctx, []string{"upd-1b"}); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(inbox, "processed"))
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "upd-1.") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("processed/ holds %d upd-1 files, want 2", n)
	}
}

func TestDuplicateUpdateIDs(t *testing.T) {
	dir := acceptanceDir(t)
	writeFile(t, filepath.Join(dir, "inbox", "upd-2.json"), `{"id": "upd-1", "checkout_session_id": "cs_test_2", "kind": "shipped"}`)
	c := start(t, fullConfig(dir))
	resp, err := c.ReadOrderUpdates(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Updates) != 1 || len(resp.Errors) != 1 || resp.Errors[0].Origin != "upd-2.json" || resp.Errors[0].Field != "id" {
		t.Errorf("%+v", resp)
	}
}
