package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/metrics"
	"github.com/acs-connector/acs-connector/host/internal/store"
	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

// ErrNoPlugin is returned by Fulfil while no fulfilment plugin runs (or
// it is down, restarting); the order stays in the ledger untouched, no
// attempt is used up.
var ErrNoPlugin = errors.New("no fulfilment plugin running")

// Fulfil pushes one recorded order to the backend if this caller wins the
// claim, then settles the payment for the backend's answer. It is safe to
// call any number of times, concurrently, from any host: only a claim
// holder pushes, and a pushed order is never claimed again.
func (s *Service) Fulfil(ctx context.Context, id string) error {
	p, ok := s.opt.Plugin()
	if !ok || p == nil {
		return ErrNoPlugin
	}
	if !p.Status().Up {
		// Down between restarts: don't spend one of the order's attempts.
		return fmt.Errorf("%w: plugin %s is down", ErrNoPlugin, p.Name())
	}
	o, claimed, err := s.st.ClaimOrder(ctx, id, s.opt.Lease)
	if err != nil {
		return fmt.Errorf("claim order %s: %w", id, err)
	}
	if !claimed {
		s.log.Debug("order not claimed (final, or held by another worker)", "session", id, "state", o.State)
		return nil
	}
	fail := func(err error) error {
		s.failOrder(ctx, o, err)
		return err
	}

	sctx, cancel := context.WithTimeout(ctx, s.opt.StripeTimeout)
	raw, err := s.sc.RetrieveSession(sctx, id)
	cancel()
	if err != nil {
		return fail(err)
	}
	m, err := MapSession(raw)
	if err != nil {
		return fail(fmt.Errorf("map session %s: %w", id, err))
	}
	if m.Status != "complete" {
		return fail(fmt.Errorf("session %s has status %q, not complete", id, m.Status))
	}
	for _, w := range m.Warnings {
		s.log.Warn("order mapping fell back", "session", id, "detail", w)
	}
	if err := s.syncPayment(ctx, o, m); err != nil {
		return fail(err)
	}
	if err := s.saveDetails(ctx, id, m.Order); err != nil {
		return fail(err)
	}

	pctx, cancel := context.WithTimeout(ctx, s.opt.PushTimeout)
	resp, err := p.PushOrder(pctx, &pb.PushOrderRequest{IdempotencyKey: id, Order: m.Order})
	cancel()
	if err != nil {
		return fail(fmt.Errorf("push order %s to plugin %s: %w", id, p.Name(), err))
	}
	switch resp.GetStatus() {
	case pb.PushOrderResponse_STATUS_ACCEPTED:
		o.State, o.BackendRef = store.OrderAccepted, resp.GetBackendReference()
		err = s.st.CompleteOrder(ctx, id, store.OrderAccepted, resp.GetBackendReference(), "")
		if err == nil {
			s.opt.Metrics.Inc(metrics.OrdersC, "fulfilled")
			s.log.Info("order accepted by the backend", "session", id, "backend_ref", resp.GetBackendReference(), "attempt", o.Attempts)
		}
	case pb.PushOrderResponse_STATUS_REJECTED:
		reason := resp.GetReason()
		if reason == "" {
			reason = "rejected by the store"
		}
		o.State, o.BackendRef, o.Reason = store.OrderRejected, resp.GetBackendReference(), reason
		err = s.st.CompleteOrder(ctx, id, store.OrderRejected, resp.GetBackendReference(), reason)
		if err == nil {
			s.opt.Metrics.Inc(metrics.OrdersC, "rejected")
			s.log.Warn("order rejected by the backend", "session", id, "reason", reason)
		}
	default:
		return fail(fmt.Errorf("plugin %s answered the push of %s without a status", p.Name(), id))
	}
	if err != nil {
		// The answer is not recorded. The row stays pushing; after the
		// lease the order is pushed again with the same key and the plugin
		// repeats its answer.
		return fmt.Errorf("record backend answer for %s: %w", id, err)
	}
	// o now mirrors the row (state, answer and payment fields).
	return s.settle(ctx, o, true)
}

// failOrder records a failed attempt; the order is claimed again by a later
// retry pass until it has used its attempts.
func (s *Service) failOrder(ctx context.Context, o *store.Order, cause error) {
	msg := cause.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	if err := s.st.CompleteOrder(ctx, o.SessionID, store.OrderFailed, "", msg); err != nil {
		s.log.Error("could not record a failed fulfilment attempt", "session", o.SessionID, "err", err, "cause", cause)
		return
	}
	if o.Attempts >= store.MaxOrderAttempts {
		s.opt.Metrics.Inc(metrics.OrdersC, "failed")
		s.log.Error("order NEEDS ATTENTION: fulfilment gave up after every attempt; the payment is untouched",
			"session", o.SessionID, "attempts", o.Attempts, "err", cause)
		return
	}
	s.log.Warn("fulfilment attempt failed; will retry", "session", o.SessionID, "attempt", o.Attempts, "err", cause)
}

