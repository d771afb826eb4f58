package webhooks

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"
)

const secret = "whsec_test_router"

func sign(body []byte, sec string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: sec, Timestamp: at}).Header
}

func post(t *testing.T, h http.Handler, body []byte, sig string) (int, ErrorBody, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(body))
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var eb ErrorBody
	_ = json.Unmarshal(rec.Body.Bytes(), &eb)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	return rec.Code, eb, rec.Body.String()
}

func fixtureEvent(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("/work/shared/testdata/stripe/event.checkout.session.completed.json")
	if err != nil {
		t.Skipf("fixture: %v", err)
	}
	// A newer release train than stripe-go v82's basil, as accounts send.
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["api_version"] = "2025-10-29.clover"
	out, _ := json.Marshal(m)
	return out
}

func TestDispatchV1EventOfAnyAPIVersion(t *testing.T) {
	r := NewRouter(Options{Secret: secret})
	var got Event
	r.Handle("checkout.session.completed", func(ctx context.Context, ev Event) error { got = ev; return nil })
	body := fixtureEvent(t)
	code, _, raw := post(t, r, body, sign(body, secret, time.Now()))
	if code != 200 || !strings.Contains(raw, `"handled":true`) {
		t.Fatalf("got %d %s", code, raw)
	}
	if got.Type != "checkout.session.completed" || got.APIVersion != "2025-10-29.clover" || got.ID == "" {
		t.Fatalf("event %+v", got)
	}
	var obj struct{ ID, Object string }
	if err := json.Unmarshal(got.Object, &obj); err != nil || obj.Object != "checkout.session" || !strings.HasPrefix(obj.ID, "cs_") {
		t.Fatalf("data.object %s (%v)", got.Object, err)
	}
	if !bytes.Equal(got.Raw, body) {
		t.Error("Raw is not the body")
	}
}

func TestV2ThinEvent(t *testing.T) {
	r := NewRouter(Options{Secret: secret})
	var got Event
	r.Handle("v2.commerce.product_catalog.imports.succeeded", func(ctx context.Context, ev Event) error { got = ev; return nil })
	body := []byte(`{"id":"evt_test_65abc","object":"v2.core.event","type":"v2.commerce.product_catalog.imports.succeeded",
		"livemode":false,"created":"2026-05-12T10:00:00.000Z",
		"related_object":{"id":"pcimp_1","type":"v2.commerce.product_catalog_import","url":"/v2/commerce/product_catalog/imports/pcimp_1"}}`)
	code, _, raw := post(t, r, body, sign(body, secret, time.Now()))
	if code != 200 {
		t.Fatalf("%d %s", code, raw)
	}
	if !got.Thin || got.RelatedObject == nil || got.RelatedObject.ID != "pcimp_1" || got.Created != 1778580000 {
		t.Fatalf("thin event %+v %+v", got, got.RelatedObject)
	}
}

func TestUnhandledTypeIsAcknowledged(t *testing.T) {
	r := NewRouter(Options{Secret: secret})
	body := []byte(`{"id":"evt_1","object":"event","api_version":"2024-06-20","type":"charge.refunded","data":{"object":{}}}`)
	code, _, raw := post(t, r, body, sign(body, secret, time.Now()))
	if code != 200 || !strings.Contains(raw, `"handled":false`) {
		t.Fatalf("%d %s", code, raw)
	}
}

func TestHandlerFailureIs500(t *testing.T) {
	r := NewRouter(Options{Secret: secret})
	r.Handle("checkout.session.completed", func(ctx context.Context, ev Event) error { return errors.New("db down") })
	r.Handle("charge.refunded", func(ctx context.Context, ev Event) error { panic("boom") })
	body := fixtureEvent(t)
	code, eb, _ := post(t, r, body, sign(body, secret, time.Now()))
	if code != 500 || eb.Error.Type != "handler_failed" || eb.Error.RequestID == "" {
		t.Fatalf("%d %+v", code, eb)
	}
	if strings.Contains(eb.Error.Message, "db down") {
		t.Error("internal error leaked to the answer")
	}
	body2 := []byte(`{"id":"evt_2","object":"event","api_version":"2025-09-30.clover","type":"charge.refunded","data":{"object":{}}}`)
	if code, _, _ := post(t, r, body2, sign(body2, secret, time.Now())); code != 500 {
		t.Fatalf("panicking handler: %d", code)
	}
}

func TestBadRequestsAre400AndNeverDispatched(t *testing.T) {
	r := NewRouter(Options{Secret: secret})
	var calls atomic.Int32
	r.Handle("checkout.session.completed", func(ctx context.Context, ev Event) error { calls.Add(1); return nil })
	body := fixtureEvent(t)
	good := sign(body, secret, time.Now())
	ts := good[:strings.Index(good, ",")]
	for _, tc := range []struct {
		name, sig string
		body      []byte
		want      string
	}{
		{"unsigned", "", body, "missing Stripe-Signature"},
		{"forged", sign(body, "whsec_other", time.Now()), body, "no v1 signature"},
		{"stale", sign(body, secret, time.Now().Add(-301*time.Second)), body, "tolerance"},
		{"wrong body", good, append(bytes.Clone(body[:len(body)-1]), []byte(`,"x":1}`)...), "no v1 signature"},
		{"garbage header", "t=yesterday,v1=00", body, "malformed"},
		{"nonsense", "nonsense", body, "no t= timestamp"},
		{"no timestamp", "v1=" + hex.EncodeToString([]byte("x")), body, "no t= timestamp"},
		{"v0 only", ts + ",v0=abcdef", body, "no v1 signature"},
		{"bad json", sign([]byte("{not json"), secret, time.Now()), []byte("{not json"), "not a JSON event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, eb, raw := post(t, r, tc.body, tc.sig)
			if code != 400 || !strings.Contains(eb.Error.Message, tc.want) {
				t.Fatalf("got %d %s; want 400 mentioning %q", code, raw, tc.want)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("handler called %d times for bad requests", n)
	}
}

func TestSecretRotationAcceptsAnyV1(t *testing.T) {
	r := NewRouter(Options{Secret: secret})
	r.Handle("checkout.session.completed", func(ctx context.Context, ev Event) error { return nil })
	body := fixtureEvent(t)
	now := time.Now()
	old := sign(body, "whsec_old", now)
	cur := sign(body, secret, now)
	header := old + "," + cur[strings.Index(cur, "v1="):]
	if code, _, raw := post(t, r, body, header); code != 200 {
		t.Fatalf("%d %s", code, raw)
	}
}

func TestBodyCapAndMethod(t *testing.T) {
	r := NewRouter(Options{Secret: secret, MaxBody: 64})
	body := bytes.Repeat([]byte("x"), 100)
	if code, _, _ := post(t, r, body, sign(body, secret, time.Now())); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", code)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/webhooks", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", rec.Code)
	}
	none := NewRouter(Options{})
	if code, _, _ := post(t, none, []byte("{}"), sign([]byte("{}"), "", time.Now())); code != 500 {
		t.Fatalf("no secret configured must refuse everything, got %d", code)
	}
}
