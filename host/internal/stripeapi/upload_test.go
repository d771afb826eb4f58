package stripeapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v82"

	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/feed"
)

const testKey = "sk_test_uploads"

// rejectBadPrice makes the emulator fail rows whose price is "0.00 USD",
// beyond its own checks.
func rejectBadPrice(kind string, header, row []string) []string {
	for i, h := range header {
		if h == "price" && row[i] == "0.00 USD" {
			return []string{"price must be greater than zero"}
		}
	}
	return nil
}

type fixture struct {
	emu *emulator.Emulator
	c   *Client
	srv *httptest.Server
	// fail decides, per request, to answer with a Stripe error instead of
	// passing the request to the emulator.
	mu   sync.Mutex
	fail func(r *http.Request) (status int, ok bool)
	// lose passes the request to the emulator, then answers 503 instead
	// of the emulator's answer (a response lost on the way back).
	lose func(r *http.Request) bool
	seen []http.Header // headers of POSTs, in order
}

func newFixture(t *testing.T, opt emulator.Options) *fixture {
	t.Helper()
	if opt.ProcessingDelay == nil {
		opt.ProcessingDelay = func(string, int) time.Duration { return 20 * time.Millisecond }
	}
	f := &fixture{emu: emulator.New(opt)}
	t.Cleanup(func() { _ = f.emu.Close() })
	h := f.emu.Handler()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		if r.Method == http.MethodPost {
			f.seen = append(f.seen, r.Header.Clone())
		}
		fail, lose := f.fail, f.lose
		f.mu.Unlock()

		if fail != nil {
			if status, ok := fail(r); ok {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = io.WriteString(w, `{"error":{"type":"api_error","message":"injected failure"}}`)
				return
			}
		}
		if lose != nil && lose(r) {
			h.ServeHTTP(httptest.NewRecorder(), r)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"type":"api_error","message":"injected: answer lost"}}`)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	c, err := New(Config{Key: testKey, URL: f.srv.URL, MaxRetries: 0})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

func (f *fixture) uploader(t *testing.T, api string) Uploader {
	t.Helper()
	u, err := NewUploader(f.c, api, UploaderOptions{Backoff: func(int) time.Duration { return 5 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// writePart writes content to a file and describes it.
func writePart(t *testing.T, kind feed.Kind, content, attempt string) FeedFile {
	t.Helper()
	p := filepath.Join(t.TempDir(), "part.csv")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(content))
	return FeedFile{Path: p, Kind: kind, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content)), Attempt: attempt}
}

const products = "id,title,description,link,image_link,brand,mpn,product_category,availability,inventory_quantity,price\n" +
	"A,Mug,A mug,https://x.example/a,https://x.example/a.jpg,B,M-A,Home,in_stock,3,12.00 USD\n" +
	"B,Cup,A cup,https://x.example/b,https://x.example/b.jpg,B,M-B,Home,in_stock,1,0.00 USD\n" +
	"C,Pot,A pot,https://x.example/c,https://x.example/c.jpg,B,M-C,Home,in_stock,2,30.00 USD\n"

func waitFinal(t *testing.T, u Uploader, id string) *Import {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		imp, err := u.Retrieve(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if imp.Final {
			return imp
		}
		if time.Now().After(deadline) {
			t.Fatalf("import %s still %s", id, imp.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readReport(t *testing.T, rc io.ReadCloser) [][]string {
	t.Helper()
	if rc == nil {
		t.Fatal("no error report")
	}
	defer rc.Close()
	recs, err := csv.NewReader(rc).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestNormalizeStatus(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		final    bool
	}{
		{"", "pending", false}, // the ImportSet create response has no status
		{"  ", "pending", false},
		{"pending", "pending", false},
		{"creating_records", "creating_records", false},
		{"queued", "queued", false},
		{"validating_records", "validating_records", false},
		{"pending_archive", "pending_archive", false},
		{"awaiting_upload", "awaiting_upload", false},
		{"processing", "processing", false},
		{"something_new_2027", "something_new_2027", false}, // unknown: still in progress
		{"succeeded", "succeeded", true},
		{"succeeded_with_errors", "succeeded_with_errors", true},
		{"failed", "failed", true},
		{"archived", "archived", true},
	} {
		got, final := NormalizeStatus(tc.in)
		if got != tc.want || final != tc.final {
			t.Errorf("NormalizeStatus(%q) = %q, %v; want %q, %v", tc.in, got, final, tc.want, tc.final)
		}
	}
}

func TestImportSetUploadLifecycle(t *testing.T) {
	f := newFixture(t, emulator.Options{RowChecker: rejectBadPrice})
	u := f.uploader(t, UploadAPIImportSet)
	part := writePart(t, feed.Product, products, "u1")
	ctx := context.Background()

	fileID, err := u.UploadFile(ctx, part)
	if err != nil {
		t.Fatalf("UploadFile: %v", err) // the emulator refuses parts not labelled text/csv
	}
	imp, err := u.StartImport(ctx, part, fileID)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Status != "pending" || imp.Final || imp.Replayed || !strings.HasPrefix(imp.ID, "impset_") {
		t.Fatalf("created import: %+v", imp)
	}
	done := waitFinal(t, u, imp.ID)
	if done.Status != StatusSucceededWithErrors || done.RowsProcessed != 3 || done.RowsSucceeded != 2 || done.RowsFailed != 1 || done.ErrorFile == "" {
		t.Fatalf("finished import: %+v", done)
	}
	rc, err := u.ErrorReport(ctx, done)
	if err != nil {
		t.Fatal(err)
	}
	recs := readReport(t, rc)
	if len(recs) != 2 || recs[0][0] != "stripe_error_message" || recs[1][1] != "B" || !strings.Contains(recs[1][0], "greater than zero") {
		t.Fatalf("error report: %q", recs)
	}
	sets := f.emu.ImportSets()
	if len(sets) != 1 || sets[0].Format != "product_catalog_feed" || sets[0].FileName != "product-"+part.SHA256[:16]+".csv" {
		t.Fatalf("import sets: %+v", sets)
	}
	if cat := f.emu.Catalog(); len(cat) != 2 || cat["A"]["price"] != "12.00 USD" {
		t.Fatalf("catalog: %v", cat)
	}
	// No report for a clean import.
	if rc, err := u.ErrorReport(ctx, &Import{ID: "x", Status: StatusSucceeded}); rc != nil || err != nil {
		t.Fatalf("clean import report: %v %v", rc, err)
	}
}

func TestImportSetSameAttemptNeverCreatesTwo(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	u := f.uploader(t, UploadAPIImportSet)
	ctx := context.Background()
	part := writePart(t, feed.Product, products, "u7")

	// A resumed attempt (crash after the create call went out) sends the
	// same keys: Stripe replays the File and the ImportSet.
	fid1, err := u.UploadFile(ctx, part)
	if err != nil {
		t.Fatal(err)
	}
	imp1, err := u.StartImport(ctx, part, fid1)
	if err != nil {
		t.Fatal(err)
	}
	fid2, err := u.UploadFile(ctx, part)
	if err != nil {
		t.Fatal(err)
	}
	imp2, err := u.StartImport(ctx, part, fid2)
	if err != nil {
		t.Fatal(err)
	}
	if fid1 != fid2 || imp1.ID != imp2.ID || !imp2.Replayed {
		t.Fatalf("same attempt: files %s %s, imports %s %s (replayed %v)", fid1, fid2, imp1.ID, imp2.ID, imp2.Replayed)
	}
	if n := len(f.emu.ImportSets()); n != 1 {
		t.Fatalf("%d import sets for one attempt", n)
	}
	// The same bytes in a later upload (a revert within 24 h) are a new
	// import, not a replay of the first.
	again := part
	again.Attempt = "u9"
	fid3, err := u.UploadFile(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	imp3, err := u.StartImport(ctx, again, fid3)
	if err != nil {
		t.Fatal(err)
	}
	if imp3.ID == imp1.ID || imp3.Replayed || len(f.emu.ImportSets()) != 2 {
		t.Fatalf("new attempt replayed the old import: %+v", imp3)
	}
}

func TestRetriesKeepTheIdempotencyKey(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	u := f.uploader(t, UploadAPIImportSet)
	ctx := context.Background()
	part := writePart(t, feed.Product, products, "u3")
	fid, err := u.UploadFile(ctx, part)
	if err != nil {
		t.Fatal(err)
	}
	// The first two create calls are rate limited (stripe-go does not
	// retry those), the third creates the ImportSet but its answer is lost
	// (503), the fourth gets the replay.
	calls := 0
	isCreate := func(r *http.Request) bool {
		return r.URL.Path == "/v1/data_management/import_sets" && r.Method == http.MethodPost
	}
	f.mu.Lock()
	f.seen = nil
	f.fail = func(r *http.Request) (int, bool) {
		if !isCreate(r) {
			return 0, false
		}
		calls++
		return http.StatusTooManyRequests, calls <= 2
	}
	f.lose = func(r *http.Request) bool { return isCreate(r) && calls == 3 }
	f.mu.Unlock()
	imp, err := u.StartImport(ctx, part, fid)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	seen := f.seen
	f.fail, f.lose = nil, nil
	f.mu.Unlock()
	if len(seen) != 4 || !imp.Replayed {
		t.Fatalf("%d create calls (want 4), replayed %v", len(seen), imp.Replayed)
	}
	for _, h := range seen {
		if got := h.Get("Idempotency-Key"); got != importKey(part) {
			t.Fatalf("retry sent key %q, want %q", got, importKey(part))
		}
		if h.Get("Stripe-Version") != emulator.DefaultPreviewVersion {
			t.Fatalf("Stripe-Version %q", h.Get("Stripe-Version"))
		}
	}
	if sets := f.emu.ImportSets(); len(sets) != 1 || sets[0].ID != imp.ID {
		t.Fatalf("import sets: %+v", sets)
	}

	// Permanent errors are not retried and say so.
	f.mu.Lock()
	f.fail = func(r *http.Request) (int, bool) {
		return http.StatusBadRequest, r.Method == http.MethodPost
	}
	f.seen = nil
	f.mu.Unlock()
	part.Attempt = "u4"
	_, err = u.StartImport(ctx, part, fid)
	if err == nil || !IsPermanentUpload(err) {
		t.Fatalf("400: %v (permanent %v)", err, IsPermanentUpload(err))
	}
	f.mu.Lock()
	n := len(f.seen)
	f.mu.Unlock()
	if n != 1 {
		t.Fatalf("a 400 was sent %d times", n)
	}
	// 429 and 5xx are not permanent.
	if IsPermanentUpload(&stripe.Error{HTTPStatusCode: 429}) || IsPermanentUpload(&stripe.Error{HTTPStatusCode: 502}) ||
		!IsPermanentUpload(&stripe.Error{HTTPStatusCode: 404}) || IsPermanentUpload(context.Canceled) {
		t.Fatal("IsPermanentUpload misclassifies")
	}
}

func TestRetryGivesUpWithContext(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	u, err := NewUploader(f.c, UploadAPIImportSet, UploaderOptions{Backoff: func(int) time.Duration { return time.Hour }})
	if err != nil {
		t.Fatal(err)
	}
	f.fail = func(r *http.Request) (int, bool) { return http.StatusServiceUnavailable, true }
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = u.Retrieve(ctx, "impset_x")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

func TestV2UploadLifecycle(t *testing.T) {
	f := newFixture(t, emulator.Options{RowChecker: rejectBadPrice})
	u := f.uploader(t, UploadAPIV2)
	ctx := context.Background()
	part := writePart(t, feed.Product, products, "u1")
	part.Mode = "replace"
	part.Metadata = map[string]string{"acs_job": "catalog"}
	ref, err := u.UploadFile(ctx, part)
	if err != nil || ref != "" {
		t.Fatalf("v2 UploadFile: %q %v", ref, err)
	}
	imp, err := u.StartImport(ctx, part, ref)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Final || imp.Status == "awaiting_upload" || !strings.HasPrefix(imp.ID, "pcimprt_") {
		t.Fatalf("after upload: %+v", imp)
	}
	done := waitFinal(t, u, imp.ID)
	if done.Status != StatusSucceededWithErrors || done.RowsSucceeded != 2 || done.RowsFailed != 1 || done.RowsProcessed != 3 {
		t.Fatalf("finished: %+v", done)
	}
	recs := readReport(t, must2(u.ErrorReport(ctx, done)))
	if len(recs) != 2 || recs[1][1] != "B" {
		t.Fatalf("report: %q", recs)
	}
	sets := f.emu.ImportSets()
	if len(sets) != 1 || sets[0].API != "v2" || sets[0].Mode != "replace" || sets[0].Format != "product" {
		t.Fatalf("imports: %+v", sets)
	}

	// Resuming the attempt replays the create (whose stored answer still
	// says awaiting_upload); the second PUT's 409 counts as done.
	again, err := u.StartImport(ctx, part, "")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != imp.ID || !again.Replayed || len(f.emu.ImportSets()) != 1 {
		t.Fatalf("resumed: %+v, imports %d", again, len(f.emu.ImportSets()))
	}

	// Inventory in upsert mode, counts that are strings on the wire.
	inv := writePart(t, feed.Inventory, "id,availability,inventory_quantity\nA,in_stock,9\n", "u2")
	imp2, err := u.StartImport(ctx, inv, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := waitFinal(t, u, imp2.ID); d.Status != StatusSucceeded || d.RowsSucceeded != 1 {
		t.Fatalf("inventory: %+v", d)
	}
	if f.emu.Catalog()["A"]["inventory_quantity"] != "9" {
		t.Fatalf("catalog: %v", f.emu.Catalog())
	}
}

func must2(rc io.ReadCloser, err error) io.ReadCloser {
	if err != nil {
		panic(err)
	}
	return rc
}

func TestMultipartBodyLabelsTheFormat(t *testing.T) {
	part := writePart(t, feed.Price, "id\tprice\nA\t1.00 USD\n", "u1")
	part.TSV = true
	body, boundary, err := multipartBody(part)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte("Content-Type: text/tab-separated-values")) ||
		!bytes.Contains(body, []byte(`filename="price-`+part.SHA256[:16]+`.tsv"`)) ||
		!bytes.Contains(body, []byte("data_management_manual_upload")) || boundary == "" {
		t.Fatalf("body:\n%s", body)
	}
}
