package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"
)

type eventRec struct {
	id      string
	typ     string
	created int64
	obj     map[string]any
}

// eventOut is an event waiting to be delivered.
type eventOut struct {
	id, typ string
	payload []byte
	target  webhookTarget
}

// DeliveryInfo describes the webhook delivery of one event.
type DeliveryInfo struct {
	EventID    string
	Type       string
	Attempts   int
	Delivered  bool
	LastStatus int // HTTP status of the last attempt; 0 if it failed to connect
	LastError  string
}

type deliveryRec struct {
	DeliveryInfo
}

// v1EventLocked records a v1 snapshot event. request may be nil. e.mu must be
// held.
func (e *Emulator) v1EventLocked(typ string, object map[string]any, request map[string]any) *eventOut {
	if request == nil {
		request = map[string]any{"id": nil, "idempotency_key": nil}
	}
	ev := &eventRec{id: randID("evt_1", 23), typ: typ, created: e.now().Unix()}
	ev.obj = map[string]any{
		"id":               ev.id,
		"object":           "event",
		"api_version":      e.opt.EventAPIVersion,
		"created":          ev.created,
		"data":             map[string]any{"object": object},
		"livemode":         false,
		"pending_webhooks": int64(0),
		"request":          request,
		"type":             typ,
	}
	if e.webhook.url != "" {
		ev.obj["pending_webhooks"] = int64(1)
	}
	e.events = append(e.events, ev)
	e.eventByID[ev.id] = ev
	b, _ := json.MarshalIndent(ev.obj, "", "  ")
	return &eventOut{id: ev.id, typ: typ, payload: b, target: e.webhook}
}

// thinEventLocked records a v2 thin event about a v2 import. e.mu must be
// held.
func (e *Emulator) thinEventLocked(typ string, j *importJob) *eventOut {
	id := randID("evt_test_65", 40)
	obj := map[string]any{
		"id":       id,
		"object":   "v2.core.event",
		"type":     typ,
		"livemode": false,
		"created":  rfc3339ms(e.now()),
		"related_object": map[string]any{
			"id":   j.id,
			"type": "v2.commerce.product_catalog_import",
			"url":  "/v2/commerce/product_catalog/imports/" + j.id,
		},
		"reason":  nil,
		"context": nil,
	}
	b, _ := json.MarshalIndent(obj, "", "  ")
	e.thinByID[id] = b
	e.thinOrder = append(e.thinOrder, id)
	return &eventOut{id: id, typ: typ, payload: b, target: e.webhook}
}

// deliver POSTs a signed event to the webhook in the background, retrying
// non-2xx answers with backoff.
func (e *Emulator) deliver(ev *eventOut) {
	if ev == nil || ev.target.url == "" {
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	rec := &deliveryRec{DeliveryInfo{EventID: ev.id, Type: ev.typ}}
	e.deliveries = append(e.deliveries, rec)
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		for attempt := 1; attempt <= e.opt.WebhookAttempts; attempt++ {
			if attempt > 1 {
				t := time.NewTimer(e.opt.WebhookBackoff(attempt - 1))
				select {
				case <-e.ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			select {
			case e.sending <- struct{}{}:
			case <-e.ctx.Done():
				return
			}
			status, err := e.post(ev)
			<-e.sending
			e.mu.Lock()
			rec.Attempts = attempt
			rec.LastStatus = status
			rec.LastError = ""
			if err != nil {
				rec.LastError = err.Error()
			}
			ok := err == nil && status >= 200 && status < 300
			rec.Delivered = ok
			e.mu.Unlock()
			if ok {
				return
			}
			if e.ctx.Err() != nil {
				return
			}
			e.log.Warn("stripe emulator: webhook delivery failed", "event", ev.id, "type", ev.typ,
				"attempt", attempt, "status", status, "err", err)
		}
	}()
}

func (e *Emulator) post(ev *eventOut) (int, error) {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: ev.payload, Secret: ev.target.secret, Timestamp: time.Now(),
	})
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, ev.target.url, bytes.NewReader(ev.payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", signed.Header)
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	res, err := e.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = bytes.NewBuffer(nil).ReadFrom(res.Body)
	return res.StatusCode, nil
}

// Deliveries reports webhook deliveries in the order events were created.
func (e *Emulator) Deliveries() []DeliveryInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]DeliveryInfo, len(e.deliveries))
	for i, d := range e.deliveries {
		out[i] = d.DeliveryInfo
	}
	return out
}

// Events returns every v1 event payload and v2 thin event created so far
// (v1 first, each in creation order).
func (e *Emulator) Events() []json.RawMessage {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []json.RawMessage
	for _, ev := range e.events {
		b, _ := json.Marshal(ev.obj)
		out = append(out, b)
	}
	for _, id := range e.thinOrder {
		out = append(out, append(json.RawMessage(nil), e.thinByID[id]...))
	}
	return out
}

func (e *Emulator) getEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e.mu.Lock()
	ev, ok := e.eventByID[id]
	var obj map[string]any
	if ok {
		obj = copyObj(ev.obj)
	}
	e.mu.Unlock()
	if !ok {
		writeErr(w, noSuch(404, "event", id, "id"))
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

func (e *Emulator) listEvents(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	if a := checkParams(c.form, "created", "delivery_success", "ending_before", "expand", "limit", "starting_after", "type", "types"); a != nil {
		writeErr(w, a)
		return
	}
	rf, a := formRange(c.form, "created")
	if a != nil {
		writeErr(w, a)
		return
	}
	typ, _ := formGet(c.form, "type")
	types := formList(c.form, "types")
	e.mu.Lock()
	var items []map[string]any
	for i := len(e.events) - 1; i >= 0; i-- {
		ev := e.events[i]
		if typ != "" && !matchType(typ, ev.typ) {
			continue
		}
		if len(types) > 0 && !contains(types, ev.typ) {
			continue
		}
		if !rf.match(ev.created) {
			continue
		}
		items = append(items, copyObj(ev.obj))
	}
	e.mu.Unlock()
	page, a := paginate(c.form, items, "event", "/v1/events")
	if a != nil {
		writeErr(w, a)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// matchType matches Stripe's type filter, which allows a trailing "*".
func matchType(pattern, typ string) bool {
	if n := len(pattern); n > 0 && pattern[n-1] == '*' {
		return len(typ) >= n-1 && typ[:n-1] == pattern[:n-1]
	}
	return pattern == typ
}

func (e *Emulator) getThinEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e.mu.Lock()
	b, ok := e.thinByID[id]
	e.mu.Unlock()
	if !ok {
		writeV2Err(w, 404, "resource_missing", "No such event: '%s'", id)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
