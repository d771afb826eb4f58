package emulator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"
)

func sampleCheckout() CheckoutInput {
	return CheckoutInput{
		Lines: []CheckoutLine{
			{SKU: "SKU-1", Name: "Mug", Description: "A blue mug", Quantity: 2, UnitAmount: 1200, GTIN: "00012345678905", MPN: "MUG-1"},
			{SKU: "SKU-2", Name: "Cup", Description: "A cup", Quantity: 1, UnitAmount: 800},
		},
		ShippingName:         "Jenny Rosen",
		Shipping:             Address{Line1: "1 Main St", City: "Springfield", State: "IL", PostalCode: "62701", Country: "US"},
		Email:                "jenny@example.com",
		ShippingAmount:       500,
		ShippingDisplayName:  "Standard",
		ShippingRateMetadata: map[string]string{"erp_rate_id": "STD"},
		TaxPercent:           10,
		AmountDiscount:       300,
		Metadata:             map[string]string{"agent": "test"},
	}
}

func TestCheckoutSessionRetrieveExpanded(t *testing.T) {
	h := newHarness(t, Options{})
	sink := newHookSink(t, "whsec_orders")
	h.emu.SetWebhook(sink.srv.URL, "whsec_orders")
	id, err := h.emu.CompleteCheckout(sampleCheckout())
	if err != nil {
		t.Fatal(err)
	}

	// Unexpanded: ids only, like the webhook payload.
	plain, err := h.sc.V1CheckoutSessions.Retrieve(t.Context(), id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Status != "complete" || plain.PaymentStatus != "paid" || plain.LineItems != nil ||
		plain.PaymentIntent == nil || plain.PaymentIntent.ID == "" || plain.PaymentIntent.Amount != 0 || plain.Livemode {
		t.Fatalf("plain session: %+v", plain)
	}
	// subtotal 3200, discount 300 (225 and 75), tax 10% of 2175 and 725, rounded half away from zero: 218 + 73.
	if plain.AmountSubtotal != 3200 || plain.TotalDetails.AmountDiscount != 300 || plain.TotalDetails.AmountTax != 291 ||
		plain.TotalDetails.AmountShipping != 500 || plain.AmountTotal != 3200-300+291+500 {
		t.Fatalf("amounts: subtotal %d total %d details %+v", plain.AmountSubtotal, plain.AmountTotal, plain.TotalDetails)
	}

	params := &stripe.CheckoutSessionRetrieveParams{}
	for _, p := range []string{"line_items.data.price.product", "line_items.data.taxes", "payment_intent.latest_charge", "shipping_cost.shipping_rate"} {
		params.AddExpand(p)
	}
	params.Headers = http.Header{"Stripe-Version": {"2025-12-15.preview"}}
	s, err := h.sc.V1CheckoutSessions.Retrieve(t.Context(), id, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.LineItems.Data) != 2 {
		t.Fatalf("line items: %+v", s.LineItems)
	}
	li := s.LineItems.Data[0]
	if li.Quantity != 2 || li.Price.UnitAmount != 1200 || li.Price.Product.Description != "A blue mug" ||
		len(li.Taxes) != 1 || li.Taxes[0].Amount != 218 || li.Taxes[0].Rate.Percentage != 10 || li.Taxes[0].Rate.TaxType != "sales_tax" ||
		li.AmountDiscount != 225 || li.AmountTotal != 2400-225+218 {
		t.Fatalf("line item: %+v price %+v taxes %+v", li, li.Price, li.Taxes)
	}
	ch := s.PaymentIntent.LatestCharge
	card := ch.PaymentMethodDetails.Card
	if s.PaymentIntent.Status != "succeeded" || ch.ReceiptNumber == "" || card.Last4 != "4242" || card.Brand != "visa" ||
		card.ExpMonth != 12 || card.ExpYear < 2026 || ch.BillingDetails.Address.PostalCode != "62701" || ch.Created == 0 {
		t.Fatalf("charge: %+v", ch)
	}
	sd := s.CollectedInformation.ShippingDetails
	if sd.Name != "Jenny Rosen" || sd.Address.City != "Springfield" {
		t.Fatalf("shipping: %+v", sd)
	}
	if s.ShippingCost.ShippingRate.Metadata["erp_rate_id"] != "STD" || s.ShippingCost.AmountTotal != 500 || s.Metadata["agent"] != "test" {
		t.Fatalf("shipping cost: %+v", s.ShippingCost)
	}
	// Preview fields the typed structs drop, read from the raw JSON.
	var raw struct {
		LineItems struct {
			Data []struct {
				Price struct {
					ExternalReference string `json:"external_reference"`
					Product           struct {
						Identifiers struct{ GTIN, MPN string } `json:"identifiers"`
					} `json:"product"`
				} `json:"price"`
			} `json:"data"`
		} `json:"line_items"`
	}
	if err := json.Unmarshal(s.LastResponse.RawJSON, &raw); err != nil {
		t.Fatal(err)
	}
	p0 := raw.LineItems.Data[0].Price
	if p0.ExternalReference != "SKU-1" || p0.Product.Identifiers.GTIN != "00012345678905" || raw.LineItems.Data[1].Price.ExternalReference != "SKU-2" {
		t.Fatalf("preview fields: %+v", raw)
	}

	// Bad expand paths are refused like Stripe.
	bad := &stripe.CheckoutSessionRetrieveParams{}
	bad.AddExpand("customer_details.nope")
	_, err = h.sc.V1CheckoutSessions.Retrieve(t.Context(), id, bad)
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Param != "expand" {
		t.Fatalf("bad expand: %+v", se)
	}

	// The completed event arrives signed, with the unexpanded session. Its
	// api_version is a newer train than stripe-go v82's basil, so
	// ConstructEvent needs IgnoreAPIVersionMismatch, as with real accounts.
	ev, body, sig := sink.waitRaw("checkout.session.completed", id)
	if _, err := webhook.ConstructEvent(body, sig, "whsec_orders"); err == nil {
		t.Fatal("ConstructEvent should reject a clover event in stripe-go v82")
	}
	sev, err := webhook.ConstructEventWithOptions(body, sig, "whsec_orders", webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil || sev.Type != "checkout.session.completed" || sev.Livemode {
		t.Fatalf("ConstructEvent: %v %+v", err, sev)
	}
	obj := ev["data"].(map[string]any)["object"].(map[string]any)
	if obj["id"] != id || obj["payment_intent"] != plain.PaymentIntent.ID {
		t.Fatalf("event: %v", obj)
	}
	if _, has := obj["line_items"]; has {
		t.Fatal("webhook sessions never carry line_items")
	}
	// Line items through their own list endpoint, paged.
	lip := &stripe.CheckoutSessionListLineItemsParams{Session: stripe.String(id)}
	lip.Limit = stripe.Int64(1)
	lip.AddExpand("data.price.product")
	n := 0
	for item, err := range h.sc.V1CheckoutSessions.ListLineItems(t.Context(), lip) {
		if err != nil {
			t.Fatal(err)
		}
		if item.Price.Product.Name == "" {
			t.Fatalf("product not expanded: %+v", item.Price)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("line items listed: %d", n)
	}
}

func TestCheckoutSessionListFiltersAndPaging(t *testing.T) {
	h := newHarness(t, Options{})
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 7 {
		in := sampleCheckout()
		in.Created = base.Add(time.Duration(i) * time.Minute)
		id, err := h.emu.CompleteCheckout(in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Two more in the same second as the last one: order stays newest first.
	for range 2 {
		in := sampleCheckout()
		in.Created = base.Add(6 * time.Minute)
		id, _ := h.emu.CompleteCheckout(in)
		ids = append(ids, id)
	}

	params := &stripe.CheckoutSessionListParams{
		CreatedRange: &stripe.RangeQueryParams{GreaterThan: base.Add(2 * time.Minute).Unix()},
		Status:       stripe.String("complete"),
	}
	params.Limit = stripe.Int64(2)
	var got []string
	for s, err := range h.sc.V1CheckoutSessions.List(t.Context(), params) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.ID)
	}
	want := []string{ids[8], ids[7], ids[6], ids[5], ids[4], ids[3]}
	if len(got) != len(want) {
		t.Fatalf("got %d sessions, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order: got %v want %v", got, want)
		}
	}

	// One page: has_more, and starting_after continues toward older sessions.
	one := &stripe.CheckoutSessionListParams{}
	one.Limit = stripe.Int64(3)
	one.Single = true
	one.StartingAfter = stripe.String(ids[5])
	resp, err := h.raw.RawRequest(http.MethodGet, "/v1/checkout/sessions?limit=3&starting_after="+ids[5], "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Data    []struct{ ID string } `json:"data"`
		HasMore bool                  `json:"has_more"`
		Object  string                `json:"object"`
	}
	_ = json.Unmarshal(resp.RawJSON, &page)
	if page.Object != "list" || !page.HasMore || len(page.Data) != 3 || page.Data[0].ID != ids[4] {
		t.Fatalf("page: %+v", page)
	}
	n := 0
	for _, err := range h.sc.V1CheckoutSessions.List(t.Context(), one) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("single page listed %d", n)
	}
	// ending_before pages back toward newer sessions.
	back := &stripe.CheckoutSessionListParams{}
	back.EndingBefore = stripe.String(ids[2])
	back.Limit = stripe.Int64(2)
	got = nil
	for s, err := range h.sc.V1CheckoutSessions.List(t.Context(), back) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.ID)
	}
	if len(got) != 6 {
		t.Fatalf("ending_before listed %d: %v", len(got), got)
	}
	// Limits.
	_, err = h.raw.RawRequest(http.MethodGet, "/v1/checkout/sessions?limit=101", "", nil)
	if se := stripeErr(t, err); se.Param != "limit" {
		t.Fatalf("limit: %+v", se)
	}
	_, err = h.raw.RawRequest(http.MethodGet, "/v1/checkout/sessions?status=open&created[gt]="+strconv.FormatInt(base.Unix(), 10), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.raw.RawRequest(http.MethodGet, "/v1/checkout/sessions?colour=red", "", nil)
	if se := stripeErr(t, err); se.Param != "colour" {
		t.Fatalf("unknown param: %+v", se)
	}
}

