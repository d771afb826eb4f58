package stripeapi

// Feed uploads. Two implementations sit behind Uploader, chosen by the
// config key stripe.upload_api:
//
//   - "importset" (default, the seller guide's flow): the part goes to the
//     Files API (POST /v1/files on the files backend, purpose
//     data_management_manual_upload, the part's MIME type text/csv or
//     text/tab-separated-values), then POST /v1/data_management/import_sets
//     with the file id and standard_data_format under the preview
//     Stripe-Version (Config.ImportVersion). Imports are retrieved with
//     GET /v1/data_management/import_sets/{id}; the error report is
//     GET /v1/files/{id}/contents on the files backend.
//   - "v2": see v2.go.
//
// Every call goes through stripe-go: the multipart body is built here (so the
// file part carries the right Content-Type; stripe-go's FileParams labels it
// application/octet-stream, which Stripe rejects for this purpose) and sent
// with the files backend's CallMultipart; the preview endpoints go through
// rawrequest; the error report is streamed with CallStreaming. stripe-go's
// CallMultipart takes a *bytes.Buffer, so a part is held in memory while it is
// sent: memory during an ImportSet upload is bounded by the part size
// (syncjob's MaxPartBytes), not by the catalog.
//
// Idempotency. Every POST carries an Idempotency-Key derived from the part's
// content (SHA-256) and FeedFile.Attempt, the store's id of the logical
// upload. A retry inside one call (stripe-go's own network retries, and the
// 429/5xx/network retries below) and a process that crashed and resumes the
// same upload record send the same key, so Stripe replays the first answer
// instead of creating a second File or ImportSet. The attempt is part of the
// key because the same bytes can legitimately be uploaded twice: an inventory
// delta that goes 5 -> 4 -> 5 within Stripe's 24-hour key window produces the
// very same file as the first upload, and a content-only key would make
// Stripe replay the first (long finished) ImportSet instead of applying the
// revert.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	stripe "github.com/stripe/stripe-go/v82"

	"github.com/acs-connector/acs-connector/host/internal/feed"
)

// Upload API names (config stripe.upload_api; stored as store.Upload.API).
const (
	UploadAPIImportSet = "importset"
	UploadAPIV2        = "v2"
)

// FilePurpose is the Files API purpose of catalog feed uploads.
const FilePurpose = "data_management_manual_upload"

// DefaultV2Version is the Stripe-Version sent to the v2 Product Catalog Import
// API: the GA release train that added the mode property
// (2026-06-24.dahlia; the API itself is GA since 2026-04-22.dahlia).
const DefaultV2Version = "2026-06-24.dahlia"

// Import statuses that end an import, as Stripe spells them.
const (
	StatusPending             = "pending"
	StatusSucceeded           = "succeeded"
	StatusSucceededWithErrors = "succeeded_with_errors"
	StatusFailed              = "failed"
	StatusArchived            = "archived"
)

// knownInProgress are the non-final statuses seen in Stripe's docs and in
// WooCommerce's production code (stripe-acs.md §1.6), plus the v2 ones.
var knownInProgress = map[string]bool{
	"pending": true, "queued": true, "validating": true, "validating_records": true,
	"creating_records": true, "pending_archive": true, "unknown": true,
	"awaiting_upload": true, "processing": true,
}

// NormalizeStatus maps the status Stripe sent to the one to store: missing
// (the ImportSet create response omits it) becomes "pending"; everything else
// is kept as sent. final is true only for succeeded, succeeded_with_errors,
// failed and archived: any other value, including ones never seen before, is
// an import still in progress.
func NormalizeStatus(s string) (status string, final bool) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return StatusPending, false
	case StatusSucceeded, StatusSucceededWithErrors, StatusFailed, StatusArchived:
		return s, true
	}
	return s, false
}

// unknownStatuses remembers the unknown statuses already logged.
var unknownStatuses sync.Map

func (c *Client) noteStatus(api, id, s string) {
	st, final := NormalizeStatus(s)
	if final || knownInProgress[st] {
		return
	}
	if _, seen := unknownStatuses.LoadOrStore(api+"\x00"+st, true); !seen {
		c.log.Warn("Stripe sent an import status this version does not know; treating it as still in progress",
			"api", api, "status", st, "import", id)
	}
}

