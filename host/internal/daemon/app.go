package daemon

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/feed"
	"github.com/acs-connector/acs-connector/host/internal/hooks"
	"github.com/acs-connector/acs-connector/host/internal/orders"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/scheduler"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/syncjob"
	"github.com/acs-connector/acs-connector/host/internal/web"
	"github.com/acs-connector/acs-connector/host/internal/webhooks"
)

// app holds the feature services (feeds, hooks, orders) and the bits of
// them a reload can swap. Plugins are looked up by name on every use, so a
// reload that restarts a plugin needs no rewiring here.
type app struct {
	d      *Daemon
	feeds  *syncjob.Runner
	router *webhooks.Router
	hooks  atomic.Pointer[http.Handler]
	orders atomic.Pointer[orders.Service]
	mu     sync.Mutex
	bgCtx  context.Context
}

func newApp(d *Daemon, cfg *config.Config) (*app, error) {
	a := &app{d: d}
	a.feeds = syncjob.New(syncjob.Options{
		Store:        d.store,
		Stripe:       d.stripe,
		UploadAPI:    cfg.Stripe.UploadAPI,
		Plugin:       d.plugins.Get,
		StateDir:     cfg.State.Dir,
		MaxPartBytes: int64(cfg.Stripe.MaxPartMiB) << 20,
		Metrics:      d.metrics,
		Logger:       d.log,
	})
	a.router = webhooks.NewRouter(webhooks.Options{Secret: cfg.Stripe.WebhookSecret, Logger: d.log})
	for _, t := range syncjob.ImportEventTypes {
		a.router.Handle(t, a.feeds.HandleImportEvent)
	}
	a.hooks.Store(ptr(a.buildHooks(cfg)))
	a.orders.Store(a.buildOrders(cfg))
	a.orders.Load().RegisterWebhooks(a.router)
	return a, nil
}

func ptr[T any](v T) *T { return &v }

func (a *app) pluginByName(name func() string) func() (*pluginmgr.Plugin, bool) {
	return func() (*pluginmgr.Plugin, bool) {
		n := name()
		if n == "" {
			return nil, false
		}
		return a.d.plugins.Get(n)
	}
}

func (a *app) buildHooks(cfg *config.Config) http.Handler {
	return hooks.New(hooks.Options{
		Secret:           cfg.Stripe.HookSecret,
		Plugin:           a.pluginByName(func() string { return a.d.cfg.Load().Hooks.Plugin }),
		Store:            a.d.store,
		Deadline:         cfg.Hooks.Deadline.Duration,
		OnFailure:        cfg.Hooks.OnFailure,
		MaxQuantity:      cfg.Hooks.MaxQuantity,
		AllowedCountries: cfg.Hooks.AllowedCountries,
		MaxOrderAmount:   cfg.Hooks.MaxOrderAmount,
		Metrics:          a.d.metrics,
		Pending:          &a.d.bg,
		Logger:           a.d.log.With("component", "hooks"),
	})
}

func (a *app) buildOrders(cfg *config.Config) *orders.Service {
	refund := true
	if cfg.Fulfillment.RefundRejected != nil {
		refund = *cfg.Fulfillment.RefundRejected
	}
	return orders.New(orders.Options{
		Stripe:         a.d.stripe,
		Store:          a.d.store,
		Plugin:         a.pluginByName(func() string { return a.d.cfg.Load().Fulfillment.Plugin }),
		Capture:        cfg.Fulfillment.Capture,
		CaptureOn:      cfg.Fulfillment.CaptureOn,
		RefundRejected: refund,
		Metrics:        a.d.metrics,
		Logger:         a.d.log.With("component", "orders"),
	})
}

func (a *app) routes(mux *http.ServeMux) {
	mux.Handle("POST /hooks", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*a.hooks.Load()).ServeHTTP(w, r)
	}))
	mux.Handle("POST /webhooks", a.router)
	mux.Handle("GET /orders/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.orders.Load().OrderPage().ServeHTTP(w, r)
	}))
}

func (a *app) jobFunc(j *config.Job) (scheduler.JobFunc, error) {
	switch j.Type {
	case config.JobCatalog, config.JobInventory, config.JobPrice:
		return func(ctx context.Context) (string, error) {
			res, err := a.feeds.Run(ctx, j)
			if err != nil {
				return "", err
			}
			return res.Summary(), nil
		}, nil
	case config.JobReconcile:
		lookback := j.Lookback.Or(24 * time.Hour)
		return func(ctx context.Context) (string, error) {
			return "", a.orders.Load().Reconcile(ctx, lookback)
		}, nil
	case config.JobOrderUpdates:
		return func(ctx context.Context) (string, error) {
			p, ok := a.d.plugins.Get(j.Plugin)
			if !ok {
				return "", fmt.Errorf("plugin %q is not running", j.Plugin)
			}
			return "", a.orders.Load().ApplyOrderUpdates(ctx, p)
		}, nil
	}
	return nil, fmt.Errorf("unknown job type %q", j.Type)
}

