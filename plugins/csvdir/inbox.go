package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/outbox"
)

const processedDir = "processed"

// updateFile is one order update in the inbox, written by the merchant's
// backend.
type updateFile struct {
	ID                *string         `json:"id"`
	CheckoutSessionID string          `json:"checkout_session_id"`
	Kind              string          `json:"kind"`
	Lines             []updateLine    `json:"lines"`
	RefundAmount      json.RawMessage `json:"refund_amount"`
	Reason            string          `json:"reason"`
	TrackingNumber    string          `json:"tracking_number"`
	Carrier           string          `json:"carrier"`
	OccurredAt        string          `json:"occurred_at"`
}

type updateLine struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// isUpdateFile says whether a directory entry is an update to read: a
// *.json file that is not hidden and not a temp file still being written.
func isUpdateFile(e fs.DirEntry) bool {
	n := e.Name()
	return !e.IsDir() && !strings.HasPrefix(n, ".") && strings.HasSuffix(strings.ToLower(n), ".json")
}

func listInbox(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if isUpdateFile(e) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// ReadOrderUpdates returns the updates in the inbox, oldest file name first.
// A file that cannot be read as an update comes back in resp.Errors with
// the file name as origin and the offending field; it stays in the inbox
// (and is reported again) until it is fixed or removed.
func (p *plugin) ReadOrderUpdates(ctx context.Context, req *sdk.OrderUpdatesRequest, resp *sdk.OrderUpdatesResponse) error {
	st, err := p.current()
	if err != nil {
		return err
	}
	s := st.s
	if s.inbox == "" {
		return fmt.Errorf("no inbox directory configured: %w", sdk.ErrUnimplemented)
	}
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	names, err := listInbox(s.inbox)
	if err != nil {
		return fmt.Errorf("read order updates: %w", err)
	}
	ids := map[string]string{}
	for _, name := range names {
		if len(resp.Updates) >= limit {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		u, field, err := s.parseUpdate(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // acked or moved away meanwhile
			}
			resp.Errors = append(resp.Errors, sdk.RecordError{Origin: name, Field: field, Message: err.Error()})
			continue
		}
		if other, dup := ids[u.ID]; dup {
			resp.Errors = append(resp.Errors, sdk.RecordError{Origin: name, Field: "id", Message: fmt.Sprintf("id %q is already used by %s; every update needs its own id", u.ID, other)})
			continue
		}
		ids[u.ID] = name
		resp.Updates = append(resp.Updates, u)
	}
	return nil
}

// parseUpdate reads one inbox file. On failure it returns the JSON field at
// fault ("" for the file as a whole).
func (s *settings) parseUpdate(name string) (sdk.OrderUpdate, string, error) {
	var u sdk.OrderUpdate
	path := filepath.Join(s.inbox, name)
	f, err := os.Open(path)
	if err != nil {
		return u, "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return u, "", err
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err != nil {
		return u, "", err
	}
	if len(data) > 1<<20 {
		return u, "", errors.New("file is larger than 1 MiB; an order update is a small JSON object")
	}
	var in updateFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return u, jsonErrorField(err), jsonErrorMessage(err, data)
	}
	if dec.More() {
		return u, "", errors.New("more than one JSON value in the file; write one update per file")
	}

	u.ID = strings.TrimSuffix(name, filepath.Ext(name))
	if in.ID != nil {
		if strings.TrimSpace(*in.ID) == "" {
			return u, "id", errors.New("id is empty; leave it out to use the file name")
		}
		u.ID = strings.TrimSpace(*in.ID)
	}
	u.Origin = name
	u.SessionID = strings.TrimSpace(in.CheckoutSessionID)
	if u.SessionID == "" {
		return u, "checkout_session_id", errors.New("required: the checkout session id of the order (the outbox file name without .json)")
	}
	switch strings.ToLower(strings.TrimSpace(in.Kind)) {
	case "shipped":
		u.Kind = sdk.Shipped
	case "cancelled", "canceled":
		u.Kind = sdk.Cancelled
	case "partially_cancelled", "partially_canceled":
		u.Kind = sdk.PartiallyCancelled
	case "":
		return u, "kind", errors.New("required: shipped, cancelled or partially_cancelled")
	default:
		return u, "kind", fmt.Errorf("%q is not one of shipped, cancelled, partially_cancelled", in.Kind)
	}
	for i, l := range in.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		if strings.TrimSpace(l.SKU) == "" {
			return u, field + ".sku", errors.New("required: the SKU of the cancelled item")
		}
		if l.Quantity <= 0 {
			return u, field + ".quantity", fmt.Errorf("%d is not a positive quantity", l.Quantity)
		}
		u.Lines = append(u.Lines, sdk.LineItem{SKU: strings.TrimSpace(l.SKU), Quantity: l.Quantity})
	}
	if u.Kind == sdk.PartiallyCancelled && len(u.Lines) == 0 {
		return u, "lines", errors.New("required for partially_cancelled: the cancelled SKUs and quantities")
	}
	if len(in.RefundAmount) > 0 && string(in.RefundAmount) != "null" {
		amt, err := parseRefund(in.RefundAmount, s.currency)
		if err != nil {
			return u, "refund_amount", err
		}
		u.RefundAmount = amt
	}
	u.Reason = strings.TrimSpace(in.Reason)
	u.TrackingNumber = strings.TrimSpace(in.TrackingNumber)
	u.Carrier = strings.TrimSpace(in.Carrier)
	if t := strings.TrimSpace(in.OccurredAt); t != "" {
		at, err := time.Parse(time.RFC3339, t)
		if err != nil {
			return u, "occurred_at", fmt.Errorf("%q is not an RFC 3339 time such as 2026-05-31T14:00:00Z", t)
		}
		u.OccurredAt = at.UTC()
	} else {
		u.OccurredAt = fi.ModTime().UTC().Truncate(time.Second)
	}
	return u, "", nil
}

