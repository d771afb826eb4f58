package orders

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/metrics"
	"github.com/acs-connector/acs-connector/host/internal/store"
)

// Reconcile is the safety net for lost webhooks (a cron job). It lists the
// complete Checkout Sessions created after the stored watermark (cursor
// WatermarkKey; the first run starts lookback ago), records the ones the
// ledger does not have, fulfils those, and then moves the watermark.
//
// Stripe lists newest first, so a run that fails part-way has seen the
// newest sessions but not necessarily the older ones: the watermark moves
// only after the whole list was read, and never past a session whose
// recording failed. It also stays ReconcileOverlap behind now, because
// sessions are listed by creation time but complete later; sessions listed
// twice are harmless (recording is insert-if-absent, pushing needs a claim).
func (s *Service) Reconcile(ctx context.Context, lookback time.Duration) error {
	if lookback <= 0 {
		lookback = 24 * time.Hour
	}
	now := time.Now()
	wm, err := s.watermark(ctx, now, lookback)
	if err != nil {
		return err
	}
	type seenSession struct {
		id      string
		created int64
	}
	var seen []seenSession
	if err := s.sc.ListCompleteSessions(ctx, wm, func(id string, created int64) error {
		seen = append(seen, seenSession{id, created})
		return nil
	}); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}

	var missed []string
	var errs []error
	maxCreated, failedAt := wm, int64(math.MaxInt64)
	for _, f := range seen {
		maxCreated = max(maxCreated, f.created)
		if s.known.has(f.id) {
			continue
		}
		created, err := s.st.RecordOrder(ctx, &store.Order{
			SessionID: f.id, SessionCreated: time.Unix(f.created, 0), Capture: s.initialCapture(),
		})
		if err != nil {
			errs = append(errs, err)
			failedAt = min(failedAt, f.created)
			continue
		}
		s.known.add(f.id)
		if created {
			missed = append(missed, f.id)
			s.opt.Metrics.Inc(metrics.OrdersC, "reconciled")
			s.log.Warn("reconciliation found an order no webhook delivered", "session", f.id, "created", f.created)
		}
	}
	s.fulfilAll(ctx, missed)

	next := min(maxCreated, now.Add(-s.opt.ReconcileOverlap).Unix())
	if failedAt != math.MaxInt64 {
		next = min(next, failedAt-1)
	}
	if next > wm {
		if err := s.st.SetCursor(ctx, WatermarkKey, strconv.FormatInt(next, 10)); err != nil {
			errs = append(errs, err)
		}
	}
	s.log.Info("reconciliation done", "listed", len(seen), "missed_by_webhooks", len(missed), "watermark", max(next, wm))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	return nil
}

func (s *Service) watermark(ctx context.Context, now time.Time, lookback time.Duration) (int64, error) {
	v, err := s.st.GetCursor(ctx, WatermarkKey)
	if err != nil {
		return 0, fmt.Errorf("reconcile: %w", err)
	}
	if v == "" {
		return now.Add(-lookback).Unix(), nil
	}
	wm, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reconcile: cursor %s holds %q, not unix seconds; fix or delete it", WatermarkKey, v)
	}
	return wm, nil
}

// RetryPending (a cron job, also run by the worker every RetryInterval)
// fulfils orders left behind: received ones nobody took, pushing ones whose
// claim expired (a crash mid-push; they are pushed again with the same
// idempotency key), and failed ones whose backoff has passed. It then
// finishes settlements that did not complete: a capture due on acceptance,
// a rejected order's refund or cancellation.
func (s *Service) RetryPending(ctx context.Context) error {
	now := time.Now()
	// A full page means more may wait behind it (a burst that overflowed
	// the queue): take the next page at once rather than at the next pass.
	// Orders failing again stay failed with a later backoff, so each page
	// makes progress; maxRetryPages bounds a pass regardless.
	s.overflowing.Store(false)
	for page := 0; page < maxRetryPages && ctx.Err() == nil; page++ {
		list, err := s.st.OrdersToRetry(ctx, now, s.retryPage)
		if err != nil {
			return fmt.Errorf("retry pending orders: %w", err)
		}
		var ids []string
		for _, o := range list {
			if o.State == store.OrderFailed && now.Before(o.UpdatedAt.Add(s.backoff(o.Attempts))) {
				continue
			}
			ids = append(ids, o.SessionID)
		}
		noPlugin := s.fulfilAll(ctx, ids)
		if noPlugin || len(list) < s.retryPage || len(ids) == 0 {
			break
		}
	}

	// Every unsettled order, however old, least recently tried first; rows
	// updated within RetryBackoff are left to the worker settling them now.
	due, err := s.st.OrdersToSettle(ctx, store.SettleQuery{
		CaptureAccepted: s.opt.CaptureOn == CaptureOnAccept,
		RefundRejected:  s.opt.RefundRejected,
		UpdatedBefore:   now.Add(-s.opt.RetryBackoff),
	}, s.opt.SweepLimit)
	if err != nil {
		return fmt.Errorf("retry pending settlements: %w", err)
	}
	var errs []error
	for i := range due {
		o := &due[i]
		if !s.needsSettlement(o) {
			continue
		}
		if err := s.settle(ctx, o, false); err != nil {
			errs = append(errs, fmt.Errorf("settle %s: %w", o.SessionID, err))
		}
	}
	return errors.Join(errs...)
}

const (
	// retryPage is how many orders a retry pass reads at a time.
	retryPage = 1000
	// maxRetryPages bounds one retry pass.
	maxRetryPages = 100
)

// fulfilAll fulfils ids with Workers at a time. noPlugin reports that the
// fulfilment plugin was not running, so the orders are still waiting.
func (s *Service) fulfilAll(ctx context.Context, ids []string) (noPlugin bool) {
	if len(ids) == 0 {
		return false
	}
	var down atomic.Bool
	sem := make(chan struct{}, s.opt.Workers)
	var wg sync.WaitGroup
	var once sync.Once
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := s.Fulfil(ctx, id)
			switch {
			case errors.Is(err, ErrNoPlugin):
				down.Store(true)
				once.Do(func() { s.log.Warn("no fulfilment plugin running; orders wait in the ledger") })
			case err != nil:
				s.log.Warn("fulfilment attempt failed; it will be retried", "session", id, "err", err)
			}
		}()
	}
	wg.Wait()
	return down.Load()
}