// startBackground runs import polling, the order worker and pruning.
func (a *app) startBackground(ctx context.Context) {
	a.mu.Lock()
	a.bgCtx = ctx
	a.mu.Unlock()
	a.orders.Load().Start(ctx)
	a.d.bg.Add(1)
	go func() {
		defer a.d.bg.Done()
		a.pruneLoop(ctx)
	}()
	a.d.bg.Add(1)
	go func() {
		defer a.d.bg.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := a.feeds.PollPending(ctx); err != nil && ctx.Err() == nil {
					a.d.log.Warn("polling imports", "err", err)
				}
			}
		}
	}()
}

// Default retention (config state.retention) and how often history is
// pruned. The first pass waits a minute, out of the way of the start-up
// runs.
const (
	day               = 24 * time.Hour
	defaultKeepHooks  = 30 * day
	defaultKeepRuns   = 30 * day
	defaultKeepErrors = 90 * day
	pruneEvery        = 6 * time.Hour
	firstPruneAfter   = time.Minute
)

// pruneLoop deletes history older than the configured retention, every
// pruneEvery. Every host may run it: the deletes are idempotent.
func (a *app) pruneLoop(ctx context.Context) {
	wait := firstPruneAfter
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = pruneEvery
		r := a.d.cfg.Load().State.Retention
		ret := store.Retention{
			Hooks:        r.Hooks.Or(defaultKeepHooks),
			Runs:         r.Runs.Or(defaultKeepRuns),
			UploadErrors: r.UploadErrors.Or(defaultKeepErrors),
		}
		p, err := a.d.store.Prune(ctx, time.Now(), ret)
		if err != nil && ctx.Err() == nil {
			a.d.log.Warn("pruning history failed; next try in "+pruneEvery.String(), "err", err)
		}
		if p.Total() > 0 {
			a.d.log.Info("pruned history", "hooks", p.Hooks, "runs", p.Runs, "upload_errors", p.UploadErrors,
				"keep_hooks", ret.Hooks, "keep_runs", ret.Runs, "keep_upload_errors", ret.UploadErrors)
		}
	}
}

func (a *app) stopBackground() {
	a.orders.Load().Stop()
}

// reload swaps what depends on hooks and fulfillment settings.
func (a *app) reload(next *config.Config) error {
	a.hooks.Store(ptr(a.buildHooks(next)))
	old := a.orders.Load()
	cur := a.d.cfg.Load()
	if fmt.Sprint(cur.Fulfillment) != fmt.Sprint(next.Fulfillment) {
		svc := a.buildOrders(next)
		svc.RegisterWebhooks(a.router)
		a.mu.Lock()
		ctx := a.bgCtx
		a.mu.Unlock()
		old.Stop()
		a.orders.Store(svc)
		if ctx != nil {
			svc.Start(ctx)
		}
	}
	return nil
}

func (a *app) fillStatus(ctx context.Context, st *web.Status) error {
	ups, err := a.d.store.RecentUploads(ctx, 15)
	if err != nil {
		return err
	}
	for _, u := range ups {
		wu := web.Upload{Job: u.Job, Kind: u.Kind, File: u.FileID, ImportID: u.ImportID, Status: u.Status, API: u.API,
			Sent: u.RowsSent, Processed: u.RowsProcessed, Succeeded: u.RowsSucceeded, Failed: u.RowsFailed,
			Created: u.CreatedAt, FailedReason: u.FailedReason}
		const shown = 10
		rows, err := a.d.store.UploadErrors(ctx, u.ID, shown+1)
		if err != nil {
			return err
		}
		if len(rows) > shown {
			rows, wu.MoreErrors = rows[:shown], true
		}
		for _, r := range rows {
			wu.Errors = append(wu.Errors, web.UploadError{Line: r.Line, ItemID: r.ItemID, Message: r.Message, Source: r.Source})
		}
		st.Uploads = append(st.Uploads, wu)
	}
	ords, err := a.d.store.RecentOrders(ctx, 25)
	if err != nil {
		return err
	}
	for _, o := range ords {
		st.Orders = append(st.Orders, web.Order{SessionID: o.SessionID, State: o.State, BackendRef: o.BackendRef, Reason: o.Reason,
			Currency: o.Currency, AmountTotal: o.AmountTotal, AmountRefunded: o.AmountRefunded, Capture: o.Capture, Refund: o.Refund,
			Received: o.ReceivedAt, Attempts: o.Attempts, MaxAttempts: store.MaxOrderAttempts, LastError: o.LastError})
	}
	return nil
}

// WaitForImports polls until no upload is pending (the `sync` command).
func (d *Daemon) WaitForImports(ctx context.Context, max time.Duration) error {
	deadline := time.Now().Add(max)
	for {
		if err := d.app.feeds.PollPending(ctx); err != nil {
			return err
		}
		pending, err := d.store.PendingUploads(ctx)
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d upload(s) still processing at Stripe after %s; `acs-connector feeds status` shows them", len(pending), max)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ExportFeed builds a job's feed without uploading (the `feed export` command).
func (d *Daemon) ExportFeed(ctx context.Context, job, out, errs string) (feed.Stats, error) {
	j, ok := d.cfg.Load().Jobs[job]
	if !ok {
		return feed.Stats{}, fmt.Errorf("no job %q in %s", job, d.cfg.Load().File)
	}
	return d.app.feeds.Export(ctx, j, out, errs)
}