// FeedFile is one feed part on disk, ready to upload.
type FeedFile struct {
	Path   string
	Kind   feed.Kind
	TSV    bool
	SHA256 string // hex SHA-256 of the file's bytes
	Size   int64
	// Attempt identifies the logical upload (the store's upload id). With
	// SHA256 it makes the idempotency keys: the same attempt always sends
	// the same keys.
	Attempt string
	// Mode is the v2 processing mode: "upsert" (default) or "replace"
	// (product feed only: Stripe deletes products absent from the file).
	Mode string
	// Metadata is sent with v2 imports. It is part of the request, so it
	// must be the same on every try of one attempt.
	Metadata map[string]string
}

func (f FeedFile) ext() string {
	if f.TSV {
		return "tsv"
	}
	return "csv"
}

func (f FeedFile) contentType() string {
	if f.TSV {
		return "text/tab-separated-values"
	}
	return "text/csv"
}

// fileName is the name the part is uploaded under: derived from the content,
// so that every try of one attempt sends identical parameters.
func (f FeedFile) fileName() string {
	return fmt.Sprintf("%s-%s.%s", f.Kind, short(f.SHA256, 16), f.ext())
}

func (f FeedFile) check() error {
	if f.Path == "" || len(f.SHA256) < 16 || f.Attempt == "" {
		return fmt.Errorf("feed file %q: path, sha256 and attempt are required", f.Path)
	}
	if f.Kind.StandardDataFormat() == "" {
		return fmt.Errorf("feed file %s: invalid feed kind %d", f.Path, int(f.Kind))
	}
	return nil
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Import is the state of one import at Stripe, the same for both APIs.
type Import struct {
	ID  string
	API string
	// Status is Stripe's status, "pending" when Stripe sent none.
	Status string
	// Final reports a status after which the import no longer changes.
	Final         bool
	RowsProcessed int
	RowsSucceeded int
	RowsFailed    int
	FailedReason  string
	// ErrorFile is the v1 error report's file id, or the v2 report's
	// presigned download URL (valid for 5 minutes).
	ErrorFile string
	// UploadURL is where a v2 import in status awaiting_upload takes its
	// file.
	UploadURL string
	// Replayed is true when Stripe answered the create call from its
	// idempotency cache (the import existed already).
	Replayed bool
}

// Uploader sends feed parts to Stripe and tracks their imports. An upload is
// two steps so that a crash between them can resume with the same
// idempotency keys: UploadFile (Files API for ImportSets; nothing for v2),
// then StartImport.
type Uploader interface {
	// API is UploadAPIImportSet or UploadAPIV2.
	API() string
	// UploadFile makes the part available to Stripe and returns a reference
	// for StartImport (the File id; "" for v2, whose file goes up with the
	// import).
	UploadFile(ctx context.Context, f FeedFile) (fileRef string, err error)
	// StartImport creates the import of an uploaded part.
	StartImport(ctx context.Context, f FeedFile, fileRef string) (*Import, error)
	// Retrieve fetches an import's current state.
	Retrieve(ctx context.Context, importID string) (*Import, error)
	// ErrorReport opens the error report of a finished import: CSV, the
	// failed rows only, with a leading stripe_error_message column. It
	// returns nil, nil when the import has none.
	ErrorReport(ctx context.Context, imp *Import) (io.ReadCloser, error)
}

// UploaderOptions tune an Uploader.
type UploaderOptions struct {
	// V2Version is the Stripe-Version of v2 import calls (DefaultV2Version).
	V2Version string
	// Retries is how many more times a call is tried after a 429, a 5xx or
	// a network error that stripe-go's own retries did not absorb
	// (stripe-go retries network errors, 409 and 5xx but not rate limits).
	// Default 4; negative disables.
	Retries int
	// Backoff is the wait before retry n (0-based). Default 1s doubling,
	// capped at 30s, with jitter.
	Backoff func(n int) time.Duration
}

// NewUploader returns the Uploader for api ("importset" or "v2").
func NewUploader(c *Client, api string, opt UploaderOptions) (Uploader, error) {
	if c == nil {
		return nil, errors.New("stripe uploader: no Stripe client")
	}
	if opt.V2Version == "" {
		opt.V2Version = DefaultV2Version
	}
	if opt.Retries == 0 {
		opt.Retries = 4
	}
	if opt.Retries < 0 {
		opt.Retries = 0
	}
	if opt.Backoff == nil {
		opt.Backoff = defaultBackoff
	}
	switch api {
	case UploadAPIImportSet, "":
		return &importSetUploader{c: c, opt: opt}, nil
	case UploadAPIV2:
		return &v2Uploader{c: c, opt: opt}, nil
	}
	return nil, fmt.Errorf("stripe uploader: unknown upload API %q (use %s or %s)", api, UploadAPIImportSet, UploadAPIV2)
}

func defaultBackoff(n int) time.Duration {
	d := time.Duration(float64(time.Second) * math.Pow(2, float64(n)))
	if d > 30*time.Second || d <= 0 {
		d = 30 * time.Second
	}
	var b [1]byte
	_, _ = rand.Read(b[:])
	return d - d/4 + time.Duration(int64(b[0])*int64(d/2)/255)
}

// HTTPError is a failed request to a presigned storage URL (v2 upload or
// error report download).
type HTTPError struct {
	Op         string
	StatusCode int
	Body       string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.Op, e.StatusCode, strings.TrimSpace(e.Body))
}

