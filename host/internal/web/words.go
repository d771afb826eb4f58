package web

import (
	"fmt"
	"strings"
)

// Notice is one line of the "Needs attention" list at the top of the page:
// what is wrong, in words, and which section has the details.
type Notice struct {
	Text    string
	Section string // id of the section with the details
}

// Attention lists what a merchant should act on, most urgent first: the
// state store, plugins that are down, failed job runs and imports, orders
// the backend could not take, and payments that could not be captured or
// refunded. An empty list means nothing needs attention.
func (s *Status) Attention() []Notice {
	var out []Notice
	for _, p := range s.Plugins {
		if !p.Up {
			msg := "Plugin " + p.Name + " is down"
			if p.LastError != "" {
				msg += ": " + p.LastError
			}
			out = append(out, Notice{msg, "plugins"})
		}
	}
	for _, j := range s.Jobs {
		if j.LastOutcome == "error" && !j.Running {
			msg := "The last run of job " + j.Name + " failed"
			if j.LastMessage != "" {
				msg += ": " + j.LastMessage
			}
			out = append(out, Notice{msg, "jobs"})
		}
	}
	for _, u := range s.Uploads {
		if u.Status == "failed" {
			msg := fmt.Sprintf("Stripe could not import the %s feed of job %s", u.Kind, u.Job)
			if u.FailedReason != "" {
				msg += ": " + u.FailedReason
			}
			out = append(out, Notice{msg, "uploads"})
		}
	}
	for _, o := range s.Orders {
		switch {
		case o.State == "failed" && o.MaxAttempts > 0 && o.Attempts >= o.MaxAttempts:
			out = append(out, Notice{fmt.Sprintf("Order %s could not be passed to the backend after %d attempts and is no longer retried%s",
				o.SessionID, o.Attempts, colon(o.Trouble())), "orders"})
		case o.State == "failed":
			out = append(out, Notice{"Order " + o.SessionID + " could not be passed to the backend yet (it is retried)" + colon(o.Trouble()), "orders"})
		}
		if o.Capture == "failed" {
			out = append(out, Notice{"The payment of order " + o.SessionID + " could not be captured" + colon(o.Trouble()), "orders"})
		}
		if o.Refund == "failed" {
			out = append(out, Notice{"The refund of order " + o.SessionID + " failed" + colon(o.Trouble()), "orders"})
		}
	}
	return out
}

// SectionTitle is the heading of the section a notice points to, so the
// link says where it goes.
func (n Notice) SectionTitle() string {
	switch n.Section {
	case "plugins":
		return "Plugins"
	case "jobs":
		return "Jobs"
	case "uploads":
		return "Recent feed uploads"
	case "orders":
		return "Recent orders"
	}
	return "below"
}

func colon(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// OutcomeText is a job outcome in words.
func OutcomeText(outcome string) string {
	switch outcome {
	case "ok":
		return "Succeeded"
	case "error":
		return "Failed"
	case "skipped":
		return "Skipped"
	case "", "never":
		return "Never run"
	}
	return outcome
}

// ImportText is an upload's import status in words.
func ImportText(status string) string {
	switch status {
	case "succeeded":
		return "Imported"
	case "succeeded_with_errors":
		return "Imported with errors"
	case "failed":
		return "Import failed"
	case "archived":
		return "Archived"
	case "":
		return "Not sent yet"
	}
	return "Import in progress (" + strings.ReplaceAll(status, "_", " ") + ")"
}

// StateText is an order's fulfilment state in words.
func StateText(state string) string {
	switch state {
	case "accepted":
		return "Accepted by the backend"
	case "rejected":
		return "Rejected by the backend"
	case "failed":
		return "Not passed to the backend yet"
	case "received":
		return "Received, waiting for the backend"
	case "pushing":
		return "Being passed to the backend"
	}
	return state
}

// Fulfilment is the order's fulfilment state in words; a failed order
// says whether it is still retried.
func (o Order) Fulfilment() string {
	if o.State == "failed" && o.MaxAttempts > 0 && o.Attempts >= o.MaxAttempts {
		return fmt.Sprintf("Not passed to the backend: gave up after %d attempts", o.Attempts)
	}
	return StateText(o.State)
}

// CaptureText is an order's capture state in words.
func CaptureText(capture string) string {
	switch capture {
	case "":
		return "—"
	case "pending":
		return "Authorized, not captured yet"
	case "captured":
		return "Captured"
	case "failed":
		return "Capture failed"
	case "not_required":
		return "Authorization released, not charged"
	}
	return capture
}

// RefundText is an order's refund state in words, with the amount.
func RefundText(o Order) string {
	amount := Money(o.AmountRefunded, o.Currency)
	switch o.Refund {
	case "pending":
		return "Refund pending"
	case "failed":
		if o.AmountRefunded > 0 {
			return "Refund failed (" + amount + " refunded before)"
		}
		return "Refund failed"
	}
	switch {
	case o.AmountRefunded > 0 && o.AmountRefunded >= o.AmountTotal:
		return "Refunded in full: " + amount
	case o.AmountRefunded > 0:
		return "Partly refunded: " + amount + " of " + Money(o.AmountTotal, o.Currency)
	case o.Refund == "refunded":
		return "Refunded"
	}
	return "—"
}

// SourceText says who rejected a feed row.
func SourceText(source string) string {
	switch source {
	case "local":
		return "acs-connector, before upload (not sent)"
	case "stripe":
		return "Stripe's import"
	}
	return source
}

// tone is the CSS class of a state word: ok, warn or bad. Every state is
// also spelled out, so the colour is never the only signal.
func tone(kind, v string) string {
	switch kind + ":" + v {
	case "outcome:ok", "import:succeeded", "state:accepted", "capture:captured":
		return "ok"
	case "outcome:error", "import:failed", "state:rejected", "state:failed", "capture:failed", "refund:failed":
		return "bad"
	case "outcome:never", "outcome:", "capture:", "refund:", "capture:not_required", "refund:refunded":
		return ""
	}
	return "warn"
}

// Trouble is the order's last error while it still matters: the order is
// not with the backend yet, or a capture or refund failed or is pending.
// An error that a later success made moot is not shown.
func (o Order) Trouble() string {
	switch {
	case o.State == "failed", o.State == "received", o.State == "pushing",
		o.Capture == "failed", o.Refund == "failed", o.Refund == "pending":
		return o.LastError
	}
	return ""
}
