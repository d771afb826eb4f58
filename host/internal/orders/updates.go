package orders

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/acs-connector/acs-connector/host/internal/hooks"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

// updateDonePrefix marks an applied update (cursor key + update id), so an
// update applied before a crash is acknowledged without being applied
// again. It is written before store.FinishOrderUpdate.
const updateDonePrefix = "order_update:"

// updateBatch is how many updates one read asks for.
const updateBatch = 100

// errUpdate marks an update that can never be applied as sent.
type errUpdate struct{ msg string }

func (e *errUpdate) Error() string { return e.msg }

func badUpdate(format string, args ...any) error { return &errUpdate{fmt.Sprintf(format, args...)} }

func kindName(k pb.OrderUpdate_Kind) string {
	switch k {
	case pb.OrderUpdate_KIND_SHIPPED:
		return "shipped"
	case pb.OrderUpdate_KIND_CANCELLED:
		return "cancelled"
	case pb.OrderUpdate_KIND_PARTIALLY_CANCELLED:
		return "partially_cancelled"
	}
	return "unknown"
}

// ApplyOrderUpdates (a cron job) reads the backend's order updates and
// applies each update id once: shipped (captures when CaptureOn is
// "shipped"), cancelled (refunds what is left, or releases an uncaptured
// authorization), partially_cancelled (refunds the cancelled lines, or the
// update's refund_amount). Refunds carry the idempotency key
// refund:update:<update id>. An update is acknowledged to the plugin only
// after it is durably applied; one that cannot be applied yet (its order is
// not accepted yet, Stripe is unreachable) stays with the plugin and comes
// back. Updates the plugin could not parse are logged with their origin.
func (s *Service) ApplyOrderUpdates(ctx context.Context, plugin *pluginmgr.Plugin) error {
	if plugin == nil {
		return ErrNoPlugin
	}
	var errs []error
	for round := 0; round < 100; round++ {
		resp, err := plugin.ReadOrderUpdates(ctx, updateBatch)
		if errors.Is(err, pluginmgr.ErrUnimplemented) {
			s.log.Debug("plugin does not report order updates", "plugin", plugin.Name())
			return nil
		}
		if err != nil {
			return fmt.Errorf("read order updates from %s: %w", plugin.Name(), err)
		}
		if round == 0 {
			for _, e := range resp.GetErrors() {
				s.log.Warn("order update the plugin could not read; fix it where it comes from",
					"plugin", plugin.Name(), "origin", e.GetOrigin(), "field", e.GetField(), "problem", e.GetMessage())
			}
		}
		var done []string
		for _, u := range resp.GetUpdates() {
			ack, err := s.applyUpdate(ctx, u)
			if err != nil {
				errs = append(errs, err)
			}
			if ack {
				done = append(done, u.GetId())
			}
		}
		if len(done) > 0 {
			if err := plugin.AckOrderUpdates(ctx, done); err != nil {
				// Applied but not acknowledged: they come back and are
				// recognised as done.
				errs = append(errs, fmt.Errorf("acknowledge order updates to %s: %w", plugin.Name(), err))
				break
			}
		}
		if len(resp.GetUpdates()) < updateBatch || len(done) == 0 {
			break
		}
	}
	return errors.Join(errs...)
}

// applyUpdate applies u once and says whether it may be acknowledged.
func (s *Service) applyUpdate(ctx context.Context, u *pb.OrderUpdate) (ack bool, err error) {
	id, sid := u.GetId(), u.GetCheckoutSessionId()
	log := s.log.With("update", id, "session", sid, "kind", kindName(u.GetKind()), "origin", u.GetOrigin())
	if id == "" {
		log.Warn("order update without an id ignored (it cannot be applied once)")
		return false, nil
	}
	marker := updateDonePrefix + id
	if v, err := s.st.GetCursor(ctx, marker); err != nil {
		return false, err
	} else if v != "" {
		log.Debug("order update already applied; acknowledging again", "outcome", v)
		return true, nil
	}
	o, err := s.st.GetOrder(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		log.Warn("order update for an order this host does not know; kept until the order arrives")
		return false, nil
	}
	if err != nil {
		return false, err
	}
	finish := func(outcome, refundID string) (bool, error) {
		if err := s.st.SetCursor(ctx, marker, outcome); err != nil {
			return false, err
		}
		if err := s.st.FinishOrderUpdate(ctx, id, outcome, refundID); err != nil {
			return false, err
		}
		log.Info("order update applied", "outcome", outcome, "refund", refundID)
		return true, nil
	}
	switch o.State {
	case store.OrderAccepted:
	case store.OrderRejected:
		// Its payment was already refunded or released on rejection.
		if started, err := s.beginUpdate(ctx, u); err != nil || !started {
			return false, err
		}
		return finish("ignored: the order was rejected and settled then", "")
	default:
		log.Info("order update waits: the order is not accepted by the backend yet", "state", o.State)
		return false, nil
	}
	started, err := s.beginUpdate(ctx, u)
	if err != nil || !started {
		// Begun by another run that has not finished (or crashed less than
		// store.OrderUpdateReclaimAfter ago): not ours to acknowledge.
		return false, err
	}
	outcome, refundID, err := s.apply(ctx, o, u)
	if err != nil {
		var bad *errUpdate
		if errors.As(err, &bad) || stripeapi.IsPermanent(err) {
			log.Error("order update cannot be applied; handle it by hand", "err", err)
			return finish("failed: "+err.Error(), "")
		}
		// Left begun: retried with the same idempotency keys once the
		// store hands it out again.
		return false, fmt.Errorf("apply order update %s: %w", id, err)
	}
	return finish(outcome, refundID)
}

