// Package hooks serves POST /hooks: Stripe's synchronous Agentic Commerce
// hooks, v1.delegated_checkout.finalize_checkout (order approval) and
// v1.delegated_checkout.customize_checkout (shipping options and tax rates).
//
// Every request is verified first (Stripe-Signature, HMAC-SHA256 of
// "t.body" with the hook secret of the Agentic Commerce extension, 300 s
// tolerance, any of several v1 signatures during a secret rotation) through
// stripe-go's webhook.ValidatePayload. Hooks are not Events (no
// api_version), so ConstructEvent is not used. Nothing unverified reaches
// the plugin or the store; bad requests get a 400 with a JSON body naming
// the problem, the hook id when known, and the field.
//
// Stripe declines a checkout whose approval hook has not answered within
// 4 s, so each request runs under a deadline (default 3 s) and is answered
// before it by the configured policy when the plugin is slow or down.
//
// Answers are idempotent per hook id: the first answer is stored
// (store.BeginHook / FinishHook) and a retry gets it back without asking the
// plugin again; a retry that arrives while the first request is still being
// answered waits for that answer, bounded by its own deadline.
package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/metrics"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/webhooks"
)

// Hook types.
const (
	TypeFinalize  = "v1.delegated_checkout.finalize_checkout"
	TypeCustomize = "v1.delegated_checkout.customize_checkout"
)

// Defaults.
const (
	DefaultDeadline = 3 * time.Second
	// DefaultMaxBody caps a hook body.
	DefaultMaxBody = 1 << 20
	// ShippingOptionMetadataKey carries the backend's shipping option id in
	// shipping_rate_data.metadata; it comes back on the completed session's
	// shipping_cost.shipping_rate.metadata.
	ShippingOptionMetadataKey = "acs_shipping_option_id"
	// UnavailableReason is the decline reason when availability cannot be
	// checked in time.
	UnavailableReason = "We couldn't confirm availability right now. Please try again in a moment."
)

