// Package emulator is an embedded Stripe emulator. With no Stripe key
// configured the host starts it on loopback and points stripe-go at it
// (stripe.NewBackendsWithConfig with URL = the base URL Start returns, which
// serves both the API and the Files/uploads backend), so the same host code
// runs against the emulator and against real Stripe. Everything it returns has
// livemode false; it is not Stripe and says so when it starts.
//
// Wire behaviour follows Stripe: form-encoded v1 requests (expand[] and
// expand[N], created[gt|gte|lt|lte], metadata[k]), JSON v1 responses, JSON v2
// requests and responses, Stripe error objects
// {"error":{"type","code","message","param"}} with Stripe's HTTP statuses
// (401 without a valid key, 404 for unknown URLs and ids, 400 for bad or
// unknown parameters), Idempotency-Key replay on every POST (same key and
// parameters: the stored response with Idempotent-Replayed: true; other
// parameters or endpoint: 400 idempotency_error), and webhook deliveries
// signed with Stripe-Signature t=...,v1=....
//
// Endpoints:
//
//	POST /v1/files                                   multipart upload (purpose; data_management_manual_upload needs text/csv for .csv, text/tab-separated-values for .tsv)
//	GET  /v1/files, /v1/files/{id}, /v1/files/{id}/contents
//	POST /v1/data_management/import_sets             legacy ImportSet (needs Options.PreviewVersion as Stripe-Version)
//	GET  /v1/data_management/import_sets/{id}
//	POST /v2/commerce/product_catalog/imports        v2 import; then PUT the file to status_details.awaiting_upload.upload_url.url
//	GET  /v2/commerce/product_catalog/imports[/{id}]
//	GET  /v2/core/events/{id}                        thin events
//	GET  /v1/checkout/sessions[/{id}[/line_items]]
//	GET  /v1/payment_intents/{id}, POST /v1/payment_intents/{id}/capture, POST /v1/payment_intents/{id}/cancel
//	POST /v1/refunds, GET /v1/refunds[/{id}]
//	GET  /v1/charges/{id}, /v1/products/{id}, /v1/prices/{id}, /v1/shipping_rates/{id}, /v1/tax_rates/{id}, /v1/payment_methods/{id}
//	GET  /v1/events[/{id}]
//	PUT  /_emulator/uploads/{id}?token=...           the v2 presigned-style upload URL
//	GET  /_emulator/downloads/{file}?token=...       the v2 error file download URL (expires after 5 minutes)
//	GET  /_emulator/catalog, POST /_emulator/checkout  local helpers (API key required)
//
// Imports finish asynchronously after Options.ProcessingDelay, in deadline
// order rather than creation order, and apply their accepted rows to the
// catalog (Catalog) when they finish, as Stripe warns a later upload can finish
// first. Completed checkouts are created with CompleteCheckout.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Feed kinds passed to Options.RowChecker and Options.ProcessingDelay. They
// match host/internal/feed's Kind.String().
const (
	KindProduct   = "product"
	KindInventory = "inventory"
	KindPrice     = "price"
)

// Defaults for Options.
const (
	DefaultPreviewVersion  = "2025-09-30.clover;udap_beta=v1"
	DefaultEventAPIVersion = "2025-09-30.clover"
	DefaultMaxFileBytes    = 200 << 20
	DefaultMaxUploadBytes  = 4 << 30
	defaultProcessingDelay = 200 * time.Millisecond
	defaultWebhookAttempts = 6
)

