// Package orders is the fulfilment path: checkout.session.completed
// webhooks, the order ledger, the push to the backend plugin, capture and
// refunds, order updates from the backend, reconciliation and the shopper's
// order page.
//
// Exactly once per checkout session. The ledger row (store.Order, keyed by
// session id) is the single source of truth:
//
//		received --ClaimOrder(lease)--> pushing --CompleteOrder--> accepted | rejected | failed
//		                                   ^                                              |
//		                                   +---- ClaimOrder again (attempts < max) -------+
//
//	  - The webhook only records the order (RecordOrder is insert-if-absent)
//	    and answers 200; duplicate and concurrent deliveries and
//	    reconciliation all land on the same row.
//	  - Only the holder of the claim pushes. ClaimOrder is an atomic
//	    compare-and-set in the database, so of any number of workers, hosts,
//	    deliveries and reconciliation runs exactly one pushes at a time.
//	  - The push carries the session id as idempotency key. A crash after the
//	    push but before CompleteOrder leaves the row in pushing; once the lease
//	    expires the order is claimed again and pushed with the same key, and
//	    the plugin answers with its first answer instead of creating a second
//	    order.
//	  - Money moves only after the backend's answer is durable in the ledger,
//	    with deterministic Stripe idempotency keys (capture:<session>,
//	    refund:reject:<session>, cancel:reject:<session>, refund:update:<id>),
//	    and the ledger's amounts are copied from Stripe afterwards, so a step
//	    repeated after a crash neither moves money twice nor counts it twice.
package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/metrics"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
	"github.com/acs-connector/acs-connector/host/internal/webhooks"
)

// Capture modes (Options.Capture) and capture moments (Options.CaptureOn).
const (
	CaptureAutomatic = "automatic"
	CaptureManual    = "manual"
	CaptureOnAccept  = "accepted"
	CaptureOnShipped = "shipped"
)

// WatermarkKey is the store cursor holding the reconciliation watermark
// (unix seconds: sessions created after it are listed).
const WatermarkKey = "reconcile:watermark"

// EventCompleted is the webhook event that starts fulfilment.
const EventCompleted = "checkout.session.completed"