// IsPermanentUpload reports whether an Uploader error is an answer that
// trying again with the same request cannot change: a 4xx from Stripe or a
// storage URL other than 408 (timeout), 409 (in flight) and 429 (rate
// limited), or a malformed answer. Network errors, 5xx and context
// errors are not permanent: the upload may or may not have happened, and
// the same idempotency key settles it on the next try.
func IsPermanentUpload(err error) bool {
	if err == nil {
		return false
	}
	var se *stripe.Error
	if errors.As(err, &se) {
		return se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 &&
			se.HTTPStatusCode != http.StatusConflict && se.HTTPStatusCode != http.StatusTooManyRequests
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode >= 400 && he.StatusCode < 500 &&
			he.StatusCode != http.StatusConflict && he.StatusCode != http.StatusTooManyRequests &&
			he.StatusCode != http.StatusRequestTimeout
	}
	var pe *permanentError
	return errors.As(err, &pe)
}

// IsNotFound reports a 404 from Stripe: the object does not exist (for an
// import: made with another account or key, or by an emulator that has
// since restarted).
func IsNotFound(err error) bool {
	var se *stripe.Error
	return errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound
}

// permanentError marks answers that are wrong in a way no retry fixes (a
// response without an id, for example).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(format string, args ...any) error {
	return &permanentError{fmt.Errorf(format, args...)}
}

// retryable reports errors worth another try with the same idempotency key.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se *stripe.Error
	if errors.As(err, &se) {
		return se.HTTPStatusCode == http.StatusTooManyRequests || se.HTTPStatusCode == http.StatusConflict ||
			se.HTTPStatusCode >= 500 || se.HTTPStatusCode == 0
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode == http.StatusTooManyRequests || he.StatusCode == http.StatusRequestTimeout || he.StatusCode >= 500
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF)
}

// withRetry calls fn until it succeeds, fails for good, or the retries are
// spent. fn must send the same idempotency key every time.
// rawWithRetry runs one stripe-go raw request under withRetry (same
// idempotency key on every try) and returns its response.
func rawWithRetry(ctx context.Context, log *slog.Logger, opt UploaderOptions, what string, call func() (*stripe.APIResponse, error)) (*stripe.APIResponse, error) {
	var resp *stripe.APIResponse
	err := withRetry(ctx, log, opt, what, func() error {
		var err error
		resp, err = call()
		return err
	})
	return resp, err
}

func withRetry(ctx context.Context, log *slog.Logger, opt UploaderOptions, what string, fn func() error) error {
	for n := 0; ; n++ {
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (after: %v)", what, ctx.Err(), err)
		}
		if !retryable(err) || n >= opt.Retries {
			return fmt.Errorf("%s: %w", what, err)
		}
		d := opt.Backoff(n)
		log.Warn("Stripe call failed; retrying with the same idempotency key", "call", what, "retry", n+1, "in", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (after: %v)", what, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// flexInt decodes a JSON number, a string holding one (v2 counts are
// strings), or null.
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return fmt.Errorf("not a count: %s", b)
		}
		v = int64(f)
	}
	*n = flexInt(v)
	return nil
}

