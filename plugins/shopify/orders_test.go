package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/sdktest"
)

func TestCheckAvailability(t *testing.T) {
	dir := t.TempDir()
	export := filepath.Join(dir, "products.csv")
	copyFile(t, filepath.Join("testdata", "edge.csv"), export)
	c := start(t, testConfig(export))
	ctx := context.Background()
	ask := func(items ...sdk.LineItem) map[string]sdk.ItemAvailability {
		t.Helper()
		resp, err := c.CheckAvailability(ctx, &sdk.AvailabilityRequest{Items: items, Currency: "usd"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]sdk.ItemAvailability{}
		for _, it := range resp.Items {
			out[it.SKU] = it
		}
		return out
	}
	got := ask(
		sdk.LineItem{SKU: "MUG-1", Quantity: 3},       // tracked, 3 in stock
		sdk.LineItem{SKU: "TEE-S-RED", Quantity: 5},   // 0 in stock, continue selling
		sdk.LineItem{SKU: "TEE-M-RED", Quantity: 1},   // oversold, deny
		sdk.LineItem{SKU: "excel", Quantity: 100},     // not tracked
		sdk.LineItem{SKU: "DRAFT-1", Quantity: 1},     // draft: not sold
		sdk.LineItem{SKU: "NOIMAGE-1", Quantity: 1},   // rejected from the catalog
		sdk.LineItem{SKU: "no-such-sku", Quantity: 1}, // unknown
	)
	for sku, want := range map[string]bool{"MUG-1": true, "TEE-S-RED": true, "TEE-M-RED": false, "excel": true, "DRAFT-1": false, "NOIMAGE-1": false, "no-such-sku": false} {
		a, ok := got[sku]
		if !ok {
			t.Errorf("%s: no answer", sku)
			continue
		}
		if a.Available != want {
			t.Errorf("%s: available %v, want %v (%+v)", sku, a.Available, want, a)
		}
		if !a.Available && a.Reason == "" {
			t.Errorf("%s: unavailable without a reason", sku)
		}
	}
	if got["MUG-1"].QuantityAvailable != 3 {
		t.Errorf("MUG-1 quantity %d", got["MUG-1"].QuantityAvailable)
	}
	if a := ask(sdk.LineItem{SKU: "MUG-1", Quantity: 4})["MUG-1"]; a.Available || !strings.Contains(a.Reason, "3") {
		t.Errorf("4 of 3 mugs: %+v", a)
	}
	// Two lines of the same SKU add up.
	resp, err := c.CheckAvailability(ctx, &sdk.AvailabilityRequest{Items: []sdk.LineItem{{LineID: "a", SKU: "MUG-1", Quantity: 2}, {LineID: "b", SKU: "MUG-1", Quantity: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range resp.Items {
		if it.Available {
			t.Errorf("2+2 of 3 mugs must not be available: %+v", it)
		}
	}

	// A new export is picked up by the next check.
	data, _ := os.ReadFile(export)
	if err := os.WriteFile(export, []byte(strings.Replace(string(data), "MUG-1,350.50,shopify,3,", "MUG-1,350.50,shopify,0,", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(export, future, future); err != nil {
		t.Fatal(err)
	}
	if a := ask(sdk.LineItem{SKU: "MUG-1", Quantity: 1})["MUG-1"]; a.Available || a.Reason != "out of stock" {
		t.Errorf("after the export changed to 0 mugs: %+v", a)
	}
}

func TestPushOrder(t *testing.T) {
	outbox := t.TempDir()
	cfg := edgeConfig()
	cfg["outbox"] = outbox
	c := start(t, cfg)
	ctx := context.Background()
	order := sdk.Order{
		CheckoutSessionID: "cs_test_a1", Currency: "usd", AmountTotal: 2700, AmountSubtotal: 2400, AmountShipping: 300,
		Created: time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC), Email: "buyer@example.com",
		ShippingName: "Ada Buyer", ShippingAddress: &sdk.Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"},
		Lines: []sdk.OrderLine{{SKU: "MUG-1", Name: "Hello Mug", Quantity: 2, UnitAmount: 1200, AmountTotal: 2400, Taxes: []sdk.LineTax{{Amount: 100}}}},
	}
	first, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "cs_test_a1", Order: order})
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != sdk.Accepted || first.BackendReference != "cs_test_a1" {
		t.Fatalf("first push: %+v", first)
	}
	var doc struct {
		IdempotencyKey string `json:"idempotency_key"`
		Status         string `json:"status"`
		Order          struct {
			Currency        string `json:"currency"`
			AmountTotal     int64  `json:"amount_total"`
			ShippingAddress struct {
				City string `json:"city"`
			} `json:"shipping_address"`
			Lines []struct {
				SKU       string `json:"sku"`
				Quantity  int64  `json:"quantity"`
				AmountTax int64  `json:"amount_tax"`
			} `json:"lines"`
		} `json:"order"`
	}
	data, err := os.ReadFile(filepath.Join(outbox, "cs_test_a1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.IdempotencyKey != "cs_test_a1" || doc.Status != "accepted" || doc.Order.Currency != "usd" || doc.Order.AmountTotal != 2700 ||
		doc.Order.ShippingAddress.City != "Springfield" || len(doc.Order.Lines) != 1 || doc.Order.Lines[0].SKU != "MUG-1" || doc.Order.Lines[0].AmountTax != 100 {
		t.Errorf("outbox file:\n%s", data)
	}

	// A retry returns the first answer and does not touch the file.
	order.AmountTotal = 1
	again, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "cs_test_a1", Order: order})
	if err != nil {
		t.Fatal(err)
	}
	if *again != *first {
		t.Errorf("retry: %+v, first: %+v", again, first)
	}
	if data2, _ := os.ReadFile(filepath.Join(outbox, "cs_test_a1.json")); string(data2) != string(data) {
		t.Error("a retried push rewrote the outbox file")
	}

	// Concurrent pushes of one key write one file and agree.
	var wg sync.WaitGroup
	refs := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "cs_test_race", Order: order})
			if err != nil {
				t.Error(err)
				return
			}
			refs <- r.BackendReference
		}()
	}
	wg.Wait()
	close(refs)
	for r := range refs {
		if r != "cs_test_race" {
			t.Errorf("concurrent push answered %q", r)
		}
	}

	// Keys that are not file-name safe are cleaned and hashed, never
	// mixed up: "a/b" and "a_b" are different orders.
	r1, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "a/b", Order: order})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "a_b", Order: order})
	if err != nil {
		t.Fatal(err)
	}
	if r1.BackendReference == r2.BackendReference {
		t.Errorf("keys a/b and a_b share reference %q", r1.BackendReference)
	}

	entries, _ := os.ReadDir(outbox)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 4 {
		t.Errorf("outbox holds %v, want 4 order files and no temporary files", names)
	}
	for _, n := range names {
		if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".json") {
			t.Errorf("left-over file %s", n)
		}
	}
}

func TestPushOrderWithoutOutbox(t *testing.T) {
	c := start(t, edgeConfig())
	_, err := c.PushOrder(context.Background(), &sdk.PushOrderRequest{IdempotencyKey: "cs_1", Order: sdk.Order{CheckoutSessionID: "cs_1"}})
	if !sdktest.IsUnimplemented(err) || !strings.Contains(fmt.Sprint(err), "outbox") {
		t.Errorf("want an Unimplemented error naming the outbox, got %v", err)
	}
}