// syncPayment copies the session's payment facts into the ledger row o
// (and into o), writing only when something changed.
func (s *Service) syncPayment(ctx context.Context, o *store.Order, m *Mapped) error {
	apply := func(row *store.Order) {
		if m.Order.PaymentIntentId != "" {
			row.PaymentIntentID = m.Order.PaymentIntentId
		}
		row.Currency, row.AmountTotal = m.Order.Currency, m.Order.AmountTotal
		switch m.PIStatus {
		case "requires_capture":
			if row.Capture != store.CaptureFailed {
				row.Capture = store.CapturePending
			}
		case "succeeded":
			row.Capture = store.CaptureCaptured
		case "canceled":
			row.Capture = store.CaptureNotRequired
		}
	}
	want := *o
	apply(&want)
	if want.PaymentIntentID == o.PaymentIntentID && want.Currency == o.Currency && want.AmountTotal == o.AmountTotal && want.Capture == o.Capture {
		return nil
	}
	err := s.st.UpdateOrderPayment(ctx, o.SessionID, func(row *store.Order) error {
		apply(row)
		*o = *row
		return nil
	})
	return err
}

// uncaptured reports whether the order's payment is only authorised.
func uncaptured(o *store.Order) bool {
	return o.Capture == store.CapturePending || o.Capture == store.CaptureFailed
}

// settle moves the money the backend's answer calls for. It is idempotent
// and safe to repeat (RetryPending calls it for orders whose settlement
// did not finish). loud makes "left as is" notes warnings (first pass)
// instead of debug lines (sweeps).
func (s *Service) settle(ctx context.Context, o *store.Order, loud bool) error {
	switch o.State {
	case store.OrderAccepted:
		if uncaptured(o) && s.opt.CaptureOn == CaptureOnAccept {
			return s.capture(ctx, o, 0, "accepted")
		}
	case store.OrderRejected:
		switch {
		case uncaptured(o):
			// Manual capture: release the authorization, nothing to refund.
			return s.cancelPayment(ctx, o, "cancel:reject:"+o.SessionID, "", "rejected: "+o.Reason)
		case o.Capture == store.CaptureCaptured && o.Refund != store.RefundRefunded:
			if !s.opt.RefundRejected {
				lvl := slogDebug
				if loud {
					lvl = slogWarn
				}
				s.log.Log(ctx, lvl, "rejected order left paid: refund_rejected is off; refund it by hand", "session", o.SessionID, "reason", o.Reason)
				return nil
			}
			_, err := s.refund(ctx, o, 0, "", "refund:reject:"+o.SessionID, map[string]string{
				"acs_checkout_session": o.SessionID, "acs_reason": "rejected by the backend: " + o.Reason,
			})
			return err
		}
	}
	return nil
}

// needsSettlement says whether settle would do something for o.
func (s *Service) needsSettlement(o *store.Order) bool {
	switch o.State {
	case store.OrderAccepted:
		return uncaptured(o) && s.opt.CaptureOn == CaptureOnAccept
	case store.OrderRejected:
		return uncaptured(o) || (o.Capture == store.CaptureCaptured && o.Refund != store.RefundRefunded && s.opt.RefundRejected)
	}
	return false
}

func (s *Service) stripeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opt.StripeTimeout)
}

// truth copies Stripe's captured and refunded amounts into the ledger.
func (s *Service) truth(ctx context.Context, o *store.Order, mutate func(o *store.Order)) error {
	sctx, cancel := s.stripeCtx(ctx)
	status, captured, refunded, err := s.sc.PaymentIntentStatus(sctx, o.PaymentIntentID)
	cancel()
	if err != nil {
		return err
	}
	return s.st.UpdateOrderPayment(ctx, o.SessionID, func(row *store.Order) error {
		switch status {
		case "succeeded":
			row.Capture = store.CaptureCaptured
		case "canceled":
			row.Capture = store.CaptureNotRequired
		}
		if captured > 0 && row.AmountTotal == 0 {
			row.AmountTotal = captured
		}
		row.AmountRefunded = refunded
		if mutate != nil {
			mutate(row)
		}
		return nil
	})
}

// refreshOnUnexpectedState copies the PaymentIntent's real state into the
// ledger when Stripe says it is not in the state we thought (captured or
// cancelled elsewhere, e.g. in the Dashboard), so the next settlement pass
// takes the right road (refund instead of cancel, nothing instead of
// capture) instead of repeating a call that cannot succeed.
func (s *Service) refreshOnUnexpectedState(ctx context.Context, o *store.Order, err error) {
	if stripeCode(err) != "payment_intent_unexpected_state" {
		return
	}
	if terr := s.truth(ctx, o, nil); terr != nil {
		s.log.Warn("could not refresh the payment state", "session", o.SessionID, "err", terr)
	}
}