// ---------------------------------------------------------------- ImportSets

type importSetUploader struct {
	c   *Client
	opt UploaderOptions
}

func (u *importSetUploader) API() string { return UploadAPIImportSet }

// fileKey and importKey are the idempotency keys of one attempt.
func fileKey(f FeedFile) string { return "acs-file-" + f.SHA256 + "-" + f.Attempt }
func importKey(f FeedFile) string {
	return "acs-import-" + f.Kind.StandardDataFormat() + "-" + f.SHA256 + "-" + f.Attempt
}

// UploadFile sends the part to the Files API.
func (u *importSetUploader) UploadFile(ctx context.Context, f FeedFile) (string, error) {
	if err := f.check(); err != nil {
		return "", err
	}
	if f.Size >= largeBody {
		// Start from a collected heap: the body is about to add the part's
		// size to it.
		debug.FreeOSMemory()
	}
	body, boundary, err := multipartBody(f)
	if err != nil {
		return "", err
	}
	key := fileKey(f)
	var file stripe.File
	what := "upload " + f.fileName() + " to the Files API"
	err = withRetry(ctx, u.c.log, u.opt, what, func() error {
		params := &stripe.Params{Context: ctx, IdempotencyKey: stripe.String(key)}
		file = stripe.File{}
		// A fresh Buffer over the same bytes for every try: the backend
		// reads from its Buffer.
		return u.c.uploads.CallMultipart(http.MethodPost, "/v1/files", u.c.cfg.Key, boundary, bytes.NewBuffer(body), params, &file)
	})
	// The body (as big as the part) is garbage now. Without a collection
	// here the next part's body is allocated while this one still counts
	// toward the heap, and a catalog of several 200 MB parts peaks at two
	// or three parts' worth of memory instead of one.
	if n := len(body); n >= largeBody {
		body = nil
		debug.FreeOSMemory()
	}
	if err != nil {
		return "", err
	}
	if file.ID == "" {
		return "", permanent("%s: the response has no file id", what)
	}
	return file.ID, nil
}

// largeBody is the size from which an upload's memory is handed back to the
// OS right after the call.
const largeBody = 16 << 20

// multipartBody builds the Files API request: purpose, then the file part
// with the Content-Type matching the format.
func multipartBody(f FeedFile) ([]byte, string, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, "", fmt.Errorf("upload %s: %w", f.Path, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("upload %s: %w", f.Path, err)
	}
	var buf bytes.Buffer
	buf.Grow(int(st.Size()) + 1024)
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("purpose", FilePurpose); err != nil {
		return nil, "", err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, f.fileName()))
	h.Set("Content-Type", f.contentType())
	pw, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := io.Copy(pw, fh); err != nil {
		return nil, "", fmt.Errorf("upload %s: read: %w", f.Path, err)
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.Boundary(), nil
}

func (u *importSetUploader) previewParams(ctx context.Context, key string) *stripe.RawParams {
	return versionedParams(ctx, u.c.cfg.ImportVersion, key)
}

// versionedParams are raw request params with a Stripe-Version header (a
// preview version) and, when key is set, an idempotency key.
func versionedParams(ctx context.Context, version, key string) *stripe.RawParams {
	p := &stripe.RawParams{Params: stripe.Params{Context: ctx,
		Headers: http.Header{"Stripe-Version": []string{version}}}}
	if key != "" {
		p.IdempotencyKey = stripe.String(key)
	}
	return p
}

// StartImport creates the ImportSet for an uploaded file.
func (u *importSetUploader) StartImport(ctx context.Context, f FeedFile, fileID string) (*Import, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if fileID == "" {
		return nil, fmt.Errorf("create ImportSet for %s: no file id", f.Path)
	}
	form := url.Values{"file": {fileID}, "standard_data_format": {f.Kind.StandardDataFormat()}}.Encode()
	key := importKey(f)
	what := "create ImportSet (" + f.Kind.StandardDataFormat() + ") for " + fileID
	resp, err := rawWithRetry(ctx, u.c.log, u.opt, what, func() (*stripe.APIResponse, error) {
		return u.c.rawAPI().RawRequest(http.MethodPost, "/v1/data_management/import_sets", form, u.previewParams(ctx, key))
	})
	if err != nil {
		return nil, err
	}
	imp, err := u.decode(resp.RawJSON)
	if err != nil {
		return nil, permanent("%s: %v", what, err)
	}
	imp.Replayed = resp.Header.Get("Idempotent-Replayed") == "true"
	return imp, nil
}

