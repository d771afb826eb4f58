package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func render(t *testing.T, st *Status, err error) (int, http.Header, string) {
	t.Helper()
	h := StatusHandler(func(context.Context) (*Status, error) { return st, err }, quiet)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec.Code, rec.Header(), rec.Body.String()
}

var tagRE = regexp.MustCompile(`<[^>]*>`)
var spaceRE = regexp.MustCompile(`\s+`)

// text is the page as a reader sees it: tags dropped, entities decoded,
// white space folded.
func text(html string) string {
	s := tagRE.ReplaceAllString(html, " ")
	s = strings.NewReplacer("&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
	return strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
}

func fixture() *Status {
	now := time.Now()
	return &Status{
		Generated: now, Version: "1.2.3", Mode: "Stripe emulator", Ready: true,
		OrderURL: "https://shop.example.com/orders/{CHECKOUT_SESSION_ID}",
		Plugins: []Plugin{
			{Name: "catalog", Plugin: "csvdir", Version: "0.1.0", Capabilities: "catalog, inventory", Up: true, Pid: 4711},
		},
		Jobs: []Job{
			{Name: "catalog", Type: "catalog", Schedule: "0 3 * * *", Next: now.Add(2 * time.Hour), LastStarted: now.Add(-time.Minute),
				LastFinished: now.Add(-50 * time.Second), LastOutcome: "ok", LastMessage: "product feed: 28 read, 3 invalid"},
			{Name: "inventory", Type: "inventory", Schedule: "*/15 * * * *", Next: now.Add(10 * time.Minute), LastOutcome: "never"},
		},
		Uploads: []Upload{{Job: "catalog", Kind: "product", File: "file_1", ImportID: "impset_1", Status: "succeeded_with_errors",
			Sent: 25, Succeeded: 24, Failed: 1, Created: now,
			Errors: []UploadError{
				{Line: 27, ItemID: "HP-LANTERN", Message: "products.csv:27: image_link: is required", Source: "local"},
				{Line: 4, ItemID: "HP-MUG", Message: "price: bad", Source: "stripe"},
			}}},
		Orders: []Order{
			{SessionID: "cs_test_ok", State: "accepted", BackendRef: "T-1", Currency: "usd", AmountTotal: 1800, Capture: "captured"},
			{SessionID: "cs_test_rej", State: "rejected", Reason: `Sorry, "NOPE" is no longer sold`, Currency: "usd", AmountTotal: 1000,
				AmountRefunded: 1000, Capture: "captured", Refund: "refunded"},
		},
	}
}

func TestStatusPageShowsWhatAMerchantLooksFor(t *testing.T) {
	code, hdr, body := render(t, fixture(), nil)
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("content type %q", ct)
	}
	if !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("the page must forbid scripts: %q", hdr.Get("Content-Security-Policy"))
	}
	if strings.Contains(strings.ToLower(body), "<script") {
		t.Error("the page must not carry scripts")
	}
	txt := text(body)
	for _, want := range []string{
		"Version 1.2.3", "Stripe emulator", "Ready",
		"Nothing needs attention",
		"catalog csvdir 0.1.0 Up (pid 4711)",
		"Succeeded product feed: 28 read, 3 invalid", "Never run", "in 1h59m",
		"Imported with errors", "Rejected rows: 2",
		"27 HP-LANTERN products.csv:27: image_link: is required acs-connector, before upload (not sent)",
		"4 HP-MUG price: bad Stripe's import",
		"Accepted by the backend Backend reference: T-1", "18.00 USD Captured —",
		`Rejected by the backend Reason: Sorry, "NOPE" is no longer sold 10.00 USD Captured Refunded in full: 10.00 USD`,
		"https://shop.example.com/orders/{CHECKOUT_SESSION_ID}",
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("page lacks %q\n%s", want, txt)
		}
	}
}