// Options configures an Emulator. The zero value is usable.
type Options struct {
	Logger *slog.Logger

	// APIKey is the accepted secret key. Empty accepts any "sk_test_..." (or
	// restricted "rk_test_...") key. Requests without a valid key (Bearer or
	// HTTP basic with the key as user name) get Stripe's 401.
	APIKey string

	// PreviewVersion is the Stripe-Version the data_management endpoints
	// require. Default DefaultPreviewVersion. Other values get a 400 that
	// names the header.
	PreviewVersion string

	// ProcessingDelay says how long an import (legacy ImportSet or v2
	// import) stays in progress before it finishes. kind is KindProduct,
	// KindInventory or KindPrice; seq is the import's creation number
	// (1-based, shared by v1 and v2 imports). Default 200ms. Imports whose
	// deadlines are equal finish in creation order.
	ProcessingDelay func(kind string, seq int) time.Duration

	// MaxFileBytes limits POST /v1/files. Default 200 MB.
	MaxFileBytes int64
	// MaxUploadBytes limits the v2 presigned upload. Default 4 GB.
	MaxUploadBytes int64

	// RowChecker returns problem messages for one data row of a feed file
	// (nil or empty = row accepted). header is the file's header row. nil
	// accepts every row that passes the emulator's own checks (an id, the
	// header's field count, no duplicate id in the file, and for inventory and
	// price feeds an id that exists in the catalog). Rows with delete=true are
	// not passed to it: Stripe reads only id and delete on such rows.
	RowChecker func(kind string, header, row []string) []string

	// EventAPIVersion is the api_version of v1 events. Default
	// "2025-09-30.clover", deliberately not stripe-go v82's basil train.
	EventAPIVersion string

	// WebhookAttempts bounds deliveries per event (default 6) and
	// WebhookBackoff gives the wait before retry n (1-based; default
	// 100ms doubling, capped at 2s).
	WebhookAttempts int
	WebhookBackoff  func(retry int) time.Duration
	// MaxDeliveries bounds webhook requests in flight (default 16), as
	// Stripe paces its deliveries: a burst of thousands of events must not
	// open a connection each to the endpoint.
	MaxDeliveries int

	// Now replaces the clock (tests). Default time.Now.
	Now func() time.Time
}

// Emulator is an in-memory Stripe. Create it with New, serve it with Start or
// Handler, and Close it.
type Emulator struct {
	opt    Options
	log    *slog.Logger
	mux    *http.ServeMux
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // webhook deliveries and the scheduler
	hc     *http.Client
	tr     *http.Transport
	// sending holds a slot per webhook request in flight.
	sending chan struct{}

	mu       sync.Mutex
	baseURL  string
	closed   bool
	webhook  webhookTarget
	requests []requestRecord

	objects    map[string]map[string]any // id -> stored object (pi, ch, prod, price, shr, txr, pm, re)
	files      map[string]*fileRec
	fileOrder  []string
	impsets    map[string]*importJob
	impOrder   []string
	importSeq  int
	finishSeq  int
	catalog    map[string]map[string]string
	sessions   map[string]*sessionRec
	sessOrder  []string
	refunds    []string
	events     []*eventRec
	eventByID  map[string]*eventRec
	thinByID   map[string][]byte
	thinOrder  []string
	deliveries []*deliveryRec
	receiptSeq int
	sessSeq    int

	idem map[string]*idemEntry

	sched     *scheduler
	schedOnce sync.Once

	srv *http.Server
}

type requestRecord struct{ method, path string }

type webhookTarget struct{ url, secret string }