// Options configure the order service.
type Options struct {
	Stripe *stripeapi.Client
	Store  store.Store
	// Plugin returns the fulfilment backend; ok=false while none runs
	// (orders then wait in the ledger).
	Plugin func() (*pluginmgr.Plugin, bool)
	// Capture mirrors the Dashboard's capture mode: "automatic" (default)
	// or "manual". The PaymentIntent's own capture_method wins once the
	// session has been retrieved.
	Capture string
	// CaptureOn, with manual capture: "accepted" (default) or "shipped".
	CaptureOn string
	// RefundRejected refunds orders the backend rejects after an automatic
	// capture. The zero value is false; the daemon passes the config's
	// default (true).
	RefundRejected bool

	// Workers fulfil concurrently (default 4).
	Workers int
	// QueueSize is how many received orders wait in memory for a worker
	// (default 4096). Beyond it they wait in the ledger for a retry pass,
	// which an overflow starts at once.
	QueueSize int
	// Lease is how long a claim lasts (default 2m). A crashed holder's
	// order is claimed again after it.
	Lease time.Duration
	// PushTimeout bounds one PushOrder (default 30s, at most Lease/2).
	PushTimeout time.Duration
	// StripeTimeout bounds one Stripe step (default 30s).
	StripeTimeout time.Duration
	// RetryInterval is how often the worker runs RetryPending on its own
	// (default 30s; negative: never, leave it to the scheduler).
	RetryInterval time.Duration
	// ReconcileOverlap keeps the reconciliation watermark at least this far
	// behind now, because a session is listed by its creation time but
	// completes later (default 1h).
	ReconcileOverlap time.Duration
	// RetryBackoff is the wait before a failed order's second attempt; it
	// doubles per attempt up to an hour (default 15s), so the attempts
	// (store.MaxOrderAttempts) span hours of a Stripe or backend outage.
	RetryBackoff time.Duration
	// SweepLimit bounds how many orders with an unfinished capture, refund
	// or cancellation one RetryPending pass settles, least recently tried
	// first (default 1000).
	SweepLimit int

	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// Service fulfils orders.
type Service struct {
	opt Options
	st  store.Store
	sc  *stripeapi.Client
	log *slog.Logger

	queue chan string
	// wake starts a retry pass early: the queue overflowed, and the orders
	// it could not take wait in the ledger.
	wake chan struct{}
	// overflowing is set from the first overflow until the pass that
	// drains the backlog, so a burst logs one warning, not one per order.
	overflowing atomic.Bool
	// retryPage is how many orders a retry pass reads at a time (tests
	// make it small).
	retryPage int
	// known holds session ids this process has durably recorded, so
	// duplicate deliveries and reconciliation skip the database.
	known *recentSet

	mu      sync.Mutex
	running bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New returns a service; call Start to run its worker. Capture and
// CaptureOn are validated by the config package; an unknown value here is
// logged and the default used (the PaymentIntent's own capture_method
// decides the capture state once the session is retrieved). A nil Store or
// Stripe client is a programming error and panics.
func New(opt Options) *Service {
	if opt.Store == nil {
		panic("orders.New: no store")
	}
	if opt.Stripe == nil {
		panic("orders.New: no Stripe client")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Plugin == nil {
		opt.Plugin = func() (*pluginmgr.Plugin, bool) { return nil, false }
	}
	opt.Capture = strings.ToLower(strings.TrimSpace(opt.Capture))
	switch opt.Capture {
	case CaptureAutomatic, CaptureManual:
	default:
		if opt.Capture != "" {
			opt.Logger.Error("orders: unknown capture mode; using automatic", "capture", opt.Capture)
		}
		opt.Capture = CaptureAutomatic
	}
	opt.CaptureOn = strings.ToLower(strings.TrimSpace(opt.CaptureOn))
	switch opt.CaptureOn {
	case CaptureOnAccept, CaptureOnShipped:
	default:
		if opt.CaptureOn != "" {
			opt.Logger.Error("orders: unknown capture moment; using accepted", "capture_on", opt.CaptureOn)
		}
		opt.CaptureOn = CaptureOnAccept
	}
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	if opt.Lease <= 0 {
		opt.Lease = 2 * time.Minute
	}
	if opt.PushTimeout <= 0 {
		opt.PushTimeout = 30 * time.Second
	}
	if opt.PushTimeout > opt.Lease/2 {
		opt.PushTimeout = opt.Lease / 2
	}
	if opt.StripeTimeout <= 0 {
		opt.StripeTimeout = 30 * time.Second
	}
	if opt.RetryInterval == 0 {
		opt.RetryInterval = 30 * time.Second
	}
	if opt.ReconcileOverlap <= 0 {
		opt.ReconcileOverlap = time.Hour
	}
	if opt.RetryBackoff <= 0 {
		opt.RetryBackoff = 15 * time.Second
	}
	if opt.SweepLimit <= 0 {
		opt.SweepLimit = 1000
	}
	if opt.QueueSize <= 0 {
		opt.QueueSize = 4096
	}
	return &Service{opt: opt, st: opt.Store, sc: opt.Stripe, log: opt.Logger, queue: make(chan string, opt.QueueSize), retryPage: retryPage,
		wake: make(chan struct{}, 1), known: newRecentSet(1 << 16)}
}

// RegisterWebhooks registers the service's event handlers.
func (s *Service) RegisterWebhooks(r *webhooks.Router) {
	r.Handle(EventCompleted, s.onCompleted)
}

// webhookSession is what the completed event's snapshot tells us.
type webhookSession struct {
	ID            string          `json:"id"`
	Object        string          `json:"object"`
	Created       int64           `json:"created"`
	Currency      string          `json:"currency"`
	AmountTotal   int64           `json:"amount_total"`
	Status        string          `json:"status"`
	PaymentIntent json.RawMessage `json:"payment_intent"`
}

// onCompleted durably records the order and queues it; fulfilment happens
// in the background so Stripe gets its 200 at once. An error (the store is
// down) answers 500 and Stripe delivers again.
func (s *Service) onCompleted(ctx context.Context, ev webhooks.Event) error {
	var ws webhookSession
	if err := json.Unmarshal(ev.Object, &ws); err != nil || ws.Object != "checkout.session" || !ValidSessionID(ws.ID) {
		// Retrying cannot fix this; reconciliation will find a real session.
		s.log.Error("checkout.session.completed without a usable session; ignored", "event", ev.ID, "err", err)
		return nil
	}
	if s.known.has(ws.ID) {
		s.log.Debug("order already recorded (duplicate delivery)", "session", ws.ID, "event", ev.ID)
		return nil
	}
	var pi paymentIntentJSON
	piID, isObj, _ := expandable(ws.PaymentIntent, &pi)
	if isObj {
		piID = pi.ID
	}
	o := &store.Order{
		SessionID:       ws.ID,
		OrderJSON:       ev.Object,
		PaymentIntentID: piID,
		Currency:        strings.ToLower(ws.Currency),
		AmountTotal:     ws.AmountTotal,
		Capture:         s.initialCapture(),
		SessionCreated:  time.Unix(ws.Created, 0),
	}
	created, err := s.st.RecordOrder(ctx, o)
	if err != nil {
		return fmt.Errorf("record order %s: %w", ws.ID, err)
	}
	s.known.add(ws.ID)
	if !created {
		// Recorded by an earlier delivery (or reconciliation) that also
		// queued it; anything left behind is RetryPending's.
		s.log.Debug("order already recorded (duplicate delivery)", "session", ws.ID, "event", ev.ID)
		return nil
	}
	s.opt.Metrics.Inc(metrics.OrdersC, "received")
	s.log.Info("order received", "session", ws.ID, "event", ev.ID)
	s.enqueue(ws.ID)
	return nil
}

// recentSet is a bounded set of strings; the oldest are forgotten first.
type recentSet struct {
	mu   sync.Mutex
	m    map[string]struct{}
	ring []string
	next int
}

func newRecentSet(n int) *recentSet {
	return &recentSet{m: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (r *recentSet) has(k string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.m[k]
	return ok
}

func (r *recentSet) add(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[k]; ok {
		return
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.m, old)
	}
	r.ring[r.next] = k
	r.m[k] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
}

func (s *Service) initialCapture() string {
	if s.opt.Capture == CaptureManual {
		return store.CapturePending
	}
	return store.CaptureCaptured
}

// enqueue hands a session to the worker without blocking. The order is in
// the ledger already, so a full queue loses nothing: the retry pass is
// woken and takes what is still received, page by page.
func (s *Service) enqueue(id string) {
	select {
	case s.queue <- id:
		return
	default:
	}
	s.opt.Metrics.Inc(metrics.OrdersC, "deferred")
	if !s.overflowing.Swap(true) {
		s.log.Warn("fulfilment queue full; orders wait in the ledger for a retry pass, starting now", "session", id)
	} else {
		s.log.Debug("fulfilment queue full; order left to the retry pass", "session", id)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Start runs the background worker: Workers goroutines fulfilling queued
// orders, and (unless RetryInterval < 0) a RetryPending pass at once and
// then every RetryInterval.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return
	}
	wctx, cancel := context.WithCancel(ctx)
	s.running, s.cancel = true, cancel
	for i := 0; i < s.opt.Workers; i++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				select {
				case <-wctx.Done():
					return
				case id := <-s.queue:
					// A fulfilment in progress is not cut off by Stop; each
					// step has its own timeout.
					if err := s.Fulfil(context.WithoutCancel(wctx), id); err != nil {
						s.log.Warn("fulfilment attempt failed; it will be retried", "session", id, "err", err)
					}
				}
			}
		}()
	}
	if s.opt.RetryInterval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			t := time.NewTicker(s.opt.RetryInterval)
			defer t.Stop()
			for {
				if err := s.RetryPending(wctx); err != nil && wctx.Err() == nil {
					s.log.Warn("retry pass failed", "err", err)
				}
				select {
				case <-wctx.Done():
					return
				case <-t.C:
				case <-s.wake:
				}
			}
		}()
	}
}

// Stop stops the worker and waits for fulfilments in progress to finish.
// Orders still queued stay received in the ledger.
func (s *Service) Stop() {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	s.running = false
	cancel := s.cancel
	s.mu.Unlock()
	cancel()
	s.wg.Wait()
}