func TestManualCaptureAndRefunds(t *testing.T) {
	h := newHarness(t, Options{})
	in := sampleCheckout()
	in.CaptureManual = true
	id, err := h.emu.CompleteCheckout(in)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := h.sc.V1CheckoutSessions.Retrieve(t.Context(), id, nil)
	if s.PaymentStatus != "unpaid" {
		t.Fatalf("payment_status %s", s.PaymentStatus)
	}
	piID := s.PaymentIntent.ID
	pi, err := h.sc.V1PaymentIntents.Retrieve(t.Context(), piID, nil)
	if err != nil || pi.Status != "requires_capture" || pi.AmountCapturable != s.AmountTotal || pi.CaptureMethod != "manual" {
		t.Fatalf("pi: %v %+v", err, pi)
	}
	// Refunding before capture fails; capturing more than authorised fails.
	_, err = h.sc.V1Refunds.Create(t.Context(), &stripe.RefundCreateParams{PaymentIntent: stripe.String(piID)})
	stripeErr(t, err)
	_, err = h.sc.V1PaymentIntents.Capture(t.Context(), piID, &stripe.PaymentIntentCaptureParams{AmountToCapture: stripe.Int64(s.AmountTotal + 1)})
	if se := stripeErr(t, err); se.Param != "amount_to_capture" {
		t.Fatalf("over-capture: %+v", se)
	}

	capt := s.AmountTotal - 100
	pi, err = h.sc.V1PaymentIntents.Capture(t.Context(), piID, &stripe.PaymentIntentCaptureParams{
		AmountToCapture: stripe.Int64(capt), Metadata: map[string]string{"order": "42"},
	})
	if err != nil || pi.Status != "succeeded" || pi.AmountReceived != capt || pi.Metadata["order"] != "42" {
		t.Fatalf("capture: %v %+v", err, pi)
	}
	_, err = h.sc.V1PaymentIntents.Capture(t.Context(), piID, nil)
	if se := stripeErr(t, err); se.Code != stripe.ErrorCodePaymentIntentUnexpectedState {
		t.Fatalf("second capture: %+v", se)
	}
	if s2, _ := h.sc.V1CheckoutSessions.Retrieve(t.Context(), id, nil); s2.PaymentStatus != "paid" {
		t.Fatalf("after capture payment_status %s", s2.PaymentStatus)
	}

	// Refunds: bounded by captured minus refunded.
	_, err = h.sc.V1Refunds.Create(t.Context(), &stripe.RefundCreateParams{PaymentIntent: stripe.String(piID), Amount: stripe.Int64(capt + 1)})
	if se := stripeErr(t, err); se.Param != "amount" || se.HTTPStatusCode != 400 {
		t.Fatalf("over-refund: %+v", se)
	}
	r1, err := h.sc.V1Refunds.Create(t.Context(), &stripe.RefundCreateParams{
		PaymentIntent: stripe.String(piID), Amount: stripe.Int64(1000),
		Reason: stripe.String("requested_by_customer"), Metadata: map[string]string{"why": "damaged"},
	})
	if err != nil || r1.Amount != 1000 || r1.Status != "succeeded" || r1.Reason != "requested_by_customer" || r1.Metadata["why"] != "damaged" || r1.PaymentIntent.ID != piID {
		t.Fatalf("refund 1: %v %+v", err, r1)
	}
	r2, err := h.sc.V1Refunds.Create(t.Context(), &stripe.RefundCreateParams{Charge: stripe.String(r1.Charge.ID)})
	if err != nil || r2.Amount != capt-1000 {
		t.Fatalf("refund rest: %v %+v", err, r2)
	}
	_, err = h.sc.V1Refunds.Create(t.Context(), &stripe.RefundCreateParams{PaymentIntent: stripe.String(piID)})
	if se := stripeErr(t, err); se.Code != stripe.ErrorCodeChargeAlreadyRefunded {
		t.Fatalf("third refund: %+v", se)
	}
	got, err := h.sc.V1Refunds.Retrieve(t.Context(), r1.ID, nil)
	if err != nil || got.Amount != 1000 {
		t.Fatalf("retrieve refund: %v %+v", err, got)
	}
	status, captured, refunded, ok := h.emu.PaymentIntent(piID)
	if !ok || status != "succeeded" || captured != capt || refunded != capt {
		t.Fatalf("PaymentIntent() = %s %d %d %v", status, captured, refunded, ok)
	}
	if rs := h.emu.Refunds(); len(rs) != 2 || rs[0].ID != r1.ID || rs[0].Metadata["why"] != "damaged" || rs[1].Amount != capt-1000 {
		t.Fatalf("Refunds() = %+v", rs)
	}
	// Idempotent refund: the same key returns the same refund, no new money moves.
	h2 := newHarness(t, Options{})
	id2, _ := h2.emu.CompleteCheckout(sampleCheckout())
	s3, _ := h2.sc.V1CheckoutSessions.Retrieve(t.Context(), id2, nil)
	for range 2 {
		p := &stripe.RefundCreateParams{PaymentIntent: stripe.String(s3.PaymentIntent.ID), Amount: stripe.Int64(100)}
		p.SetIdempotencyKey("refund-order-7")
		if _, err := h2.sc.V1Refunds.Create(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, refunded, _ := h2.emu.PaymentIntent(s3.PaymentIntent.ID); refunded != 100 {
		t.Fatalf("idempotent refund moved %d", refunded)
	}
}

func TestCancelPaymentIntent(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	h := newHarness(t, Options{Now: func() time.Time { return now }})
	in := sampleCheckout()
	in.CaptureManual = true
	id, err := h.emu.CompleteCheckout(in)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := h.sc.V1CheckoutSessions.Retrieve(t.Context(), id, nil)
	piID := s.PaymentIntent.ID

	// Parameters are checked before anything changes.
	_, err = h.sc.V1PaymentIntents.Cancel(t.Context(), piID, &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String("changed_mind")})
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Param != "cancellation_reason" {
		t.Fatalf("bad reason: %+v", se)
	}
	bad := &stripe.PaymentIntentCancelParams{}
	bad.AddExpand("latest_charge.nope")
	_, err = h.sc.V1PaymentIntents.Cancel(t.Context(), piID, bad)
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Param != "expand" {
		t.Fatalf("bad expand: %+v", se)
	}
	_, err = h.sc.V1PaymentIntents.Cancel(t.Context(), "pi_3nope", nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 404 || se.Code != stripe.ErrorCodeResourceMissing {
		t.Fatalf("unknown intent: %+v", se)
	}
	if status, _, _, _ := h.emu.PaymentIntent(piID); status != "requires_capture" {
		t.Fatalf("refused cancels changed the intent: %s", status)
	}

	// requires_capture -> canceled; the authorization is released.
	params := &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String("fraudulent")}
	params.AddExpand("latest_charge")
	params.SetIdempotencyKey("cancel:reject:" + id)
	pi, err := h.sc.V1PaymentIntents.Cancel(t.Context(), piID, params)
	if err != nil {
		t.Fatal(err)
	}
	if pi.Status != stripe.PaymentIntentStatusCanceled || pi.CancellationReason != stripe.PaymentIntentCancellationReasonFraudulent ||
		pi.CanceledAt != now.Unix() || pi.AmountCapturable != 0 || pi.AmountReceived != 0 {
		t.Fatalf("canceled intent: %+v", pi)
	}
	ch := pi.LatestCharge
	if ch == nil || ch.Captured || ch.AmountCaptured != 0 || !ch.Refunded || ch.AmountRefunded != s.AmountTotal {
		t.Fatalf("released charge: %+v", ch)
	}
	if status, captured, refunded, ok := h.emu.PaymentIntent(piID); !ok || status != "canceled" || captured != 0 || refunded != s.AmountTotal {
		t.Fatalf("PaymentIntent() = %s %d %d %v", status, captured, refunded, ok)
	}
	if rs := h.emu.Refunds(); len(rs) != 0 {
		t.Fatalf("releasing an authorization made refunds: %+v", rs)
	}

	// The same key and parameters replay the stored answer.
	again, err := h.sc.V1PaymentIntents.Cancel(t.Context(), piID, params)
	if err != nil || again.Status != stripe.PaymentIntentStatusCanceled || again.LastResponse.Header.Get("Idempotent-Replayed") != "true" ||
		again.CanceledAt != pi.CanceledAt {
		t.Fatalf("replay: %v %+v", err, again)
	}
	// The same key with other parameters is an idempotency error.
	other := &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String("duplicate")}
	other.SetIdempotencyKey("cancel:reject:" + id)
	_, err = h.sc.V1PaymentIntents.Cancel(t.Context(), piID, other)
	if se := stripeErr(t, err); se.Type != stripe.ErrorTypeIdempotency {
		t.Fatalf("key reuse: %+v", se)
	}
	// A new cancel, a capture or a refund of a canceled intent fail.
	_, err = h.sc.V1PaymentIntents.Cancel(t.Context(), piID, nil)
	if se := stripeErr(t, err); se.Code != stripe.ErrorCodePaymentIntentUnexpectedState || !strings.Contains(se.Msg, "status of canceled") {
		t.Fatalf("second cancel: %+v", se)
	}
	_, err = h.sc.V1PaymentIntents.Capture(t.Context(), piID, nil)
	if se := stripeErr(t, err); se.Code != stripe.ErrorCodePaymentIntentUnexpectedState {
		t.Fatalf("capture after cancel: %+v", se)
	}
	_, err = h.sc.V1Refunds.Create(t.Context(), &stripe.RefundCreateParams{PaymentIntent: stripe.String(piID)})
	stripeErr(t, err)
	if s2, _ := h.sc.V1CheckoutSessions.Retrieve(t.Context(), id, nil); s2.PaymentStatus != "unpaid" || s2.Status != "complete" {
		t.Fatalf("session after cancel: %s %s", s2.Status, s2.PaymentStatus)
	}

	// A captured (succeeded) intent cannot be canceled; refund it instead.
	paid, _ := h.emu.CompleteCheckout(sampleCheckout())
	ps, _ := h.sc.V1CheckoutSessions.Retrieve(t.Context(), paid, nil)
	_, err = h.sc.V1PaymentIntents.Cancel(t.Context(), ps.PaymentIntent.ID, &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String("requested_by_customer")})
	if se := stripeErr(t, err); se.Code != stripe.ErrorCodePaymentIntentUnexpectedState || se.HTTPStatusCode != 400 {
		t.Fatalf("cancel succeeded intent: %+v", se)
	}
	if status, captured, refunded, _ := h.emu.PaymentIntent(ps.PaymentIntent.ID); status != "succeeded" || captured != ps.AmountTotal || refunded != 0 {
		t.Fatalf("succeeded intent changed: %s %d %d", status, captured, refunded)
	}

	// No reason given: cancellation_reason stays null.
	in2 := sampleCheckout()
	in2.CaptureManual = true
	id2, _ := h.emu.CompleteCheckout(in2)
	s3, _ := h.sc.V1CheckoutSessions.Retrieve(t.Context(), id2, nil)
	pi2, err := h.sc.V1PaymentIntents.Cancel(t.Context(), s3.PaymentIntent.ID, nil)
	if err != nil || pi2.Status != stripe.PaymentIntentStatusCanceled || pi2.CancellationReason != "" {
		t.Fatalf("cancel without reason: %v %+v", err, pi2)
	}
	if !strings.Contains(string(pi2.LastResponse.RawJSON), `"cancellation_reason": null`) {
		t.Fatalf("cancellation_reason not null: %s", pi2.LastResponse.RawJSON)
	}
}

