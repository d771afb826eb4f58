package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/outbox"
)

// outboxFile is what PushOrder writes to <outbox>/<session id>.json: the
// order (the SDK's document, flattened into the record), plus the answer
// the host got. Amounts are in minor units of the order's currency
// (1999 = 19.99 USD).
type outboxFile struct {
	Status           string    `json:"status"` // accepted | rejected
	BackendReference string    `json:"backend_reference"`
	Reason           string    `json:"reason,omitempty"`
	ReceivedAt       time.Time `json:"received_at"`
	IdempotencyKey   string    `json:"idempotency_key"`
	outbox.Order
}

// keyFileName is the outbox file of an idempotency key: the key itself
// when safeKey allows it, else an error (csvdir refuses rather than
// renames, so an order file is always found under its session id).
func keyFileName(key string) (string, error) {
	if !safeKey(key) {
		return "", fmt.Errorf("idempotency key %q cannot be used as a file name (allowed: letters, digits, _ - . and no leading dot)", key)
	}
	return key + ".json", nil
}

// safeKey reports whether an idempotency key can be a file name as is:
// letters, digits, '_', '-' and '.', not starting with '.', at most 200
// bytes. Stripe's checkout session ids (cs_test_a1B2...) always are.
func safeKey(k string) bool {
	if k == "" || len(k) > 200 || k[0] == '.' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// PushOrder writes the order to the outbox, once per idempotency key: a
// repeated push returns the answer recorded in the existing file.
func (p *plugin) PushOrder(ctx context.Context, req *sdk.PushOrderRequest, resp *sdk.PushOrderResponse) error {
	st, err := p.current()
	if err != nil {
		return err
	}
	s := st.s
	if s.outbox == "" {
		return fmt.Errorf("no outbox directory configured: %w", sdk.ErrUnimplemented)
	}
	key := req.IdempotencyKey
	name, err := keyFileName(key)
	if err != nil {
		return fmt.Errorf("push order: %w", err)
	}
	var rec outboxFile
	data, _, written, err := p.outbox.Put(s.outbox, key, func() ([]byte, error) {
		rec = outboxFile{
			Status:           "accepted",
			BackendReference: filepath.Base(s.outbox) + "/" + name,
			ReceivedAt:       time.Now().UTC().Truncate(time.Millisecond),
			IdempotencyKey:   key,
			Order:            outbox.FromOrder(req.Order),
		}
		if s.rejectUnknown {
			idx, err := st.stock.get(ctx)
			if err != nil {
				return nil, err
			}
			if reason := unknownLines(idx, req.Order.Lines); reason != "" {
				rec.Status, rec.Reason = "rejected", reason
			}
		}
		data, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return nil, err
		}
		return append(data, '\n'), nil
	})
	if err != nil {
		return fmt.Errorf("push order %s: %w", key, err)
	}
	path := filepath.Join(s.outbox, name)
	if !written {
		prev, err := parseOutbox(path, data)
		if err != nil {
			return err
		}
		prev.answer(resp)
		return nil
	}
	sdk.Logger().Info("csvdir: order written to the outbox", "session", key, "status", rec.Status, "file", path)
	rec.answer(resp)
	return nil
}

func (r *outboxFile) answer(resp *sdk.PushOrderResponse) {
	resp.BackendReference, resp.Reason = r.BackendReference, r.Reason
	resp.Status = sdk.Accepted
	if r.Status == "rejected" {
		resp.Status = sdk.Rejected
	}
}

func readOutbox(path string) (*outboxFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseOutbox(path, data)
}

// parseOutbox reads the record in an existing outbox file.
func parseOutbox(path string, data []byte) (*outboxFile, error) {
	var rec outboxFile
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("outbox file %s exists but is not a valid order record (%v); fix or move it, it is never overwritten", path, err)
	}
	if rec.Status != "accepted" && rec.Status != "rejected" {
		return nil, fmt.Errorf("outbox file %s has status %q; want accepted or rejected", path, rec.Status)
	}
	return &rec, nil
}

// unknownLines returns a shopper-readable reason when lines name SKUs the
// catalog does not have, or "".
func unknownLines(idx *stockIndex, lines []sdk.OrderLine) string {
	var names []string
	for _, l := range lines {
		if _, ok := idx.items[idx.key(l.SKU)]; ok && l.SKU != "" {
			continue
		}
		n := l.Name
		if n == "" {
			n = l.SKU
		}
		if n == "" {
			n = "an item without a product number"
		}
		names = append(names, fmt.Sprintf("%q", n))
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return "Sorry, " + names[0] + " is no longer sold by this store."
	}
	return "Sorry, these items are no longer sold by this store: " + strings.Join(names, ", ") + "."
}
