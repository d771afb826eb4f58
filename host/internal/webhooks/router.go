// Package webhooks serves POST /webhooks: Stripe's event deliveries. It
// reads the raw body (size-capped), verifies the Stripe-Signature with the
// webhook endpoint's signing secret through stripe-go's webhook package, and
// dispatches by event type to registered handlers.
//
// Answers, chosen so Stripe retries exactly what can succeed later:
//
//	400 + JSON error  missing/malformed/invalid signature, stale timestamp,
//	                  body that is not an event (Stripe's retries cannot fix these)
//	200               handled, or a type nobody registered (acknowledged so
//	                  Stripe stops retrying; logged at debug)
//	500 + JSON error  a handler failed (Stripe retries with backoff)
//
// Both v1 snapshot events (object "event", any api_version: verified with
// webhook.ConstructEventWithOptions and IgnoreAPIVersionMismatch, since
// stripe-go v82 is pinned to basil and accounts send newer versions) and v2
// thin events (object "v2.core.event", verified with webhook.ValidatePayload)
// are accepted.
package webhooks

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

	"github.com/stripe/stripe-go/v82/webhook"
)

// DefaultMaxBody caps a delivery's body. Stripe's events are far smaller; a
// bigger body is refused before any parsing.
const DefaultMaxBody = 4 << 20

// DefaultHandlerTimeout bounds one handler call.
const DefaultHandlerTimeout = 25 * time.Second

// Event is a verified delivery.
type Event struct {
	ID         string
	Type       string
	APIVersion string // "" for v2 thin events
	Livemode   bool
	// Created is unix seconds (v2 events carry RFC 3339; it is converted).
	Created int64
	// Object is data.object of a v1 event; nil for thin events.
	Object json.RawMessage
	// RelatedObject is set on v2 thin events that name one.
	RelatedObject *RelatedObject
	// Thin is true for v2 thin events.
	Thin bool
	// Raw is the body as received.
	Raw []byte
}

// RelatedObject is the object a v2 thin event is about.
type RelatedObject struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Handler processes one event. Returning an error answers 500, and Stripe
// delivers the event again later, so handlers must be idempotent (Stripe
// also delivers some events more than once on its own).
type Handler func(ctx context.Context, ev Event) error

// Options configure a Router.
type Options struct {
	// Secret is the webhook endpoint's signing secret (whsec_...). It is
	// not the hook secret of the Agentic Commerce extension.
	Secret string
	// Tolerance is the maximum age of a signature (default 300s).
	Tolerance time.Duration
	// MaxBody caps the body (default DefaultMaxBody).
	MaxBody int64
	// HandlerTimeout bounds one handler call (default
	// DefaultHandlerTimeout). Handlers run detached from the request, so a
	// client that hangs up does not abort a half-done handler.
	HandlerTimeout time.Duration
	Logger         *slog.Logger
}

// Router verifies deliveries and dispatches them by type.
type Router struct {
	opt      Options
	log      *slog.Logger
	mu       sync.RWMutex
	handlers map[string]Handler
}

// NewRouter returns a router with no handlers.
func NewRouter(opt Options) *Router {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Tolerance <= 0 {
		opt.Tolerance = webhook.DefaultTolerance
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = DefaultMaxBody
	}
	if opt.HandlerTimeout <= 0 {
		opt.HandlerTimeout = DefaultHandlerTimeout
	}
	return &Router{opt: opt, log: opt.Logger, handlers: map[string]Handler{}}
}

// Handle registers h for events of type typ (exact match, e.g.
// "checkout.session.completed" or "v2.commerce.product_catalog.imports.succeeded").
// Registering a type again replaces its handler. Safe to call while serving.
func (r *Router) Handle(typ string, h Handler) {
	if typ == "" || h == nil {
		panic("webhooks: Handle needs a type and a handler")
	}
	r.mu.Lock()
	r.handlers[typ] = h
	r.mu.Unlock()
}

// Types lists the registered event types (for the Stripe endpoint setup
// and the status page).
func (r *Router) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.handlers))
	for t := range r.handlers {
		out = append(out, t)
	}
	return out
}

func (r *Router) handler(typ string) Handler {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.handlers[typ]
}

// envelope is what routing needs before the full parse.
type envelope struct {
	ID            string          `json:"id"`
	Object        string          `json:"object"`
	Type          string          `json:"type"`
	Livemode      bool            `json:"livemode"`
	Created       json.RawMessage `json:"created"`
	RelatedObject *RelatedObject  `json:"related_object"`
}