// Options configure the hook handler.
type Options struct {
	// Secret is the Agentic Commerce extension's signing secret (not the
	// webhook endpoint's).
	Secret string
	// Plugin returns the backend that answers availability and
	// customization; ok=false when none is running.
	Plugin func() (*pluginmgr.Plugin, bool)
	// Store keeps the answers for idempotency. nil answers without it (a
	// retry asks the plugin again).
	Store store.Store
	// Deadline is the budget for one answer (default 3s; Stripe gives up at
	// 4s).
	Deadline time.Duration
	// OnFailure is the approval answer when the plugin is slow or down:
	// "decline" (default) or "approve".
	OnFailure string
	// MaxQuantity caps the quantity of any one line (0 = no cap).
	MaxQuantity int64
	// AllowedCountries restricts shipping destinations (ISO 3166-1
	// alpha-2; empty = anywhere).
	AllowedCountries []string
	// MaxOrderAmount caps amount_total in minor units (0 = no cap).
	MaxOrderAmount int64
	// Tolerance is the maximum signature age (default 300s).
	Tolerance time.Duration
	// Pending, when set, tracks answers still being stored after their
	// request returned; wait on it before closing Store. When nil, the
	// handler returns only once the answer is stored, and the next request
	// on that connection waits for it.
	Pending *sync.WaitGroup
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

type handler struct {
	opt              Options
	log              *slog.Logger
	countries        map[string]bool
	approveOnFailure bool

	mu       sync.Mutex
	inflight map[string]chan struct{}
}

// New returns the http.Handler for POST /hooks.
func New(opt Options) http.Handler {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Deadline <= 0 {
		opt.Deadline = DefaultDeadline
	}
	if opt.Plugin == nil {
		opt.Plugin = func() (*pluginmgr.Plugin, bool) { return nil, false }
	}
	h := &handler{
		opt:              opt,
		log:              opt.Logger,
		approveOnFailure: strings.EqualFold(strings.TrimSpace(opt.OnFailure), "approve"),
		inflight:         map[string]chan struct{}{},
	}
	if len(opt.AllowedCountries) > 0 {
		h.countries = map[string]bool{}
		for _, c := range opt.AllowedCountries {
			h.countries[strings.ToUpper(strings.TrimSpace(c))] = true
		}
	}
	return h
}

// envelope is the hook request around data.
type envelope struct {
	Type     string `json:"type"`
	ID       string `json:"id"`
	Livemode bool   `json:"livemode"`
	Context  string `json:"context"`
}

// request is a whole hook request of either type. (The envelope's fields
// are repeated rather than embedded so that decoding errors name the JSON
// field, not a Go one.)
type request struct {
	Type     string        `json:"type"`
	ID       string        `json:"id"`
	Livemode bool          `json:"livemode"`
	Context  string        `json:"context"`
	Data     *checkoutData `json:"data"`
}

// rawRequest leaves data undecoded, to explain a request that failed.
type rawRequest struct {
	Type     string          `json:"type"`
	ID       string          `json:"id"`
	Livemode bool            `json:"livemode"`
	Context  string          `json:"context"`
	Data     json.RawMessage `json:"data"`
}

// outcome is what one computation produced.
type outcome struct {
	body     []byte
	decision string // approved | declined | customized | fallback
	reason   string // metric label
}

func metricType(t string) string {
	switch t {
	case TypeFinalize:
		return "finalize_checkout"
	case TypeCustomize:
		return "customize_checkout"
	}
	return "unknown"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// The budget starts when the request arrives. The work is detached from
	// the client's connection: a finished answer is stored even if Stripe
	// hung up, so its retry gets the same answer.
	ctx, cancel := context.WithDeadline(context.WithoutCancel(r.Context()), start.Add(h.opt.Deadline))
	defer cancel()

	typ := "unknown"
	code := http.StatusOK
	var answered time.Duration // when the answer was sent
	defer func() {
		if answered == 0 {
			answered = time.Since(start)
		}
		h.opt.Metrics.Inc(metrics.HookRequestsC, metricType(typ), fmt.Sprint(code))
		h.opt.Metrics.Observe(metrics.HookLatencyH, answered.Seconds(), metricType(typ))
	}()
	fail := func(status int, kind, id, field, msg string) {
		code = status
		webhooks.WriteError(w, status, kind, id, field, msg)
	}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, "method_not_allowed", "", "", "hooks are delivered with POST")
		return
	}
	if h.opt.Secret == "" {
		h.log.Error("hook refused: no hook signing secret configured")
		fail(http.StatusInternalServerError, "not_configured", "", "", "the hook signing secret is not configured")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, DefaultMaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(http.StatusRequestEntityTooLarge, "body_too_large", "", "", fmt.Sprintf("body exceeds %d bytes", DefaultMaxBody))
			return
		}
		fail(http.StatusBadRequest, "unreadable_body", "", "", "could not read the body: "+err.Error())
		return
	}
	tol := h.opt.Tolerance
	if tol <= 0 {
		tol = 300 * time.Second
	}
	if problem, field := webhooks.CheckSignature(body, r.Header.Get("Stripe-Signature"), h.opt.Secret, tol); problem != "" {
		h.log.Warn("hook refused: bad signature", "problem", problem, "remote", r.RemoteAddr)
		fail(http.StatusBadRequest, "invalid_signature", "", field, problem)
		return
	}

	// Verified. One pass decodes the request whatever its type (both
	// types' data share one struct); only a request that fails it is
	// parsed again, step by step, to say exactly what is wrong.
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		h.explain(fail, body, err)
		return
	}
	env := envelope{Type: req.Type, ID: req.ID, Livemode: req.Livemode, Context: req.Context}
	if !h.checkEnvelope(fail, env, req.Data == nil) {
		return
	}
	typ = env.Type
	d := req.Data
	var compute func(context.Context) outcome
	var fallback func() outcome
	switch env.Type {
	case TypeFinalize:
		compute = func(ctx context.Context) outcome { return h.finalize(ctx, env, d) }
		fallback = func() outcome { return h.failurePolicy("fallback_wait") }
	case TypeCustomize:
		compute = func(ctx context.Context) outcome { return h.customize(ctx, env, d) }
		fallback = func() outcome { return outcome{body: []byte("{}"), decision: "fallback", reason: "fallback_wait"} }
	}

	ans, replayed, conflict, store := h.answerOnce(ctx, env.ID, env.Type, compute, fallback)
	// The answer is stored after it is sent (flushed), so storing never
	// eats into Stripe's budget; retries meanwhile wait for it (on this
	// host through the in-flight map, elsewhere through the lease).
	if p := h.opt.Pending; p != nil {
		p.Add(1)
		defer func() {
			go func() {
				defer p.Done()
				store()
			}()
		}()
	} else {
		defer store()
	}
	if conflict != "" {
		fail(http.StatusBadRequest, "id_reused", env.ID, "id", conflict)
		return
	}
	if !replayed && env.Type == TypeFinalize {
		h.opt.Metrics.Inc(metrics.HookDecisionsC, ans.decision, ans.reason)
	}
	// Approvals are the common case and counted in metrics; a line each at
	// info cost about 6% of a hook's CPU (redaction included). Declines and
	// policy fallbacks are what an operator looks for, so they stay at info.
	level := slog.LevelInfo
	if ans.decision == "approved" || env.Type == TypeCustomize && ans.decision != "fallback" {
		level = slog.LevelDebug
	}
	h.log.Log(ctx, level, "hook answered", "type", env.Type, "id", env.ID, "decision", ans.decision, "reason", ans.reason,
		"replayed", replayed, "elapsed", time.Since(start))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(ans.body)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	answered = time.Since(start)
}

type failFunc func(status int, kind, id, field, msg string)