// New returns an emulator with opt applied. Call Close when done.
func New(opt Options) *Emulator {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.PreviewVersion == "" {
		opt.PreviewVersion = DefaultPreviewVersion
	}
	if opt.ProcessingDelay == nil {
		opt.ProcessingDelay = func(string, int) time.Duration { return defaultProcessingDelay }
	}
	if opt.MaxFileBytes <= 0 {
		opt.MaxFileBytes = DefaultMaxFileBytes
	}
	if opt.MaxUploadBytes <= 0 {
		opt.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if opt.EventAPIVersion == "" {
		opt.EventAPIVersion = DefaultEventAPIVersion
	}
	if opt.WebhookAttempts <= 0 {
		opt.WebhookAttempts = defaultWebhookAttempts
	}
	if opt.WebhookBackoff == nil {
		opt.WebhookBackoff = func(n int) time.Duration {
			d := 100 * time.Millisecond << (n - 1)
			if d > 2*time.Second || d <= 0 {
				d = 2 * time.Second
			}
			return d
		}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	if opt.MaxDeliveries <= 0 {
		opt.MaxDeliveries = 16
	}
	// As many idle connections as deliveries in flight, so a burst reuses
	// them instead of leaving a closed connection per event in TIME_WAIT.
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: opt.MaxDeliveries, IdleConnTimeout: 30 * time.Second}
	e := &Emulator{
		opt:       opt,
		log:       opt.Logger,
		ctx:       ctx,
		cancel:    cancel,
		tr:        tr,
		hc:        &http.Client{Transport: tr, Timeout: 10 * time.Second},
		sending:   make(chan struct{}, opt.MaxDeliveries),
		objects:   map[string]map[string]any{},
		files:     map[string]*fileRec{},
		impsets:   map[string]*importJob{},
		catalog:   map[string]map[string]string{},
		sessions:  map[string]*sessionRec{},
		eventByID: map[string]*eventRec{},
		thinByID:  map[string][]byte{},
		idem:      map[string]*idemEntry{},
	}
	e.mux = e.routes()
	return e
}

// Handler returns the emulator's HTTP handler (for httptest or an existing
// server). Without Start, URLs the emulator hands out (file urls, upload
// URLs) are built from the request's Host.
func (e *Emulator) Handler() http.Handler { return http.HandlerFunc(e.serveHTTP) }

// Start listens on addr (for example "127.0.0.1:0") and serves. It returns
// the base URL to give stripe-go as BackendConfig.URL.
func (e *Emulator) Start(addr string) (string, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return "", errors.New("emulator: start after close")
	}
	if e.srv != nil {
		e.mu.Unlock()
		return "", errors.New("emulator: already started")
	}
	e.mu.Unlock()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("emulator: listen %s: %w", addr, err)
	}
	base := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}
	e.mu.Lock()
	e.baseURL, e.srv = base, srv
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("stripe emulator: serve", "err", err)
		}
	}()
	e.log.Info("Stripe emulator listening: this is NOT real Stripe, every object is livemode=false",
		"url", base, "livemode", false)
	return base, nil
}

// Close stops the server, pending imports and webhook deliveries, and waits
// for the emulator's goroutines to end. It is safe to call more than once.
func (e *Emulator) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	srv := e.srv
	e.mu.Unlock()
	e.cancel()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = srv.Shutdown(ctx)
		cancel()
		if err != nil {
			err = srv.Close()
		}
	}
	e.wg.Wait()
	e.tr.CloseIdleConnections()
	return err
}

// SetWebhook sets where signed events are POSTed (Stripe-Signature
// t=...,v1=... computed with secret). Events created while no webhook is set
// are stored but not delivered, like Stripe with no endpoint. Non-2xx
// answers are retried with backoff, Options.WebhookAttempts times at most.
func (e *Emulator) SetWebhook(url, secret string) {
	e.mu.Lock()
	e.webhook = webhookTarget{url: url, secret: secret}
	e.mu.Unlock()
}

// CountRequests counts the requests received whose method equals method
// (empty = any) and whose path starts with pathPrefix.
func (e *Emulator) CountRequests(method, pathPrefix string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, r := range e.requests {
		if (method == "" || strings.EqualFold(method, r.method)) && strings.HasPrefix(r.path, pathPrefix) {
			n++
		}
	}
	return n
}

func (e *Emulator) now() time.Time { return e.opt.Now() }

// base returns the URL prefix for links the emulator hands out.
func (e *Emulator) base(r *http.Request) string {
	e.mu.Lock()
	b := e.baseURL
	e.mu.Unlock()
	if b != "" {
		return b
	}
	if r != nil && r.Host != "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		return scheme + "://" + r.Host
	}
	return "http://127.0.0.1"
}

// baseLocked is base for callers that hold e.mu and have no request.
func (e *Emulator) baseLocked() string {
	if e.baseURL != "" {
		return e.baseURL
	}
	return "http://127.0.0.1"
}