func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "", "", "webhooks are delivered with POST")
		return
	}
	if r.opt.Secret == "" {
		r.log.Error("webhook refused: no webhook signing secret configured")
		writeError(w, http.StatusInternalServerError, "not_configured", "", "", "the webhook signing secret is not configured")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.opt.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "", "", fmt.Sprintf("body exceeds %d bytes", r.opt.MaxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "unreadable_body", "", "", "could not read the body: "+err.Error())
		return
	}
	sig := req.Header.Get("Stripe-Signature")
	if problem, field := checkSignature(body, sig, r.opt.Secret, r.opt.Tolerance); problem != "" {
		r.log.Warn("webhook refused: bad signature", "problem", problem, "remote", req.RemoteAddr)
		writeError(w, http.StatusBadRequest, "invalid_signature", "", field, problem)
		return
	}

	// Verified: from here on the body is Stripe's.
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_json", "", "", "body is not a JSON event: "+err.Error())
		return
	}
	if env.ID == "" {
		writeError(w, http.StatusBadRequest, "invalid_event", "", "id", "event has no id")
		return
	}
	if env.Type == "" {
		writeError(w, http.StatusBadRequest, "invalid_event", env.ID, "type", "event has no type")
		return
	}

	var ev Event
	switch env.Object {
	case "v2.core.event":
		ev = Event{ID: env.ID, Type: env.Type, Livemode: env.Livemode, RelatedObject: env.RelatedObject, Thin: true, Raw: body}
		var ts string
		if json.Unmarshal(env.Created, &ts) == nil {
			if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				ev.Created = t.Unix()
			}
		}
	case "event", "":
		se, err := webhook.ConstructEventWithOptions(body, sig, r.opt.Secret, webhook.ConstructEventOptions{
			Tolerance: r.opt.Tolerance, IgnoreAPIVersionMismatch: true,
		})
		if err != nil {
			if problem, field := signatureProblem(err); problem != "" {
				writeError(w, http.StatusBadRequest, "invalid_signature", env.ID, field, problem)
				return
			}
			writeError(w, http.StatusBadRequest, "invalid_event", env.ID, "", "body is not a Stripe event: "+err.Error())
			return
		}
		ev = Event{ID: se.ID, Type: string(se.Type), APIVersion: se.APIVersion, Livemode: se.Livemode, Created: se.Created, Raw: body}
		if se.Data != nil {
			ev.Object = se.Data.Raw
		}
	default:
		writeError(w, http.StatusBadRequest, "invalid_event", env.ID, "object", fmt.Sprintf("object %q is neither \"event\" nor \"v2.core.event\"", env.Object))
		return
	}

	h := r.handler(ev.Type)
	if h == nil {
		r.log.Debug("webhook event acknowledged without a handler", "event", ev.ID, "type", ev.Type)
		writeJSON(w, http.StatusOK, map[string]any{"received": true, "handled": false})
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), r.opt.HandlerTimeout)
	defer cancel()
	start := time.Now()
	if err := callHandler(ctx, h, ev); err != nil {
		r.log.Error("webhook handler failed; Stripe will retry", "event", ev.ID, "type", ev.Type, "err", err, "elapsed", time.Since(start))
		writeError(w, http.StatusInternalServerError, "handler_failed", ev.ID, "", "the event could not be processed now; retry later")
		return
	}
	r.log.Debug("webhook event handled", "event", ev.ID, "type", ev.Type, "elapsed", time.Since(start))
	writeJSON(w, http.StatusOK, map[string]any{"received": true, "handled": true})
}

// callHandler turns a handler panic into an error (500, Stripe retries)
// instead of taking the server down.
func callHandler(ctx context.Context, h Handler, ev Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return h(ctx, ev)
}

// checkSignature verifies sig over body and describes the problem ("" when
// valid) and the field at fault.
func checkSignature(body []byte, sig, secret string, tolerance time.Duration) (problem, field string) {
	if sig != "" && !hasTimestamp(sig) {
		return "Stripe-Signature header has no t= timestamp", "Stripe-Signature"
	}
	return signatureProblem(webhook.ValidatePayloadWithTolerance(body, sig, secret, tolerance))
}

// CheckSignature is checkSignature for the hooks package, which verifies the
// same scheme with another secret.
func CheckSignature(body []byte, sig, secret string, tolerance time.Duration) (problem, field string) {
	if secret == "" {
		return "no signing secret configured", ""
	}
	return checkSignature(body, sig, secret, tolerance)
}

func hasTimestamp(sig string) bool {
	for _, part := range strings.Split(sig, ",") {
		if strings.HasPrefix(strings.TrimSpace(part), "t=") {
			return true
		}
	}
	return false
}

func signatureProblem(err error) (problem, field string) {
	switch {
	case err == nil:
		return "", ""
	case errors.Is(err, webhook.ErrNotSigned):
		return "missing Stripe-Signature header", "Stripe-Signature"
	case errors.Is(err, webhook.ErrInvalidHeader):
		return "malformed Stripe-Signature header (want t=<unix>,v1=<hex>)", "Stripe-Signature"
	case errors.Is(err, webhook.ErrTooOld):
		return "Stripe-Signature timestamp is outside the tolerance (stale or replayed delivery)", "Stripe-Signature"
	case errors.Is(err, webhook.ErrNoValidSignature):
		return "no v1 signature in Stripe-Signature matches the body and the signing secret", "Stripe-Signature"
	}
	return "", ""
}

// ErrorBody is the JSON body of every error answer (also used by hooks).
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail names the problem, the request and the field.
type ErrorDetail struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
	Field     string `json:"field,omitempty"`
}

// WriteError writes a JSON error answer.
func WriteError(w http.ResponseWriter, status int, typ, requestID, field, message string) {
	writeError(w, status, typ, requestID, field, message)
}

func writeError(w http.ResponseWriter, status int, typ, requestID, field, message string) {
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Type: typ, Message: message, RequestID: requestID, Field: field}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"type":"internal","message":"cannot encode answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
