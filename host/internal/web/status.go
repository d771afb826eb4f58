// Package web renders the status page: what a merchant opens first when
// something looks wrong. Server-rendered with html/template, no scripts, no
// build step; every state is spelled out in words, never by colour alone.
package web

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"time"
)

// Status is everything the page shows.
type Status struct {
	Generated time.Time
	Version   string
	// Mode is "Stripe emulator", "Stripe test mode" or "Stripe live mode".
	Mode    string
	Ready   bool
	Problem string
	Jobs    []Job
	Uploads []Upload
	Orders  []Order
	Plugins []Plugin
	// OrderURL is the custom order URL to paste into Stripe's Dashboard.
	OrderURL string
}

// Job is one scheduled job.
type Job struct {
	Name, Type, Schedule string
	Next                 time.Time
	LastStarted          time.Time
	LastFinished         time.Time
	LastOutcome          string // ok, error, skipped, never
	LastMessage          string
	Running              bool
}

// Upload is one feed file sent to Stripe.
type Upload struct {
	Job, Kind, File, ImportID, Status, API string
	Sent, Processed, Succeeded, Failed     int
	Created                                time.Time
	FailedReason                           string
	Errors                                 []UploadError
	// MoreErrors is set when the upload has more rejected rows than Errors.
	MoreErrors bool
}

// UploadError is a rejected row.
type UploadError struct {
	Line    int
	ItemID  string
	Message string
	Source  string
}

// Order is one order in the ledger.
type Order struct {
	SessionID, State, BackendRef, Reason string
	Currency                             string
	AmountTotal, AmountRefunded          int64
	Capture, Refund                      string
	Received                             time.Time
	// Attempts is how often the order was pushed to the backend; a failed
	// order is retried until MaxAttempts (0: unknown limit).
	Attempts, MaxAttempts int
	// LastError is the last fulfilment, capture or refund error.
	LastError string
}

// Plugin is one plugin process.
type Plugin struct {
	Name, Plugin, Version string
	Capabilities          string
	Up                    bool
	Restarts              int
	LastError             string
	Pid                   int
}

//go:embed templates/*.html
var templates embed.FS

var statusTmpl = template.Must(template.New("status.html").Funcs(funcs).ParseFS(templates, "templates/status.html"))

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		d := time.Since(t)
		if d < 0 {
			return "in " + roundDur(-d)
		}
		return roundDur(d) + " ago"
	},
	"money":        Money,
	"outcome":      OutcomeText,
	"importstatus": ImportText,
	"orderstate":   StateText,
	"capture":      CaptureText,
	"refund":       RefundText,
	"source":       SourceText,
	"tone":         tone,
}

func roundDur(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// Money formats minor units for people: 1234 usd -> "12.34 USD".
func Money(minor int64, currency string) string {
	digits := 2
	switch currency {
	case "jpy", "krw", "JPY", "KRW", "vnd", "VND", "clp", "CLP":
		digits = 0
	}
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	cur := fmt.Sprintf("%s", currency)
	if len(cur) == 3 {
		cur = string([]byte{upper(cur[0]), upper(cur[1]), upper(cur[2])})
	}
	if digits == 0 {
		return fmt.Sprintf("%s%d %s", sign, minor, cur)
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, minor/100, minor%100, cur)
}

func upper(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 32
	}
	return b
}

// StatusHandler serves GET / from collect.
func StatusHandler(collect func(context.Context) (*Status, error), log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		st, err := collect(r.Context())
		if err != nil {
			log.Error("status page", "err", err)
			st = &Status{Generated: time.Now(), Problem: "Could not read the state store: " + err.Error()}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		if err := statusTmpl.Execute(w, st); err != nil {
			log.Error("render status page", "err", err)
		}
	})
}
