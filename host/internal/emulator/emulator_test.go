package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/form"
	"github.com/stripe/stripe-go/v82/rawrequest"
	"github.com/stripe/stripe-go/v82/webhook"
)

const testKey = "sk_test_emulator123456"

type harness struct {
	emu      *Emulator
	base     string
	backends *stripe.Backends
	sc       *stripe.Client
	raw      rawrequest.Client
}

func newHarness(t *testing.T, opt Options) *harness {
	t.Helper()
	emu := New(opt)
	base, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	backends := stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL:               stripe.String(base),
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return &harness{
		emu: emu, base: base, backends: backends,
		sc:  stripe.NewClient(testKey, stripe.WithBackends(backends)),
		raw: rawrequest.Client{B: backends.API.(stripe.RawRequestBackend), Key: testKey},
	}
}

// stripeErr unwraps a *stripe.Error.
func stripeErr(t *testing.T, err error) *stripe.Error {
	t.Helper()
	var se *stripe.Error
	if !errors.As(err, &se) {
		t.Fatalf("want *stripe.Error, got %T: %v", err, err)
	}
	return se
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// uploadCSV uploads a feed the way the host must: a multipart body whose file
// part is labelled text/csv, sent through the Uploads backend.
func (h *harness) uploadCSV(t *testing.T, name, contentType, body string, idemKey string) (*stripe.File, error) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("purpose", "data_management_manual_upload"); err != nil {
		t.Fatal(err)
	}
	hdr := textproto.MIMEHeader{}
	hdr.Set("Content-Disposition", `form-data; name="file"; filename="`+name+`"`)
	hdr.Set("Content-Type", contentType)
	pw, err := mw.CreatePart(hdr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(pw, body)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	params := &stripe.Params{}
	if idemKey != "" {
		params.IdempotencyKey = stripe.String(idemKey)
	}
	f := &stripe.File{}
	err = h.backends.Uploads.CallMultipart(http.MethodPost, "/v1/files", testKey, mw.Boundary(), &buf, params, f)
	return f, err
}

func previewParams(idemKey string) *stripe.RawParams {
	p := &stripe.RawParams{Params: stripe.Params{Headers: http.Header{"Stripe-Version": {DefaultPreviewVersion}}}}
	if idemKey != "" {
		p.IdempotencyKey = stripe.String(idemKey)
	}
	return p
}

func (h *harness) createImportSet(t *testing.T, fileID, format, idemKey string) map[string]any {
	t.Helper()
	v := &form.Values{}
	v.Add("file", fileID)
	v.Add("standard_data_format", format)
	resp, err := h.raw.RawRequest(http.MethodPost, "/v1/data_management/import_sets", v.Encode(), previewParams(idemKey))
	if err != nil {
		t.Fatalf("create import set: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(resp.RawJSON, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (h *harness) getImportSet(t *testing.T, id string) map[string]any {
	t.Helper()
	resp, err := h.raw.RawRequest(http.MethodGet, "/v1/data_management/import_sets/"+id, "", previewParams(""))
	if err != nil {
		t.Fatalf("get import set: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(resp.RawJSON, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (h *harness) waitImportSet(t *testing.T, id string) map[string]any {
	t.Helper()
	var m map[string]any
	eventually(t, "import set "+id+" to finish", func() bool {
		m = h.getImportSet(t, id)
		switch m["status"] {
		case "succeeded", "succeeded_with_errors", "failed":
			return true
		}
		return false
	})
	return m
}

// hookSink is a webhook endpoint that verifies Stripe-Signature.
type hookSink struct {
	t       *testing.T
	secret  string
	srv     *httptest.Server
	mu      sync.Mutex
	bodies  [][]byte
	headers []string // Stripe-Signature of each stored body
	// failFirst makes the first n deliveries answer 500.
	failFirst int
	calls     int
}

func newHookSink(t *testing.T, secret string) *hookSink {
	s := &hookSink{t: t, secret: secret}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.ValidatePayload(body, r.Header.Get("Stripe-Signature"), s.secret); err != nil {
			t.Errorf("webhook signature: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.calls++
		fail := s.calls <= s.failFirst
		if !fail {
			s.bodies = append(s.bodies, body)
			s.headers = append(s.headers, r.Header.Get("Stripe-Signature"))
		}
		s.mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// wait returns the first delivered event of type typ whose JSON contains
// substr.
func (s *hookSink) wait(typ, substr string) map[string]any {
	s.t.Helper()
	m, _, _ := s.waitRaw(typ, substr)
	return m
}

// waitRaw is wait that also returns the raw body and its Stripe-Signature.
func (s *hookSink) waitRaw(typ, substr string) (found map[string]any, body []byte, sig string) {
	s.t.Helper()
	eventually(s.t, "webhook "+typ, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, b := range s.bodies {
			var m map[string]any
			if json.Unmarshal(b, &m) == nil && m["type"] == typ && strings.Contains(string(b), substr) {
				found, body, sig = m, b, s.headers[i]
				return true
			}
		}
		return false
	})
	return found, body, sig
}

func (s *hookSink) count(typ string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.bodies {
		var m map[string]any
		if json.Unmarshal(b, &m) == nil && m["type"] == typ {
			n++
		}
	}
	return n
}

func TestAuthRequired(t *testing.T) {
	h := newHarness(t, Options{})
	noKey := rawrequest.Client{B: h.backends.API.(stripe.RawRequestBackend), Key: ""}
	_, err := noKey.RawRequest(http.MethodGet, "/v1/checkout/sessions", "", nil)
	se := stripeErr(t, err)
	if se.HTTPStatusCode != 401 || se.Type != stripe.ErrorTypeInvalidRequest || !strings.Contains(se.Msg, "did not provide an API key") {
		t.Fatalf("no key: got %d %s %q", se.HTTPStatusCode, se.Type, se.Msg)
	}
	live := rawrequest.Client{B: h.backends.API.(stripe.RawRequestBackend), Key: "sk_live_abcdefghijklmnop"}
	_, err = live.RawRequest(http.MethodGet, "/v1/checkout/sessions", "", nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 401 || !strings.Contains(se.Msg, "Invalid API Key") || strings.Contains(se.Msg, "abcdefghijklmnop") {
		t.Fatalf("live key: got %d %q", se.HTTPStatusCode, se.Msg)
	}

	// A configured key is the only one accepted; basic auth works like curl -u.
	h2 := newHarness(t, Options{APIKey: "sk_test_configured"})
	_, err = h2.raw.RawRequest(http.MethodGet, "/v1/checkout/sessions", "", nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 401 {
		t.Fatalf("wrong key: got %d", se.HTTPStatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, h2.base+"/v1/checkout/sessions", nil)
	req.SetBasicAuth("sk_test_configured", "")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("basic auth: got %d", res.StatusCode)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	h := newHarness(t, Options{})
	_, err := h.raw.RawRequest(http.MethodGet, "/v1/nope", "", nil)
	se := stripeErr(t, err)
	if se.HTTPStatusCode != 404 || !strings.Contains(se.Msg, "Unrecognized request URL (GET: /v1/nope)") {
		t.Fatalf("got %d %q", se.HTTPStatusCode, se.Msg)
	}
	_, err = h.sc.V1PaymentIntents.Retrieve(t.Context(), "pi_missing", nil)
	se = stripeErr(t, err)
	if se.HTTPStatusCode != 404 || se.Code != stripe.ErrorCodeResourceMissing {
		t.Fatalf("missing pi: got %d %s", se.HTTPStatusCode, se.Code)
	}
}

func TestFilesRejectOctetStreamFromStripeGo(t *testing.T) {
	h := newHarness(t, Options{})
	_, err := h.sc.V1Files.Create(t.Context(), &stripe.FileCreateParams{
		Purpose:    stripe.String("data_management_manual_upload"),
		FileReader: strings.NewReader("id,title\nA,x\n"),
		Filename:   stripe.String("feed.csv"),
	})
	se := stripeErr(t, err)
	if se.HTTPStatusCode != 400 || se.Param != "file" || !strings.Contains(se.Msg, "application/octet-stream") || !strings.Contains(se.Msg, "text/csv") {
		t.Fatalf("got %d param=%q %q", se.HTTPStatusCode, se.Param, se.Msg)
	}
	// Other purposes don't get the feed MIME check.
	f, err := h.sc.V1Files.Create(t.Context(), &stripe.FileCreateParams{
		Purpose:    stripe.String("dispute_evidence"),
		FileReader: strings.NewReader("%PDF-1.4"),
		Filename:   stripe.String("evidence.pdf"),
	})
	if err != nil || f.Type != "pdf" || f.Purpose != "dispute_evidence" {
		t.Fatalf("dispute evidence: %v %+v", err, f)
	}
	_, err = h.sc.V1Files.Create(t.Context(), &stripe.FileCreateParams{
		Purpose: stripe.String("bogus"), FileReader: strings.NewReader("x"), Filename: stripe.String("a.csv"),
	})
	if se := stripeErr(t, err); se.Param != "purpose" {
		t.Fatalf("bogus purpose: %+v", se)
	}
}

func TestFilesUploadRetrieveContents(t *testing.T) {
	h := newHarness(t, Options{})
	const body = "id,title\nSKU-1,Mug\n"
	f, err := h.uploadCSV(t, "catalog.csv", "text/csv", body, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.ID, "file_") || f.Object != "file" || f.Purpose != "data_management_manual_upload" ||
		f.Size != int64(len(body)) || f.Type != "csv" || f.Filename != "catalog.csv" || f.Created == 0 ||
		f.URL != h.base+"/v1/files/"+f.ID+"/contents" {
		t.Fatalf("file object: %+v", f)
	}
	got, err := h.sc.V1Files.Retrieve(t.Context(), f.ID, nil)
	if err != nil || got.ID != f.ID || got.Size != f.Size {
		t.Fatalf("retrieve: %v %+v", err, got)
	}
	up := rawrequest.Client{B: h.backends.Uploads.(stripe.RawRequestBackend), Key: testKey}
	resp, err := up.RawRequest(http.MethodGet, "/v1/files/"+f.ID+"/contents", "", nil)
	if err != nil || string(resp.RawJSON) != body || resp.Header.Get("Content-Type") != "text/csv" {
		t.Fatalf("contents: %v %q %q", err, resp.RawJSON, resp.Header.Get("Content-Type"))
	}

	// TSV must be labelled as TSV; a .csv labelled TSV is refused.
	if _, err := h.uploadCSV(t, "inv.tsv", "text/tab-separated-values", "id\tavailability\n", ""); err != nil {
		t.Fatalf("tsv: %v", err)
	}
	_, err = h.uploadCSV(t, "inv.csv", "text/tab-separated-values", "id\n", "")
	if se := stripeErr(t, err); se.Param != "file" {
		t.Fatalf("mismatch: %+v", se)
	}
}

func TestFileSizeLimit(t *testing.T) {
	h := newHarness(t, Options{MaxFileBytes: 64})
	_, err := h.uploadCSV(t, "big.csv", "text/csv", "id\n"+strings.Repeat("x", 100)+"\n", "")
	se := stripeErr(t, err)
	if se.HTTPStatusCode != 400 || se.Param != "file" || !strings.Contains(se.Msg, "exceeds the maximum") {
		t.Fatalf("got %d %q %q", se.HTTPStatusCode, se.Param, se.Msg)
	}
	// A body far beyond the limit is cut off while reading, same error.
	_, err = h.uploadCSV(t, "huge.csv", "text/csv", strings.Repeat("y", 2<<20), "")
	if se := stripeErr(t, err); se.Param != "file" || !strings.Contains(se.Msg, "exceeds the maximum") {
		t.Fatalf("huge: %+v", se)
	}
}

func TestIdempotentFileUploadAcrossBoundaries(t *testing.T) {
	h := newHarness(t, Options{})
	a, err := h.uploadCSV(t, "c.csv", "text/csv", "id\nA\n", "upload-sha-1")
	if err != nil {
		t.Fatal(err)
	}
	// Same key, same content, a new multipart boundary: Stripe replays.
	b, err := h.uploadCSV(t, "c.csv", "text/csv", "id\nA\n", "upload-sha-1")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || b.LastResponse.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("want replay of %s, got %s (replayed=%q)", a.ID, b.ID, b.LastResponse.Header.Get("Idempotent-Replayed"))
	}
	_, err = h.uploadCSV(t, "c.csv", "text/csv", "id\nB\n", "upload-sha-1")
	if se := stripeErr(t, err); se.Type != stripe.ErrorTypeIdempotency || se.HTTPStatusCode != 400 {
		t.Fatalf("different content, same key: %+v", se)
	}
}

func TestCloseEndsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	emu := New(Options{ProcessingDelay: func(string, int) time.Duration { return time.Hour }})
	base, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := newHookSink(t, "whsec_x")
	sink.failFirst = 1 << 30 // keep the delivery retrying
	emu.SetWebhook(sink.srv.URL, "whsec_x")
	backends := stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: stripe.String(base), MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}})
	h := &harness{emu: emu, base: base, backends: backends, raw: rawrequest.Client{B: backends.API.(stripe.RawRequestBackend), Key: testKey}}
	f, err := h.uploadCSV(t, "a.csv", "text/csv", "id\nA\n", "")
	if err != nil {
		t.Fatal(err)
	}
	h.createImportSet(t, f.ID, "product_catalog_feed", "")
	if _, err := emu.CompleteCheckout(CheckoutInput{Lines: []CheckoutLine{{SKU: "A", Quantity: 1, UnitAmount: 100}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a failed delivery", func() bool {
		d := emu.Deliveries()
		return len(d) == 1 && d[0].Attempts >= 1
	})
	if err := emu.Close(); err != nil {
		t.Fatal(err)
	}
	if err := emu.Close(); err != nil {
		t.Fatal(err)
	}
	sink.srv.Close()
	http.DefaultClient.CloseIdleConnections()
	if tr, ok := http.DefaultTransport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
	eventually(t, "goroutines to end", func() bool {
		// stripe-go's backend keeps idle keep-alive connections of its own.
		return runtime.NumGoroutine() <= before+2
	})
}