// parseRefund reads refund_amount: an integer in minor units (1250), or a
// decimal string with or without currency ("12.50", "12.50 EUR").
func parseRefund(raw json.RawMessage, currency string) (int64, error) {
	var v int64
	if raw[0] == '"' {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return 0, err
		}
		str = strings.TrimSpace(str)
		cur := currency
		if i := strings.LastIndexByte(str, ' '); i > 0 && isCurrencyCode(str[i+1:]) {
			str, cur = strings.TrimSpace(str[:i]), str[i+1:]
		}
		if err := checkThousands(str); err != nil {
			return 0, err
		}
		amt, err := sdk.ParseDecimal(str, cur)
		if err != nil {
			return 0, err
		}
		v = amt
	} else {
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, fmt.Errorf("%s: a number must be a whole amount in minor units (1250 for 12.50); or write a string such as \"12.50\"", raw)
		}
		v = int64(f)
	}
	if v < 0 {
		return 0, fmt.Errorf("%s is negative", raw)
	}
	return v, nil
}

func jsonErrorField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return strings.Trim(f, `"`)
	}
	return ""
}

func jsonErrorMessage(err error, data []byte) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Errorf("expected %s, got %s", te.Type, te.Value)
	case errors.As(err, &se):
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return fmt.Errorf("not valid JSON at line %d: %v", line, se)
	case errors.Is(err, io.EOF):
		return errors.New("file is empty")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errors.New("unknown field; the fields are id, checkout_session_id, kind, lines, refund_amount, reason, tracking_number, carrier, occurred_at")
	}
	return fmt.Errorf("not valid JSON: %v", err)
}

// AckOrderUpdates moves the files of the acknowledged updates to
// inbox/processed/, so they are not returned again. Ids that are no longer
// in the inbox (acked before) are ignored.
func (p *plugin) AckOrderUpdates(ctx context.Context, ids []string) error {
	st, err := p.current()
	if err != nil {
		return err
	}
	s := st.s
	if s.inbox == "" {
		return fmt.Errorf("no inbox directory configured: %w", sdk.ErrUnimplemented)
	}
	if len(ids) == 0 {
		return nil
	}
	p.inboxMu.Lock()
	defer p.inboxMu.Unlock()
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	names, err := listInbox(s.inbox)
	if err != nil {
		return fmt.Errorf("ack order updates: %w", err)
	}
	done := filepath.Join(s.inbox, processedDir)
	if err := os.MkdirAll(done, 0o750); err != nil {
		return fmt.Errorf("ack order updates: %w", err)
	}
	moved := 0
	for _, name := range names {
		// Parse rather than trust the file name: the id may be inside.
		u, _, err := s.parseUpdate(name)
		if err != nil || !want[u.ID] {
			continue
		}
		dst := filepath.Join(done, name)
		if ok, _ := exists(dst); ok {
			ext := filepath.Ext(name)
			dst = filepath.Join(done, fmt.Sprintf("%s.%d%s", strings.TrimSuffix(name, ext), time.Now().UnixNano(), ext))
		}
		if err := os.Rename(filepath.Join(s.inbox, name), dst); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("ack order updates: %w", err)
		}
		moved++
	}
	if moved > 0 {
		if err := outbox.SyncDir(s.inbox); err != nil {
			return err
		}
		if err := outbox.SyncDir(done); err != nil {
			return err
		}
	}
	return nil
}