func TestWebhookRetriesUntilAccepted(t *testing.T) {
	h := newHarness(t, Options{WebhookBackoff: func(int) time.Duration { return 5 * time.Millisecond }})
	sink := newHookSink(t, "whsec_retry")
	sink.failFirst = 2
	h.emu.SetWebhook(sink.srv.URL, "whsec_retry")
	id, err := h.emu.CompleteCheckout(sampleCheckout())
	if err != nil {
		t.Fatal(err)
	}
	sink.wait("checkout.session.completed", id)
	d := h.emu.Deliveries()
	if len(d) != 1 || !d[0].Delivered || d[0].Attempts != 3 || d[0].LastStatus != 200 {
		t.Fatalf("deliveries: %+v", d)
	}

	// Bounded: an endpoint that always fails gets WebhookAttempts tries.
	h2 := newHarness(t, Options{WebhookAttempts: 3, WebhookBackoff: func(int) time.Duration { return time.Millisecond }})
	bad := newHookSink(t, "whsec_bad")
	bad.failFirst = 1 << 30
	h2.emu.SetWebhook(bad.srv.URL, "whsec_bad")
	if _, err := h2.emu.CompleteCheckout(sampleCheckout()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "attempts to stop", func() bool {
		d := h2.emu.Deliveries()
		return len(d) == 1 && d[0].Attempts == 3
	})
	time.Sleep(20 * time.Millisecond)
	if d := h2.emu.Deliveries(); d[0].Attempts != 3 || d[0].Delivered || d[0].LastStatus != 500 {
		t.Fatalf("deliveries: %+v", d)
	}
}