// checkEnvelope answers 400 for a request without a known type, an id or
// data; false when it did.
func (h *handler) checkEnvelope(fail failFunc, env envelope, noData bool) bool {
	switch env.Type {
	case TypeFinalize, TypeCustomize:
	case "":
		fail(http.StatusBadRequest, "invalid_request", env.ID, "type", "hook request has no type")
		return false
	default:
		fail(http.StatusBadRequest, "unknown_type", env.ID, "type",
			fmt.Sprintf("unknown hook type %q (want %s or %s)", env.Type, TypeFinalize, TypeCustomize))
		return false
	}
	if env.ID == "" {
		fail(http.StatusBadRequest, "invalid_request", "", "id", "hook request has no id")
		return false
	}
	if noData {
		fail(http.StatusBadRequest, "invalid_request", env.ID, "data", "hook request has no data")
		return false
	}
	return true
}

// explain answers 400 for a body the one-pass decode refused (err): not
// JSON, a bad envelope, or data of the wrong shape for its hook type.
func (h *handler) explain(fail failFunc, body []byte, err error) {
	var raw rawRequest
	if e := json.Unmarshal(body, &raw); e != nil {
		fail(http.StatusBadRequest, "invalid_json", "", jsonField(e), "body is not a JSON hook request: "+e.Error())
		return
	}
	env := envelope{Type: raw.Type, ID: raw.ID, Livemode: raw.Livemode, Context: raw.Context}
	if !h.checkEnvelope(fail, env, len(raw.Data) == 0 || string(raw.Data) == "null") {
		return
	}
	var d checkoutData
	if e := json.Unmarshal(raw.Data, &d); e != nil {
		fail(http.StatusBadRequest, "invalid_request", raw.ID, "data"+dotted(jsonField(e)), metricType(raw.Type)+" data: "+e.Error())
		return
	}
	fail(http.StatusBadRequest, "invalid_request", raw.ID, jsonField(err), "hook request: "+err.Error())
}

// answerOnce returns the stored answer to hook id, or computes it. replayed
// is true when the answer came from an earlier delivery. store must be
// called once the answer is sent: it records a computed answer and then
// releases retries waiting on this host.
func (h *handler) answerOnce(ctx context.Context, id, kind string, compute func(context.Context) outcome, fallback func() outcome) (ans outcome, replayed bool, conflict string, store func()) {
	noop := func() {}
	if h.opt.Store == nil {
		return compute(ctx), false, "", noop
	}
	// In-process single flight: concurrent retries on this host wait on a
	// channel instead of polling the database.
	var release func()
	for {
		h.mu.Lock()
		ch, busy := h.inflight[id]
		if !busy {
			ch = make(chan struct{})
			h.inflight[id] = ch
			h.mu.Unlock()
			release = func() {
				h.mu.Lock()
				delete(h.inflight, id)
				h.mu.Unlock()
				close(ch)
			}
			break
		}
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			h.log.Warn("hook retry gave up waiting for the first answer", "id", id, "type", kind)
			return fallback(), false, "", noop
		}
	}
	// The lease lets a retry take over from an owner that died (another
	// host, or this one before a restart) once it could no longer answer.
	lease := h.opt.Deadline + time.Second
	for {
		rec, started, err := h.opt.Store.BeginHook(ctx, id, kind, lease)
		if err != nil {
			if ctx.Err() != nil {
				return fallback(), false, "", release
			}
			// The store is down: answer anyway, correctly but without
			// idempotency, rather than let Stripe time out.
			h.log.Error("hook store unavailable; answering without idempotency", "id", id, "err", err)
			return compute(ctx), false, "", release
		}
		if started {
			ans := compute(ctx)
			return ans, false, "", func() {
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				if err := h.opt.Store.FinishHook(fctx, id, ans.body); err != nil {
					h.log.Error("hook answer not stored; a retry will be answered afresh", "id", id, "err", err)
				}
				cancel()
				release()
			}
		}
		if rec.Kind != "" && rec.Kind != kind {
			return outcome{}, false, fmt.Sprintf("hook id %s was already used for %s", id, rec.Kind), release
		}
		if rec.Response != nil {
			return outcome{body: rec.Response, decision: "replayed", reason: "replay"}, true, "", release
		}
		// Being answered elsewhere: poll until it is, or our own deadline.
		t := time.NewTimer(25 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			h.log.Warn("hook retry gave up waiting for the first answer", "id", id, "type", kind)
			return fallback(), false, "", release
		}
	}
}

// pluginBudget is the context plugin calls run under: the request deadline
// minus a margin for storing and writing the answer.
func (h *handler) pluginBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, _ := ctx.Deadline()
	margin := h.opt.Deadline / 10
	if margin > 300*time.Millisecond {
		margin = 300 * time.Millisecond
	}
	return context.WithDeadline(ctx, dl.Add(-margin))
}

// callPlugin runs call in its own goroutine so the answer never waits past
// the budget, whatever the plugin does.
func callPlugin[T any](ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	type res struct {
		v   T
		err error
	}
	ch := make(chan res, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				var zero T
				ch <- res{zero, fmt.Errorf("plugin call panicked: %v", p)}
			}
		}()
		v, err := call(ctx)
		ch <- res{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

func jsonField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	return ""
}

func dotted(f string) string {
	if f == "" {
		return ""
	}
	return "." + f
}
