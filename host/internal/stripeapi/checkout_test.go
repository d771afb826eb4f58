package stripeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/emulator"
)

func emulated(t *testing.T) (*emulator.Emulator, *Client) {
	t.Helper()
	emu := emulator.New(emulator.Options{})
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	c, err := New(Config{Key: "sk_test_checkout", URL: url})
	if err != nil {
		t.Fatal(err)
	}
	return emu, c
}

func TestRetrieveSessionPagesLineItems(t *testing.T) {
	emu, c := emulated(t)
	in := emulator.CheckoutInput{TaxPercent: 5, ShippingAmount: 300, ShippingRateMetadata: map[string]string{"acs_shipping_option_id": "std"}}
	for i := 0; i < 23; i++ { // the expanded list holds 10; the rest is paged
		in.Lines = append(in.Lines, emulator.CheckoutLine{SKU: fmt.Sprintf("SKU-%02d", i), Quantity: 1, UnitAmount: int64(100 + i)})
	}
	id, err := emu.CompleteCheckout(in)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.RetrieveSession(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		ID        string `json:"id"`
		LineItems struct {
			HasMore bool `json:"has_more"`
			Data    []struct {
				Price struct {
					ExternalReference string `json:"external_reference"`
					Product           struct {
						Object string `json:"object"`
					} `json:"product"`
				} `json:"price"`
				Taxes []struct {
					Amount int64 `json:"amount"`
				} `json:"taxes"`
			} `json:"data"`
		} `json:"line_items"`
		PaymentIntent struct {
			LatestCharge struct {
				Object string `json:"object"`
			} `json:"latest_charge"`
		} `json:"payment_intent"`
		ShippingCost struct {
			ShippingRate struct {
				Metadata map[string]string `json:"metadata"`
			} `json:"shipping_rate"`
		} `json:"shipping_cost"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.ID != id || s.LineItems.HasMore || len(s.LineItems.Data) != 23 {
		t.Fatalf("session %s: has_more %v, %d items", s.ID, s.LineItems.HasMore, len(s.LineItems.Data))
	}
	for i, li := range s.LineItems.Data {
		if li.Price.ExternalReference != fmt.Sprintf("SKU-%02d", i) || li.Price.Product.Object != "product" || len(li.Taxes) != 1 {
			t.Fatalf("item %d not expanded in order: %+v", i, li)
		}
	}
	if s.PaymentIntent.LatestCharge.Object != "charge" || s.ShippingCost.ShippingRate.Metadata["acs_shipping_option_id"] != "std" {
		t.Fatalf("expansions: %+v %+v", s.PaymentIntent, s.ShippingCost)
	}
	if _, err := c.RetrieveSession(context.Background(), "cs_test_missing"); err == nil {
		t.Fatal("missing session")
	}
}

func TestListCompleteSessionsNewestFirstAndPaged(t *testing.T) {
	emu, c := emulated(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var ids []string
	for i := 0; i < 230; i++ {
		id, err := emu.CompleteCheckout(emulator.CheckoutInput{Created: base.Add(time.Duration(i) * time.Second),
			Lines: []emulator.CheckoutLine{{SKU: "A", Quantity: 1, UnitAmount: 100}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	after := base.Add(29 * time.Second).Unix() // excludes the first 30
	var got []string
	last := int64(1 << 62)
	err := c.ListCompleteSessions(context.Background(), after, func(id string, created int64) error {
		if created > last {
			t.Fatalf("not newest first: %d after %d", created, last)
		}
		last = created
		got = append(got, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 200 || got[0] != ids[229] || got[199] != ids[30] {
		t.Fatalf("listed %d: first %s last %s", len(got), got[0], got[len(got)-1])
	}
	if n := emu.CountRequests("GET", "/v1/checkout/sessions"); n != 2 && n != 3 {
		t.Errorf("list requests: %d (want pages of 100)", n)
	}
	stop := fmt.Errorf("stop")
	if err := c.ListCompleteSessions(context.Background(), after, func(string, int64) error { return stop }); err != stop {
		t.Fatalf("fn error: %v", err)
	}
}

func TestCaptureRefundIdempotent(t *testing.T) {
	emu, c := emulated(t)
	ctx := context.Background()
	id, err := emu.CompleteCheckout(emulator.CheckoutInput{CaptureManual: true, Lines: []emulator.CheckoutLine{{SKU: "A", Quantity: 2, UnitAmount: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := c.RetrieveSession(ctx, id)
	var s struct {
		PaymentIntent struct {
			ID string `json:"id"`
		} `json:"payment_intent"`
	}
	_ = json.Unmarshal(raw, &s)
	pi := s.PaymentIntent.ID
	if err := c.CapturePaymentIntent(ctx, pi, 0, ""); err == nil {
		t.Fatal("capture without an idempotency key must be refused")
	}
	for i := 0; i < 2; i++ { // the retry replays
		if err := c.CapturePaymentIntent(ctx, pi, 0, "capture:"+id); err != nil {
			t.Fatal(err)
		}
	}
	// A later capture under another key finds it captured: success.
	if err := c.CapturePaymentIntent(ctx, pi, 0, "capture:other"); err != nil {
		t.Fatalf("already captured: %v", err)
	}
	if st, captured, _, _ := emu.PaymentIntent(pi); st != "succeeded" || captured != 2000 {
		t.Fatalf("%s %d", st, captured)
	}
	var refunds []string
	for i := 0; i < 3; i++ {
		r, err := c.CreateRefund(ctx, pi, 500, "requested_by_customer", "refund:update:u1", map[string]string{"acs_update_id": "u1"})
		if err != nil {
			t.Fatal(err)
		}
		refunds = append(refunds, r)
	}
	if refunds[0] != refunds[1] || refunds[1] != refunds[2] || len(emu.Refunds()) != 1 {
		t.Fatalf("retried refunds: %v, emulator has %d", refunds, len(emu.Refunds()))
	}
	if id, found, err := c.FindRefund(ctx, pi, "refund:update:u1"); err != nil || !found || id != refunds[0] {
		t.Fatalf("FindRefund: %q %v %v", id, found, err)
	}
	if _, found, err := c.FindRefund(ctx, pi, "refund:update:u2"); err != nil || found {
		t.Fatalf("FindRefund of another key: %v %v", found, err)
	}
	if _, err := c.CreateRefund(ctx, pi, 0, "customer changed their mind", "refund:x", nil); err == nil {
		t.Fatal("free-text reason must go to metadata")
	}
	if st, captured, refunded, err := c.PaymentIntentStatus(ctx, pi); err != nil || st != "succeeded" || captured != 2000 || refunded != 500 {
		t.Fatalf("status: %s %d %d %v", st, captured, refunded, err)
	}
	// amount 0 refunds what is left.
	if _, err := c.CreateRefund(ctx, pi, 0, "", "refund:rest", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, refunded, _ := c.PaymentIntentStatus(ctx, pi); refunded != 2000 {
		t.Fatalf("refunded %d", refunded)
	}
	if _, err := c.CreateRefund(ctx, pi, 0, "", "refund:more", nil); StripeErrorCode(err) != "charge_already_refunded" || !IsPermanent(err) {
		t.Fatalf("refund of nothing: %v", err)
	}
}