func (s *Service) beginUpdate(ctx context.Context, u *pb.OrderUpdate) (bool, error) {
	payload, err := protojson.Marshal(u)
	if err != nil {
		return false, err
	}
	return s.st.BeginOrderUpdate(ctx, u.GetId(), u.GetCheckoutSessionId(), kindName(u.GetKind()), payload)
}

func (s *Service) apply(ctx context.Context, o *store.Order, u *pb.OrderUpdate) (outcome, refundID string, err error) {
	md := map[string]string{"acs_checkout_session": o.SessionID, "acs_update_id": u.GetId()}
	if r := strings.TrimSpace(u.GetReason()); r != "" {
		md["acs_reason"] = r
	}
	switch u.GetKind() {
	case pb.OrderUpdate_KIND_SHIPPED:
		outcome = "shipped"
		if t := u.GetTrackingNumber(); t != "" {
			outcome += " (" + strings.TrimSpace(u.GetCarrier()+" "+t) + ")"
		}
		if uncaptured(o) && s.opt.CaptureOn == CaptureOnShipped {
			if err := s.capture(ctx, o, 0, "shipped"); err != nil {
				return "", "", err
			}
			outcome += "; payment captured"
		}
		return outcome, "", nil

	case pb.OrderUpdate_KIND_CANCELLED:
		switch {
		case uncaptured(o):
			if err := s.cancelPayment(ctx, o, "cancel:update:"+u.GetId(), "requested_by_customer", "cancelled by the backend"); err != nil {
				return "", "", err
			}
			return "cancelled; payment authorization released", "", nil
		case o.Capture == store.CaptureNotRequired:
			return "cancelled; nothing was charged", "", nil
		}
		refundID, err := s.refund(ctx, o, 0, "requested_by_customer", "refund:update:"+u.GetId(), md)
		if err != nil {
			return "", "", err
		}
		return "cancelled; refunded what was left", refundID, nil

	case pb.OrderUpdate_KIND_PARTIALLY_CANCELLED:
		amount := u.GetRefundAmount()
		if amount <= 0 {
			d, err := s.details(ctx, o)
			if err != nil {
				return "", "", err
			}
			if d == nil {
				return "", "", badUpdate("order %s has no stored lines to price the cancelled items; send refund_amount", o.SessionID)
			}
			if amount, err = PartialAmount(d, u.GetLines()); err != nil {
				return "", "", err
			}
		}
		if amount <= 0 {
			return "", "", badUpdate("partial cancellation of %s refunds nothing", o.SessionID)
		}
		if uncaptured(o) {
			// Not charged yet: capture only what is still sold, now, rather
			// than lose the cancellation before the capture happens.
			keep := o.AmountTotal - amount
			if keep <= 0 {
				if err := s.cancelPayment(ctx, o, "cancel:update:"+u.GetId(), "requested_by_customer", "everything cancelled before capture"); err != nil {
					return "", "", err
				}
				return "partially cancelled down to nothing; payment authorization released", "", nil
			}
			if err := s.capture(ctx, o, keep, "partial cancellation before capture"); err != nil {
				return "", "", err
			}
			return fmt.Sprintf("partially cancelled before capture; captured %s instead of %s",
				hooks.FormatAmount(keep, o.Currency), hooks.FormatAmount(o.AmountTotal, o.Currency)), "", nil
		}
		if o.Capture == store.CaptureNotRequired {
			return "partially cancelled; nothing was charged", "", nil
		}
		refundID, err := s.refund(ctx, o, amount, "requested_by_customer", "refund:update:"+u.GetId(), md)
		if err != nil {
			return "", "", err
		}
		return "partially cancelled; refunded " + hooks.FormatAmount(amount, o.Currency), refundID, nil
	}
	return "", "", badUpdate("unknown update kind %v", u.GetKind())
}

// PartialAmount prices cancelled units from the order's lines: per unit,
// the unit price plus the line's tax and minus the line's discount in
// proportion (rounded half up), so a fully cancelled line refunds exactly
// what it cost. Lines are matched by SKU; several lines of one SKU are used
// up in order.
func PartialAmount(o *pb.Order, cancelled []*pb.LineItem) (int64, error) {
	if len(cancelled) == 0 {
		return 0, badUpdate("partial cancellation names no lines")
	}
	left := make([]int64, len(o.GetLines()))
	for i, l := range o.GetLines() {
		left[i] = l.GetQuantity()
	}
	var total int64
	for _, c := range cancelled {
		qty := c.GetQuantity()
		if qty <= 0 {
			return 0, badUpdate("cancelled quantity %d of %s is not positive", qty, c.GetSku())
		}
		for i, l := range o.GetLines() {
			if qty == 0 {
				break
			}
			if l.GetSku() != c.GetSku() || left[i] == 0 {
				continue
			}
			take := min(qty, left[i])
			total += lineShare(l, take)
			left[i] -= take
			qty -= take
		}
		if qty > 0 {
			return 0, badUpdate("cancels %d more of %s than the order has", qty, c.GetSku())
		}
	}
	return total, nil
}

func lineShare(l *pb.OrderLine, q int64) int64 {
	n := l.GetQuantity()
	if n <= 0 {
		return 0
	}
	var tax int64
	for _, t := range l.GetTaxes() {
		tax += t.GetAmount()
	}
	disc := l.GetUnitAmount()*n + tax - l.GetAmountTotal()
	if l.GetAmountTotal() == 0 || disc < 0 {
		disc = 0
	}
	return l.GetUnitAmount()*q + divRound(tax*q, n) - divRound(disc*q, n)
}

func divRound(a, b int64) int64 { return (a + b/2) / b }
