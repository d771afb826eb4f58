package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v82"

	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
)

func TestThousandOrdersTripleDeliveredArePushedExactlyOnce(t *testing.T) {
	n, lost := 1000, 40 // lost: completed while no webhook endpoint is set; only reconciliation finds them
	if v, err := strconv.Atoi(os.Getenv("ACS_TEST_ORDERS_N")); err == nil && v > 0 {
		n, lost = v, v/25
	}
	// The worker's own retry pass runs as in the daemon: an attempt that
	// fails under load (a timeout) is tried again.
	e := newEnv(t, envOptions{Fanout: 3, Workers: 8, RetryInterval: time.Second})
	e.patience = 3 * time.Minute // the race detector on a small machine
	ctx := context.Background()
	start := time.Now()

	// Webhooks lost: the endpoint is gone while these orders complete.
	var ids []string
	e.emu.SetWebhook("", "")
	for i := 0; i < lost; i++ {
		ids = append(ids, e.checkout(mugOrder(1)))
	}
	e.emu.SetWebhook(e.webhookURL, whSecret)

	// The rest, from 8 agents at once, every webhook delivered three times
	// concurrently, and a reconciliation run in the middle of it all.
	var mu sync.Mutex
	var wg sync.WaitGroup
	reconciled := make(chan error, 1)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n-lost; i += 8 {
				in := mugOrder(int64(1 + i%3))
				if i%2 == 1 {
					in.Lines = append(in.Lines, emulator.CheckoutLine{SKU: "TEE-L", Name: "Organic tee", Quantity: 1, UnitAmount: 2500})
				}
				id := e.checkout(in)
				mu.Lock()
				ids = append(ids, id)
				if len(ids) == n/2 {
					go func() { reconciled <- e.svc.Reconcile(ctx, time.Hour) }()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	created := time.Since(start)
	if err := <-reconciled; err != nil {
		t.Fatal(err)
	}
	// Every delivery ends: delivered, or given up after the emulator's
	// attempts (a machine so loaded that the host answered too late). What
	// was given up is reconciliation's to find, as with Stripe.
	gaveUp := 0
	e.waitFor("deliveries", func() bool {
		gaveUp = 0
		for _, d := range e.emu.Deliveries() {
			switch {
			case d.Delivered:
			case d.Attempts >= webhookAttempts:
				gaveUp++
			default:
				return false
			}
		}
		return true
	})
	if gaveUp > 0 {
		if err := e.svc.Reconcile(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	e.waitFor("every order accepted", func() bool {
		c, _ := e.st.CountOrdersByState(ctx)
		return c[store.OrderAccepted] == n
	})
	accepted := time.Since(start)
	// A retry pass pushes nothing more.
	if err := e.svc.RetryPending(ctx); err != nil {
		t.Fatal(err)
	}

	deliveries := 0
	for _, d := range e.emu.Deliveries() {
		deliveries += d.Attempts
	}
	pushes := e.rpc.Get("PushOrder")
	files := e.outboxFiles()
	sort.Strings(files)
	sort.Strings(ids)
	if pushes != n {
		t.Errorf("PushOrder RPCs: %d, want exactly %d", pushes, n)
	}
	if len(files) != n || strings.Join(files, ",") != strings.Join(ids, ",") {
		t.Errorf("outbox has %d files for %d orders", len(files), len(ids))
	}
	c, _ := e.st.CountOrdersByState(ctx)
	if c[store.OrderAccepted] != n || len(c) != 1 {
		t.Errorf("ledger: %v", c)
	}
	if !strings.Contains(e.logs.String(), "reconciliation found an order no webhook delivered") {
		t.Error("reconciliation did not report the orders whose webhooks were lost")
	}
	if strings.Contains(e.logs.String(), "NEEDS ATTENTION") {
		t.Error("an order gave up")
	}
	failed := strings.Count(e.logs.String(), "fulfilment attempt failed")
	t.Logf("%d orders (%d webhooks lost), %d webhook delivery attempts (%d given up) x3 concurrent, reconciliation mid-run: %d PushOrder RPCs, %d outbox files, %d failed-attempt log lines; created in %s, all accepted after %s",
		n, lost, deliveries, gaveUp, pushes, len(files), failed, created.Round(time.Millisecond), accepted.Round(time.Millisecond))
}

func TestCrashAfterPushIsRetriedWithTheSameKey(t *testing.T) {
	e := newEnv(t, envOptions{NoStart: true})
	ctx := context.Background()
	id := e.checkout(mugOrder(1))
	e.waitFor("recorded", func() bool { _, err := e.st.GetOrder(ctx, id); return err == nil })

	// A worker claimed the order and pushed it, then died before recording
	// the answer: the row is pushing, the plugin has the order.
	o, ok, err := e.st.ClaimOrder(ctx, id, 50*time.Millisecond)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	_ = o
	if err := e.svc.Fulfil(ctx, id); err != nil { // still claimed: does nothing
		t.Fatal(err)
	}
	if n := e.rpc.Get("PushOrder"); n != 0 {
		t.Fatalf("pushed while another worker held the claim: %d", n)
	}
	time.Sleep(60 * time.Millisecond) // the dead worker's lease runs out
	if err := e.svc.RetryPending(ctx); err != nil {
		t.Fatal(err)
	}
	got := e.waitOrder(id, store.OrderAccepted)
	if got.Attempts != 2 || got.BackendRef == "" {
		t.Fatalf("after takeover: %+v", got)
	}
	// Pushing again with the same key gets the plugin's first answer: one
	// outbox file.
	if files := e.outboxFiles(); len(files) != 1 || files[0] != id {
		t.Fatalf("outbox: %v", files)
	}
	// Final orders are never claimed again.
	if err := e.svc.Fulfil(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := e.rpc.Get("PushOrder"); n != 1 {
		t.Fatalf("pushes: %d", n)
	}
}

func TestFailedAttemptsRetryUntilThePluginIsBack(t *testing.T) {
	e := newEnv(t, envOptions{NoStart: true})
	ctx := context.Background()
	id := e.checkout(mugOrder(1))
	e.waitFor("recorded", func() bool { _, err := e.st.GetOrder(ctx, id); return err == nil })
	// The outbox disappears: the plugin fails the push.
	if err := os.Rename(e.outbox, e.outbox+".away"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Fulfil(ctx, id); err == nil {
		t.Fatal("push into a missing outbox should fail")
	}
	o := e.waitOrder(id, store.OrderFailed)
	if o.LastError == "" || o.Attempts != 1 {
		t.Fatalf("failed attempt: %+v", o)
	}
	if err := os.Rename(e.outbox+".away", e.outbox); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // backoff
	if err := e.svc.RetryPending(ctx); err != nil {
		t.Fatal(err)
	}
	if o := e.waitOrder(id, store.OrderAccepted); o.Attempts != 2 {
		t.Fatalf("retried: %+v", o)
	}
}

func TestRejectedOrderIsRefundedUnderAutomaticCapture(t *testing.T) {
	e := newEnv(t, envOptions{RefundRejected: true})
	in := mugOrder(2)
	in.Lines[0].SKU = "DISCONTINUED-1"
	id := e.checkout(in)
	o := e.waitOrder(id, store.OrderRejected)
	if !strings.Contains(o.Reason, "no longer sold") {
		t.Errorf("reject reason: %q", o.Reason)
	}
	pi := e.paymentIntent(id)
	e.waitFor("refund", func() bool { return len(e.refundsOf(pi)) == 1 })
	o = e.waitOrder(id, store.OrderRejected)
	e.waitFor("ledger refunded", func() bool {
		o, _ = e.st.GetOrder(context.Background(), id)
		return o.Refund == store.RefundRefunded
	})
	r := e.refundsOf(pi)[0]
	if r.Amount != o.AmountTotal || o.AmountRefunded != o.AmountTotal || r.Metadata["acs_checkout_session"] != id ||
		!strings.Contains(r.Metadata["acs_reason"], "no longer sold") {
		t.Fatalf("refund %+v, ledger %+v", r, o)
	}
	status, captured, refunded, _ := e.emu.PaymentIntent(pi)
	if status != "succeeded" || refunded != captured {
		t.Fatalf("payment intent: %s captured %d refunded %d", status, captured, refunded)
	}
	// Sweeps and retries refund nothing more.
	time.Sleep(20 * time.Millisecond)
	if err := e.svc.RetryPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Fulfil(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if n := len(e.refundsOf(pi)); n != 1 {
		t.Fatalf("refunds: %d", n)
	}
}

func TestManualCaptureCapturesOnAccept(t *testing.T) {
	e := newEnv(t, envOptions{Capture: CaptureManual})
	in := mugOrder(1)
	in.CaptureManual = true
	id := e.checkout(in)
	e.waitOrder(id, store.OrderAccepted)
	pi := e.paymentIntent(id)
	var o *store.Order
	e.waitFor("captured", func() bool {
		o, _ = e.st.GetOrder(context.Background(), id)
		return o.Capture == store.CaptureCaptured
	})
	status, captured, _, _ := e.emu.PaymentIntent(pi)
	if status != "succeeded" || captured != o.AmountTotal || captured == 0 {
		t.Fatalf("payment intent %s: %s captured %d (order total %d)", pi, status, captured, o.AmountTotal)
	}
	if n := e.emu.CountRequests("POST", "/v1/payment_intents/"+pi+"/capture"); n != 1 {
		t.Fatalf("capture requests: %d", n)
	}
}

func TestManualCaptureOnShipment(t *testing.T) {
	e := newEnv(t, envOptions{Capture: CaptureManual, CaptureOn: CaptureOnShipped})
	ctx := context.Background()
	in := mugOrder(1)
	in.CaptureManual = true
	id := e.checkout(in)
	e.waitOrder(id, store.OrderAccepted)
	pi := e.paymentIntent(id)
	if status, _, _, _ := e.emu.PaymentIntent(pi); status != "requires_capture" {
		t.Fatalf("captured before shipment: %s", status)
	}
	e.writeUpdate("ship-1", map[string]any{"checkout_session_id": id, "kind": "shipped", "carrier": "UPS", "tracking_number": "1Z999"})
	if err := e.svc.ApplyOrderUpdates(ctx, e.plugin); err != nil {
		t.Fatal(err)
	}
	if status, captured, _, _ := e.emu.PaymentIntent(pi); status != "succeeded" || captured == 0 {
		t.Fatalf("after shipment: %s %d", status, captured)
	}
	if _, err := os.Stat(filepath.Join(e.inbox, "processed", "ship-1.json")); err != nil {
		t.Fatalf("update not acknowledged: %v", err)
	}
}

func TestRejectedOrderUnderManualCaptureIsCancelledNotRefunded(t *testing.T) {
	e := newEnv(t, envOptions{Capture: CaptureManual, RefundRejected: true})
	in := mugOrder(1)
	in.CaptureManual = true
	in.Lines[0].SKU = "GONE"
	id := e.checkout(in)
	o := e.waitOrder(id, store.OrderRejected)
	pi := e.paymentIntent(id)
	// Stripe's side: the PaymentIntent is canceled and its authorization
	// released (the uncaptured charge reports the whole amount as refunded).
	e.waitFor("payment intent canceled", func() bool {
		status, _, _, _ := e.emu.PaymentIntent(pi)
		return status == "canceled"
	})
	if _, captured, released, _ := e.emu.PaymentIntent(pi); captured != 0 || released != o.AmountTotal {
		t.Fatalf("canceled intent: captured %d, released %d of %d", captured, released, o.AmountTotal)
	}
	// The ledger: nothing left to capture, no error.
	e.waitFor("ledger records the cancellation", func() bool {
		o, err := e.st.GetOrder(context.Background(), id)
		return err == nil && o.Capture == store.CaptureNotRequired && o.LastError == ""
	})
	if n := len(e.refundsOf(pi)); n != 0 {
		t.Fatalf("refunds of an uncaptured payment: %d", n)
	}
	if n := e.emu.CountRequests("POST", "/v1/payment_intents/"+pi+"/capture"); n != 0 {
		t.Fatalf("rejected order captured: %d", n)
	}
	// A later settlement pass leaves the canceled payment alone.
	cancels := e.emu.CountRequests("POST", "/v1/payment_intents/"+pi+"/cancel")
	if err := e.svc.RetryPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.emu.CountRequests("POST", "/v1/payment_intents/"+pi+"/cancel"); n != cancels {
		t.Fatalf("cancel requests after the sweep: %d, before %d", n, cancels)
	}
}

// The settlement sweep finds an unsettled order however old it is and
// however many orders came after it, and is not crowded out by orders whose
// money waits on purpose (capture on shipment, rejected orders left paid).
func TestSweepSettlesAnOrderOlderThanTheSweepLimit(t *testing.T) {
	e := newEnv(t, envOptions{Capture: CaptureManual, CaptureOn: CaptureOnShipped, SweepLimit: 3, NoStart: true})
	ctx := context.Background()
	e.emu.SetWebhook("", "") // the ledger rows below are written by hand
	record := func(o *store.Order, state string) {
		t.Helper()
		if _, err := e.st.RecordOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := e.st.ClaimOrder(ctx, o.SessionID, time.Minute); err != nil || !ok {
			t.Fatalf("claim %s: %v %v", o.SessionID, ok, err)
		}
		if err := e.st.CompleteOrder(ctx, o.SessionID, state, "", "out of stock"); err != nil {
			t.Fatal(err)
		}
	}
	// More orders than SweepLimit whose money waits on purpose: accepted
	// and authorised until shipment, rejected and left paid (refund_rejected
	// is off). They have no PaymentIntent: settling one would fail the sweep.
	for i := range 4 {
		record(&store.Order{SessionID: fmt.Sprintf("cs_awaiting_shipment_%d", i), Capture: store.CapturePending}, store.OrderAccepted)
	}
	for i := range 2 {
		record(&store.Order{SessionID: fmt.Sprintf("cs_left_paid_%d", i), Capture: store.CaptureCaptured}, store.OrderRejected)
	}
	// A rejected order from three months ago whose authorization was never
	// released (the host stopped between the backend's answer and the cancel).
	in := mugOrder(1)
	in.CaptureManual = true
	id := e.checkout(in)
	raw, err := e.emu.SessionExpanded(id)
	if err != nil {
		t.Fatal(err)
	}
	var sess struct {
		PaymentIntent string `json:"payment_intent"`
		AmountTotal   int64  `json:"amount_total"`
	}
	if err := json.Unmarshal(raw, &sess); err != nil {
		t.Fatal(err)
	}
	record(&store.Order{SessionID: id, PaymentIntentID: sess.PaymentIntent, Currency: "usd", AmountTotal: sess.AmountTotal,
		Capture: store.CapturePending, ReceivedAt: time.Now().Add(-90 * 24 * time.Hour)}, store.OrderRejected)
	// And more newer, settled orders than SweepLimit.
	for i := range 5 {
		record(&store.Order{SessionID: fmt.Sprintf("cs_settled_%d", i), Capture: store.CaptureCaptured}, store.OrderAccepted)
	}
	recent, err := e.st.RecentOrders(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range recent {
		if o.SessionID == id {
			t.Fatal("test setup: the old order is among the 3 most recent")
		}
	}

	time.Sleep(20 * time.Millisecond) // past RetryBackoff (10ms)
	if err := e.svc.RetryPending(ctx); err != nil {
		t.Fatal(err)
	}
	if status, captured, _, _ := e.emu.PaymentIntent(sess.PaymentIntent); status != "canceled" || captured != 0 {
		t.Fatalf("old order's PaymentIntent: %s, captured %d", status, captured)
	}
	o, err := e.st.GetOrder(ctx, id)
	if err != nil || o.Capture != store.CaptureNotRequired || o.LastError != "" {
		t.Fatalf("old order's ledger row: %+v %v", o, err)
	}
	for i := range 4 {
		o, _ := e.st.GetOrder(ctx, fmt.Sprintf("cs_awaiting_shipment_%d", i))
		if o.Capture != store.CapturePending || o.LastError != "" {
			t.Fatalf("an order awaiting shipment was touched: %+v", o)
		}
	}
}

func TestCancellationRefundsOnceEvenWhenAppliedTwice(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	id := e.checkout(mugOrder(2))
	o := e.waitOrder(id, store.OrderAccepted)
	pi := e.paymentIntent(id)

	update := map[string]any{"id": "upd-cancel-1", "checkout_session_id": id, "kind": "cancelled", "reason": "customer called"}
	e.writeUpdate("cancel-1", update)
	if err := e.svc.ApplyOrderUpdates(ctx, e.plugin); err != nil {
		t.Fatal(err)
	}
	// The backend sends the same update again (it lost our acknowledgement).
	e.writeUpdate("cancel-1-again", update)
	if err := e.svc.ApplyOrderUpdates(ctx, e.plugin); err != nil {
		t.Fatal(err)
	}
	refunds := e.refundsOf(pi)
	if len(refunds) != 1 || refunds[0].Amount != o.AmountTotal || refunds[0].Reason != "requested_by_customer" ||
		refunds[0].Metadata["acs_update_id"] != "upd-cancel-1" {
		t.Fatalf("refunds: %+v (total %d)", refunds, o.AmountTotal)
	}
	o, _ = e.st.GetOrder(ctx, id)
	if o.AmountRefunded != o.AmountTotal || o.Refund != store.RefundRefunded {
		t.Fatalf("ledger: %+v", o)
	}
	for _, f := range []string{"cancel-1.json", "cancel-1-again.json"} {
		if _, err := os.Stat(filepath.Join(e.inbox, "processed", f)); err != nil {
			t.Errorf("%s not acknowledged: %v", f, err)
		}
	}
}

func TestPartialCancellationRefundsTheLinesShare(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	in := mugOrder(3)
	in.Lines = append(in.Lines, emulator.CheckoutLine{SKU: "TEE-L", Name: "Organic tee", Quantity: 1, UnitAmount: 2500})
	in.TaxPercent = 8.25
	in.ShippingAmount = 500
	id := e.checkout(in)
	e.waitOrder(id, store.OrderAccepted)
	pi := e.paymentIntent(id)

	// 3 mugs at 12.00 carry round(3600 * 8.25%) = 297 tax: one mug is
	// 1200 + 99.
	e.writeUpdate("partial-1", map[string]any{"checkout_session_id": id, "kind": "partially_cancelled",
		"lines": []map[string]any{{"sku": "MUG-BLUE", "quantity": 1}}})
	// An explicit amount wins.
	e.writeUpdate("partial-2", map[string]any{"checkout_session_id": id, "kind": "partially_cancelled",
		"lines": []map[string]any{{"sku": "TEE-L", "quantity": 1}}, "refund_amount": 1000})
	// More than was ordered cannot be applied: recorded as failed, acked.
	e.writeUpdate("partial-3", map[string]any{"checkout_session_id": id, "kind": "partially_cancelled",
		"lines": []map[string]any{{"sku": "MUG-BLUE", "quantity": 5}}})
	if err := e.svc.ApplyOrderUpdates(ctx, e.plugin); err != nil {
		t.Fatal(err)
	}
	var amounts []int64
	for _, r := range e.refundsOf(pi) {
		amounts = append(amounts, r.Amount)
	}
	sort.Slice(amounts, func(i, j int) bool { return amounts[i] < amounts[j] })
	if fmt.Sprint(amounts) != "[1000 1299]" {
		t.Fatalf("refund amounts %v, want [1000 1299]", amounts)
	}
	o, _ := e.st.GetOrder(ctx, id)
	if o.AmountRefunded != 2299 {
		t.Fatalf("ledger refunded %d", o.AmountRefunded)
	}
	if !strings.Contains(e.logs.String(), "cancels 2 more of MUG-BLUE") {
		t.Error("the impossible update should be reported")
	}
	if ents, _ := os.ReadDir(e.inbox); len(ents) != 1 { // only processed/
		t.Errorf("inbox still has updates: %v", ents)
	}
}

func TestUnreadableUpdatesAreLoggedWithOrigin(t *testing.T) {
	e := newEnv(t, envOptions{})
	if err := os.WriteFile(filepath.Join(e.inbox, "broken.json"), []byte(`{"kind": "exploded"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// An update for an order nobody knows stays with the plugin.
	e.writeUpdate("stranger", map[string]any{"checkout_session_id": "cs_test_unknown", "kind": "cancelled"})
	if err := e.svc.ApplyOrderUpdates(context.Background(), e.plugin); err != nil {
		t.Fatal(err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "origin=broken.json") || !strings.Contains(logs, "could not read") {
		t.Errorf("parse error not logged with origin:\n%s", tail(logs, 2000))
	}
	if _, err := os.Stat(filepath.Join(e.inbox, "stranger.json")); err != nil {
		t.Errorf("update for an unknown order was acknowledged: %v", err)
	}
}

func TestRefundMadeBeforeACrashIsNotRepeatedAfterKeysExpire(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	id := e.checkout(mugOrder(1))
	e.waitOrder(id, store.OrderAccepted)
	pi := e.paymentIntent(id)
	// A host refunded for update upd-old, then crashed before recording
	// it, and came back after Stripe forgot the idempotency key: the
	// refund exists, under another Idempotency-Key.
	params := &stripe.RefundCreateParams{PaymentIntent: stripe.String(pi)}
	params.IdempotencyKey = stripe.String("a-key-stripe-no-longer-remembers")
	params.AddMetadata(stripeapi.RefundKeyMetadata, "refund:update:upd-old")
	if _, err := e.sc.SC.V1Refunds.Create(ctx, params); err != nil {
		t.Fatal(err)
	}
	e.writeUpdate("old", map[string]any{"id": "upd-old", "checkout_session_id": id, "kind": "cancelled"})
	if err := e.svc.ApplyOrderUpdates(ctx, e.plugin); err != nil {
		t.Fatal(err)
	}
	if n := len(e.refundsOf(pi)); n != 1 {
		t.Fatalf("refunds: %d, want the one made before the crash", n)
	}
	if o, _ := e.st.GetOrder(ctx, id); o.AmountRefunded != o.AmountTotal {
		t.Fatalf("ledger: %+v", o)
	}
}

func TestPluginDownSpendsNoAttempt(t *testing.T) {
	e := newEnv(t, envOptions{NoStart: true, PluginBackoff: 1500 * time.Millisecond})
	ctx := context.Background()
	if err := syscall.Kill(e.plugin.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.waitFor("plugin down", func() bool { return !e.plugin.Status().Up })
	id := e.checkout(mugOrder(1))
	e.waitFor("recorded", func() bool { _, err := e.st.GetOrder(ctx, id); return err == nil })
	if err := e.svc.Fulfil(ctx, id); !errors.Is(err, ErrNoPlugin) {
		t.Fatalf("fulfil while the plugin is down: %v", err)
	}
	if o, _ := e.st.GetOrder(ctx, id); o.State != store.OrderReceived || o.Attempts != 0 {
		t.Fatalf("order after a down plugin: %+v", o)
	}
	e.waitFor("plugin back", func() bool { return e.plugin.Status().Up })
	if err := e.svc.RetryPending(ctx); err != nil {
		t.Fatal(err)
	}
	if o := e.waitOrder(id, store.OrderAccepted); o.Attempts != 1 {
		t.Fatalf("after restart: %+v", o)
	}
}

// A burst larger than the in-memory queue: the orders it cannot take wait
// in the ledger, and the overflow starts a retry pass at once that pages
// through them all (here long before the hourly pass), each pushed once.
func TestQueueOverflowIsDrainedAtOnce(t *testing.T) {
	const n = 60
	e := newEnv(t, envOptions{Workers: 2, QueueSize: 2, RetryInterval: time.Hour, NoStart: true})
	e.svc.retryPage = 7 // several pages per pass
	e.svc.Start(context.Background())
	// The first pass runs at Start; let it find nothing.
	time.Sleep(100 * time.Millisecond)
	var ids []string
	for range n {
		ids = append(ids, e.checkout(mugOrder(1)))
	}
	for _, id := range ids {
		e.waitOrder(id, store.OrderAccepted)
	}
	if got := e.rpc.Get("PushOrder"); got != n {
		t.Fatalf("%d pushes for %d orders", got, n)
	}
	warnings := strings.Count(e.logs.String(), "fulfilment queue full")
	if warnings == 0 || warnings > n/4 {
		t.Fatalf("%d queue-full warnings for %d orders; want a few (one per overflow episode)", warnings, n)
	}
}
