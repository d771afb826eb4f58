// Package stripeapi is the host's only road to Stripe. Every call goes
// through stripe-go: typed services where stripe-go has them, and its
// rawrequest client for the preview endpoints it does not type
// (ImportSets, v2 catalog imports, file contents). Pointed at the embedded
// emulator, the same code runs without a Stripe account.
package stripeapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	stripe "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/rawrequest"
)

// Config selects the account and API versions.
type Config struct {
	Key string
	// URL replaces Stripe's API and files hosts (emulator, tests); empty
	// means Stripe.
	URL        string
	MaxRetries int
	// ImportVersion is the preview Stripe-Version the ImportSet endpoints require.
	ImportVersion string
	// CheckoutVersion is sent when retrieving completed checkout sessions.
	CheckoutVersion string
	HTTPClient      *http.Client
	Logger          *slog.Logger
}

// Client wraps stripe-go for the calls acs-connector makes.
type Client struct {
	cfg     Config
	SC      *stripe.Client
	api     stripe.Backend
	uploads stripe.Backend
	log     *slog.Logger
}

// New builds a client.
func New(cfg Config) (*Client, error) {
	if cfg.Key == "" {
		return nil, fmt.Errorf("stripe: no secret key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 80 * time.Second}
	}
	if cfg.ImportVersion == "" {
		cfg.ImportVersion = "2025-09-30.clover;udap_beta=v1"
	}
	if cfg.CheckoutVersion == "" {
		cfg.CheckoutVersion = "2025-12-15.preview"
	}
	retries := int64(cfg.MaxRetries)
	bc := &stripe.BackendConfig{
		HTTPClient:        cfg.HTTPClient,
		MaxNetworkRetries: stripe.Int64(retries),
		LeveledLogger:     &leveledLogger{log: cfg.Logger},
		EnableTelemetry:   stripe.Bool(false),
	}
	if cfg.URL != "" {
		bc.URL = stripe.String(cfg.URL)
	}
	apiCfg, upCfg := *bc, *bc
	c := &Client{cfg: cfg, log: cfg.Logger}
	if cfg.URL != "" {
		backends := stripe.NewBackendsWithConfig(bc)
		c.api, c.uploads = backends.API, backends.Uploads
		c.SC = stripe.NewClient(cfg.Key, stripe.WithBackends(backends))
	} else {
		c.api = stripe.GetBackendWithConfig(stripe.APIBackend, &apiCfg)
		c.uploads = stripe.GetBackendWithConfig(stripe.UploadsBackend, &upCfg)
		c.SC = stripe.NewClient(cfg.Key, stripe.WithBackends(&stripe.Backends{
			API:         c.api,
			Connect:     stripe.GetBackendWithConfig(stripe.ConnectBackend, bc),
			Uploads:     c.uploads,
			MeterEvents: stripe.GetBackendWithConfig(stripe.MeterEventsBackend, bc),
		}))
	}
	return c, nil
}

// Livemode reports whether the key is a live key.
func (c *Client) Livemode() bool {
	return len(c.cfg.Key) > 8 && (c.cfg.Key[:8] == "sk_live_" || c.cfg.Key[:8] == "rk_live_")
}

// ImportVersion is the preview version used for ImportSets.
func (c *Client) ImportVersion() string { return c.cfg.ImportVersion }

// CheckoutVersion is the version used to retrieve checkout sessions.
func (c *Client) CheckoutVersion() string { return c.cfg.CheckoutVersion }

func (c *Client) rawAPI() rawrequest.Client {
	return rawrequest.Client{B: c.api.(stripe.RawRequestBackend), Key: c.cfg.Key}
}

func (c *Client) rawUploads() rawrequest.Client {
	return rawrequest.Client{B: c.uploads.(stripe.RawRequestBackend), Key: c.cfg.Key}
}

// Backend exposes the API backend (multipart uploads need CallMultipart).
func (c *Client) Backend() stripe.Backend { return c.api }

// UploadsBackend exposes the files backend.
func (c *Client) UploadsBackend() stripe.Backend { return c.uploads }

// RawAPI exposes stripe-go's raw request client on the API backend.
func (c *Client) RawAPI() rawrequest.Client { return c.rawAPI() }

// RawUploads exposes stripe-go's raw request client on the files backend.
func (c *Client) RawUploads() rawrequest.Client { return c.rawUploads() }

// Key returns the secret key (for the backends' Call methods only).
func (c *Client) Key() string { return c.cfg.Key }

// leveledLogger routes stripe-go's own logging into slog (and so through
// the host's redaction).
type leveledLogger struct{ log *slog.Logger }

func (l *leveledLogger) Debugf(format string, v ...interface{}) {
	// stripe-go dumps every response body at debug level. Bodies carry
	// PaymentIntent client secrets and shoppers' names, emails and
	// addresses, none of which belongs in a log: only the size is kept.
	if format == "Response: %s" && len(v) == 1 {
		l.log.Debug("stripe response received", "component", "stripe-go", "bytes", len(fmt.Sprint(v[0])))
		return
	}
	l.log.Debug(fmt.Sprintf(format, v...), "component", "stripe-go")
}
func (l *leveledLogger) Infof(format string, v ...interface{}) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "stripe-go")
}
func (l *leveledLogger) Warnf(format string, v ...interface{}) {
	l.log.Warn(fmt.Sprintf(format, v...), "component", "stripe-go")
}
func (l *leveledLogger) Errorf(format string, v ...interface{}) {
	l.log.Warn(fmt.Sprintf(format, v...), "component", "stripe-go")
}