func TestConcurrentCheckoutsWhilePolling(t *testing.T) {
	h := newHarness(t, Options{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			in := sampleCheckout()
			in.CaptureManual = i%2 == 0
			id, err := h.emu.CompleteCheckout(in)
			if err != nil {
				t.Error(err)
				return
			}
			s, err := h.sc.V1CheckoutSessions.Retrieve(t.Context(), id, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if in.CaptureManual {
				if _, err := h.sc.V1PaymentIntents.Capture(t.Context(), s.PaymentIntent.ID, nil); err != nil {
					t.Error(err)
				}
			}
			if _, err := h.sc.V1Refunds.Create(t.Context(), &stripe.RefundCreateParams{PaymentIntent: stripe.String(s.PaymentIntent.ID), Amount: stripe.Int64(50)}); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			p := &stripe.CheckoutSessionListParams{Status: stripe.String("complete")}
			p.Limit = stripe.Int64(3)
			p.AddExpand("data.line_items")
			for _, err := range h.sc.V1CheckoutSessions.List(t.Context(), p) {
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := len(h.emu.Refunds()); n != 8 {
		t.Fatalf("refunds: %d", n)
	}
}

func TestInternalCheckoutAndCatalogEndpoints(t *testing.T) {
	h := newHarness(t, Options{})
	post := func(key, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, h.base+"/_emulator/checkout", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := post(testKey, `{"Lines":[{"SKU":"SKU-9","Quantity":1,"UnitAmount":250}],"Email":"a@example.com"}`)
	var out struct{ ID string }
	_ = json.NewDecoder(res.Body).Decode(&out)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if raw, ok := h.emu.Session(out.ID); !ok || !strings.Contains(string(raw), `"amount_total":250`) {
		t.Fatalf("session %s: %s", out.ID, raw)
	}
	if res := post("", `{}`); res.StatusCode != 401 {
		t.Fatalf("no key: %d", res.StatusCode)
	}
	if res := post(testKey, `{"Lines":[]}`); res.StatusCode != 400 {
		t.Fatalf("no lines: %d", res.StatusCode)
	}
}

// A burst of events is delivered with at most MaxDeliveries requests in
// flight, and every event arrives.
func TestWebhookDeliveriesArePaced(t *testing.T) {
	h := newHarness(t, Options{MaxDeliveries: 3})
	var inFlight, peak, got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		inFlight.Add(-1)
		got.Add(1)
	}))
	t.Cleanup(srv.Close)
	h.emu.SetWebhook(srv.URL, "whsec_paced")
	const n = 40
	for range n {
		if _, err := h.emu.CompleteCheckout(sampleCheckout()); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "all deliveries", func() bool { return got.Load() >= n })
	if p := peak.Load(); p > 3 || p < 2 {
		t.Fatalf("peak deliveries in flight = %d, want 2..3 (MaxDeliveries 3)", p)
	}
	for _, d := range h.emu.Deliveries() {
		if !d.Delivered || d.Attempts != 1 {
			t.Fatalf("delivery %+v", d)
		}
	}
}