func TestStatusPageAttention(t *testing.T) {
	st := fixture()
	st.Plugins[0].Up, st.Plugins[0].LastError = false, "exit status 2"
	st.Jobs[0].LastOutcome, st.Jobs[0].LastMessage = "error", "plugin catalog: unavailable"
	st.Uploads[0].Status, st.Uploads[0].FailedReason = "failed", "file is not a CSV"
	st.Orders = append(st.Orders,
		Order{SessionID: "cs_retry", State: "failed", Attempts: 2, MaxAttempts: 10, LastError: "backend down", Currency: "usd"},
		Order{SessionID: "cs_gaveup", State: "failed", Attempts: 10, MaxAttempts: 10, LastError: "backend down", Currency: "usd"},
		Order{SessionID: "cs_refund", State: "rejected", Capture: "captured", Refund: "failed", LastError: "refund: card expired", Currency: "usd"},
		Order{SessionID: "cs_capture", State: "accepted", Capture: "failed", LastError: "capture: expired", Currency: "usd"},
	)
	_, _, body := render(t, st, nil)
	txt := text(body)
	for _, want := range []string{
		"Needs attention (7)",
		"Plugin catalog is down: exit status 2", "see Plugins", "see Recent orders",
		"The last run of job catalog failed: plugin catalog: unavailable",
		"Stripe could not import the product feed of job catalog: file is not a CSV",
		"Order cs_retry could not be passed to the backend yet (it is retried): backend down",
		"Order cs_gaveup could not be passed to the backend after 10 attempts and is no longer retried: backend down",
		"The refund of order cs_refund failed: refund: card expired",
		"The payment of order cs_capture could not be captured: capture: expired",
		"Down", "Import failed", "Attempt 2 of 10", "Refund failed", "Capture failed",
		"Not passed to the backend yet Attempt 2 of 10 Last error: backend down",
		"Not passed to the backend: gave up after 10 attempts Last error: backend down",
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("page lacks %q\n%s", want, txt)
		}
	}
	if strings.Contains(txt, "Nothing needs attention") {
		t.Error("all-clear shown next to problems")
	}
}

func TestStaleErrorIsNotShown(t *testing.T) {
	st := fixture()
	st.Orders[0].LastError = "capture: timeout (retried and captured since)"
	_, _, body := render(t, st, nil)
	if strings.Contains(body, "retried and captured since") {
		t.Error("an error a later success made moot is shown")
	}
}

func TestStatusPageEscapesBackendText(t *testing.T) {
	st := fixture()
	st.Orders[1].Reason = `<script>alert(1)</script>`
	st.Uploads[0].Errors[0].Message = `<img src=x onerror=alert(1)>`
	_, _, body := render(t, st, nil)
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
		t.Error("backend text reached the page unescaped")
	}
}

func TestStatusPageStoreDown(t *testing.T) {
	code, _, body := render(t, nil, errors.New("database is locked"))
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	txt := text(body)
	if !strings.Contains(txt, "Could not read the state store: database is locked") {
		t.Errorf("store failure not shown:\n%s", txt)
	}
	if strings.Contains(txt, "Nothing needs attention") {
		t.Error("all-clear shown while the store is down")
	}
}

func TestMoreErrorsSaysSo(t *testing.T) {
	st := fixture()
	st.Uploads[0].MoreErrors = true
	_, _, body := render(t, st, nil)
	if !strings.Contains(text(body), "Rejected rows: the first 2 (more in the job's error report)") {
		t.Errorf("truncated list not labelled:\n%s", text(body))
	}
}

func TestWords(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Money(1234, "usd"), "12.34 USD"},
		{Money(-5, "eur"), "-0.05 EUR"},
		{Money(500, "jpy"), "500 JPY"},
		{RefundText(Order{AmountTotal: 1000, AmountRefunded: 400, Currency: "usd", Refund: "refunded"}), "Partly refunded: 4.00 USD of 10.00 USD"},
		{RefundText(Order{Refund: "pending"}), "Refund pending"},
		{RefundText(Order{}), "—"},
		{CaptureText("not_required"), "Authorization released, not charged"},
		{ImportText("in_progress"), "Import in progress (in progress)"},
		{OutcomeText("skipped"), "Skipped"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestOnlyRootAndGet(t *testing.T) {
	h := StatusHandler(func(context.Context) (*Status, error) { return fixture(), nil }, quiet)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/nope", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("/nope: %d", rec.Code)
	}
}