// Retrieve fetches an ImportSet.
func (u *importSetUploader) Retrieve(ctx context.Context, id string) (*Import, error) {
	return retrieveImport(ctx, u.c, u.opt, "ImportSet", "/v1/data_management/import_sets/", id, u.previewParams, u.decode)
}

// retrieveImport GETs base+id with the params of the import API (its
// preview Stripe-Version) and decodes it; kind names the object in errors.
func retrieveImport(ctx context.Context, c *Client, opt UploaderOptions, kind, base, id string,
	params func(ctx context.Context, key string) *stripe.RawParams, decode func([]byte) (*Import, error)) (*Import, error) {
	if id == "" {
		return nil, fmt.Errorf("retrieve %s: empty id", kind)
	}
	what := "retrieve " + kind + " " + id
	resp, err := rawWithRetry(ctx, c.log, opt, what, func() (*stripe.APIResponse, error) {
		return c.rawAPI().RawRequest(http.MethodGet, base+url.PathEscape(id), "", params(ctx, ""))
	})
	if err != nil {
		return nil, err
	}
	imp, err := decode(resp.RawJSON)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return imp, nil
}

type v1ImportSet struct {
	ID           string  `json:"id"`
	Status       *string `json:"status"`
	FailedReason *string `json:"failed_reason"`
	Result       *struct {
		Errors *struct {
			File     *string `json:"file"`
			RowCount flexInt `json:"row_count"`
		} `json:"errors"`
		RowsProcessed flexInt `json:"rows_processed"`
		Successes     *struct {
			RowCount flexInt `json:"row_count"`
		} `json:"successes"`
	} `json:"result"`
}

func (u *importSetUploader) decode(raw []byte) (*Import, error) {
	var v v1ImportSet
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("decode ImportSet: %w", err)
	}
	if v.ID == "" {
		return nil, errors.New("decode ImportSet: no id in the response")
	}
	raw0 := ""
	if v.Status != nil {
		raw0 = *v.Status
	}
	u.c.noteStatus(UploadAPIImportSet, v.ID, raw0)
	imp := &Import{ID: v.ID, API: UploadAPIImportSet}
	imp.Status, imp.Final = NormalizeStatus(raw0)
	if v.FailedReason != nil {
		imp.FailedReason = *v.FailedReason
	}
	if r := v.Result; r != nil {
		imp.RowsProcessed = int(r.RowsProcessed)
		if r.Successes != nil {
			imp.RowsSucceeded = int(r.Successes.RowCount)
		}
		if r.Errors != nil {
			imp.RowsFailed = int(r.Errors.RowCount)
			if r.Errors.File != nil {
				imp.ErrorFile = *r.Errors.File
			}
		}
	}
	return imp, nil
}

// ErrorReport streams the error file's contents from the files backend.
func (u *importSetUploader) ErrorReport(ctx context.Context, imp *Import) (io.ReadCloser, error) {
	if imp == nil || imp.ErrorFile == "" {
		return nil, nil
	}
	return u.c.fileContents(ctx, u.opt, imp.ErrorFile)
}

// fileContents opens GET /v1/files/{id}/contents on the files backend without
// buffering it (stripe-go's CallStreaming, as its quote PDF download does).
func (c *Client) fileContents(ctx context.Context, opt UploaderOptions, fileID string) (io.ReadCloser, error) {
	var stream stripe.APIStream
	what := "download file " + fileID
	err := withRetry(ctx, c.log, opt, what, func() error {
		stream = stripe.APIStream{}
		return c.uploads.CallStreaming(http.MethodGet, "/v1/files/"+url.PathEscape(fileID)+"/contents", c.cfg.Key,
			&stripe.Params{Context: ctx}, &stream)
	})
	if err != nil {
		return nil, err
	}
	if stream.LastResponse == nil || stream.LastResponse.Body == nil {
		return nil, fmt.Errorf("%s: empty response", what)
	}
	return stream.LastResponse.Body, nil
}
