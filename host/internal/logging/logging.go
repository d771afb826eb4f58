// Package logging builds the host's slog logger: JSON under systemd or any
// non-terminal, readable text on a terminal, and a redaction layer that
// keeps secrets out of every line whatever code logs them.
package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"

	"golang.org/x/term"
)

// Options select level and format.
type Options struct {
	Level  string // debug, info, warn, error
	Format string // auto, json, text
}

// New returns a logger writing to w with secrets redacted.
func New(w io.Writer, opt Options) *slog.Logger {
	level := slog.LevelInfo
	switch opt.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	ho := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if useJSON(w, opt.Format) {
		h = slog.NewJSONHandler(w, ho)
	} else {
		h = slog.NewTextHandler(w, ho)
	}
	return slog.New(&redactor{next: h})
}

func useJSON(w io.Writer, format string) bool {
	switch format {
	case "json":
		return true
	case "text":
		return false
	}
	// systemd sets these for its services; journald stores structured lines.
	if os.Getenv("JOURNAL_STREAM") != "" || os.Getenv("INVOCATION_ID") != "" {
		return true
	}
	if f, ok := w.(*os.File); ok {
		return !term.IsTerminal(int(f.Fd()))
	}
	return true
}

var (
	secretsMu sync.RWMutex
	secrets   []string
)

// AddSecret registers a literal value (an API key from the config, say) that
// must never appear in a log line.
func AddSecret(s string) {
	if len(s) < 6 {
		return
	}
	secretsMu.Lock()
	defer secretsMu.Unlock()
	for _, x := range secrets {
		if x == s {
			return
		}
	}
	secrets = append(secrets, s)
}

// Patterns of things that are secret wherever they come from: Stripe keys,
// signing secrets, signature headers, card numbers, passwords in URLs.
var secretPatterns = []struct {
	re      *regexp.Regexp
	replace func(re *regexp.Regexp, s string) string
}{
	{regexp.MustCompile(`\b(sk|rk|pk)_(live|test)_[A-Za-z0-9_]{6,}`), all},
	{regexp.MustCompile(`\bwhsec_[A-Za-z0-9+/=_-]{6,}`), all},
	{regexp.MustCompile(`\bt=\d+,v[01]=[0-9a-fA-F]{16,}(,v[01]=[0-9a-fA-F]{16,})*`), all},
	// Card numbers: only digit runs that pass the Luhn check, so ids and
	// nanosecond timestamps stay readable.
	{regexp.MustCompile(`\b(?:\d[ -]?){13,19}\b`), func(re *regexp.Regexp, s string) string {
		return re.ReplaceAllStringFunc(s, func(m string) string {
			if luhn(m) {
				return "[REDACTED]"
			}
			return m
		})
	}},
	{regexp.MustCompile(`(?i)(password|passwd|pwd)=[^\s&@]+`), func(re *regexp.Regexp, s string) string {
		return re.ReplaceAllString(s, "${1}=[REDACTED]")
	}},
	{regexp.MustCompile(`(?i)(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@`), func(re *regexp.Regexp, s string) string {
		return re.ReplaceAllString(s, "${1}[REDACTED]@")
	}},
	// Client secrets of PaymentIntents, SetupIntents and Checkout Sessions:
	// whoever holds one can confirm the payment.
	{regexp.MustCompile(`\b(?:pi|seti|cs|src)_[A-Za-z0-9_]+_secret_[A-Za-z0-9]+`), all},
}

func all(re *regexp.Regexp, s string) string { return re.ReplaceAllString(s, "[REDACTED]") }

// luhn reports whether the digits of s pass the Luhn check card numbers use.
func luhn(s string) bool {
	sum, n, double := 0, 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
		n++
	}
	return n >= 13 && sum%10 == 0
}

// Redact removes secrets from s.
func Redact(s string) string {
	secretsMu.RLock()
	for _, x := range secrets {
		if strings.Contains(s, x) {
			s = strings.ReplaceAll(s, x, "[REDACTED]")
		}
	}
	secretsMu.RUnlock()
	for _, p := range secretPatterns {
		s = p.replace(p.re, s)
	}
	return s
}

// Keys whose values are secret whatever they look like.
var secretKeys = map[string]bool{
	"secret_key": true, "api_key": true, "webhook_secret": true, "hook_secret": true,
	"stripe-signature": true, "stripe_signature": true, "signature": true, "authorization": true,
	"password": true, "dsn": true, "card_number": true, "client_secret": true,
}

type redactor struct {
	next slog.Handler
}

func (r *redactor) Enabled(ctx context.Context, l slog.Level) bool { return r.next.Enabled(ctx, l) }

func (r *redactor) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.next.Handle(ctx, out)
}

func (r *redactor) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = redactAttr(a)
	}
	return &redactor{next: r.next.WithAttrs(clean)}
}

func (r *redactor) WithGroup(name string) slog.Handler {
	return &redactor{next: r.next.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	if secretKeys[strings.ToLower(a.Key)] {
		return slog.String(a.Key, "[REDACTED]")
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, x := range g {
			out[i] = redactAttr(x)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, Redact(err.Error()))
		}
		return slog.String(a.Key, Redact(v.String()))
	}
	return a
}