// capture captures the order's PaymentIntent (amount 0: all of it).
func (s *Service) capture(ctx context.Context, o *store.Order, amount int64, why string) error {
	if o.PaymentIntentID == "" {
		return fmt.Errorf("capture %s: no payment intent recorded", o.SessionID)
	}
	key := "capture:" + o.SessionID
	if amount > 0 {
		key = fmt.Sprintf("capture:%s:%d", o.SessionID, amount)
	}
	sctx, cancel := s.stripeCtx(ctx)
	err := s.sc.CapturePaymentIntent(sctx, o.PaymentIntentID, amount, key)
	cancel()
	if err != nil {
		s.opt.Metrics.Inc(metrics.OrdersC, "capture_failed")
		s.log.Error("capture failed; will retry", "session", o.SessionID, "payment_intent", o.PaymentIntentID, "err", err)
		_ = s.st.UpdateOrderPayment(ctx, o.SessionID, func(row *store.Order) error {
			if row.Capture != store.CaptureCaptured {
				row.Capture, row.LastError = store.CaptureFailed, "capture: "+err.Error()
			}
			return nil
		})
		s.refreshOnUnexpectedState(ctx, o, err)
		return err
	}
	s.opt.Metrics.Inc(metrics.OrdersC, "captured")
	s.log.Info("payment captured", "session", o.SessionID, "payment_intent", o.PaymentIntentID, "on", why, "amount", amount)
	return s.truth(ctx, o, func(row *store.Order) { row.Capture, row.LastError = store.CaptureCaptured, "" })
}

// cancelPayment cancels an uncaptured PaymentIntent.
func (s *Service) cancelPayment(ctx context.Context, o *store.Order, key, reason, why string) error {
	if o.PaymentIntentID == "" {
		return fmt.Errorf("cancel payment of %s: no payment intent recorded", o.SessionID)
	}
	sctx, cancel := s.stripeCtx(ctx)
	err := s.sc.CancelPaymentIntent(sctx, o.PaymentIntentID, reason, key)
	cancel()
	if err != nil {
		s.log.Error("cancelling the payment failed; will retry", "session", o.SessionID, "payment_intent", o.PaymentIntentID, "err", err)
		_ = s.st.UpdateOrderPayment(ctx, o.SessionID, func(row *store.Order) error {
			row.LastError = "cancel payment: " + err.Error()
			return nil
		})
		s.refreshOnUnexpectedState(ctx, o, err)
		return err
	}
	s.opt.Metrics.Inc(metrics.OrdersC, "cancelled")
	s.log.Info("payment authorization released", "session", o.SessionID, "payment_intent", o.PaymentIntentID, "why", why)
	return s.st.UpdateOrderPayment(ctx, o.SessionID, func(row *store.Order) error {
		row.Capture, row.LastError = store.CaptureNotRequired, ""
		return nil
	})
}

// refund refunds amount (0: whatever is left) with a deterministic
// idempotency key, then copies Stripe's refunded total into the ledger.
func (s *Service) refund(ctx context.Context, o *store.Order, amount int64, reason, key string, md map[string]string) (string, error) {
	if o.PaymentIntentID == "" {
		return "", fmt.Errorf("refund %s: no payment intent recorded", o.SessionID)
	}
	if err := s.st.UpdateOrderPayment(ctx, o.SessionID, func(row *store.Order) error {
		row.Refund = store.RefundPending
		return nil
	}); err != nil {
		return "", err
	}
	// A refund made before a crash whose retry comes after Stripe forgot
	// the idempotency key (24h) is found by its metadata instead.
	sctx, cancel := s.stripeCtx(ctx)
	refundID, found, err := s.sc.FindRefund(sctx, o.PaymentIntentID, key)
	cancel()
	if err == nil && !found {
		sctx, cancel = s.stripeCtx(ctx)
		refundID, err = s.sc.CreateRefund(sctx, o.PaymentIntentID, amount, reason, key, md)
		cancel()
	} else if found {
		s.log.Info("refund already made; not refunding again", "session", o.SessionID, "refund", refundID, "key", key)
	}
	if err != nil && s.alreadyRefunded(err) {
		s.log.Warn("nothing left to refund", "session", o.SessionID, "key", key)
		err = nil
	}
	if err != nil {
		s.opt.Metrics.Inc(metrics.OrdersC, "refund_failed")
		s.log.Error("refund failed", "session", o.SessionID, "key", key, "amount", amount, "err", err)
		_ = s.st.UpdateOrderPayment(ctx, o.SessionID, func(row *store.Order) error {
			row.Refund, row.LastError = store.RefundFailed, "refund: "+err.Error()
			return nil
		})
		return "", err
	}
	s.opt.Metrics.Inc(metrics.OrdersC, "refunded")
	s.log.Info("refunded", "session", o.SessionID, "refund", refundID, "amount", amount, "key", key)
	return refundID, s.truth(ctx, o, func(row *store.Order) { row.Refund, row.LastError = store.RefundRefunded, "" })
}

func (s *Service) alreadyRefunded(err error) bool {
	return stripeCode(err) == "charge_already_refunded"
}

// backoff is how long a failed order waits before its next attempt:
// RetryBackoff doubling per attempt, capped at an hour.
func (s *Service) backoff(attempts int) time.Duration {
	base := s.opt.RetryBackoff
	if attempts <= 1 {
		return base
	}
	return min(base<<min(attempts-1, 12), time.Hour)
}
