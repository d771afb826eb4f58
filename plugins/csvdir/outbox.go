package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
)

// outboxFile is what PushOrder writes to <outbox>/<session id>.json: the
// order, plus the answer the host got. Amounts are in minor units of the
// order's currency (1999 = 19.99 USD).
type outboxFile struct {
	Status           string    `json:"status"` // accepted | rejected
	BackendReference string    `json:"backend_reference"`
	Reason           string    `json:"reason,omitempty"`
	ReceivedAt       time.Time `json:"received_at"`
	IdempotencyKey   string    `json:"idempotency_key"`
	orderJSON
}

type orderJSON struct {
	CheckoutSessionID  string          `json:"checkout_session_id"`
	PaymentIntentID    string          `json:"payment_intent_id,omitempty"`
	OrderNumber        string          `json:"order_number,omitempty"`
	Created            *time.Time      `json:"created,omitempty"`
	Livemode           bool            `json:"livemode"`
	Currency           string          `json:"currency"`
	AmountTotal        int64           `json:"amount_total"`
	AmountSubtotal     int64           `json:"amount_subtotal"`
	AmountTax          int64           `json:"amount_tax"`
	AmountShipping     int64           `json:"amount_shipping"`
	AmountDiscount     int64           `json:"amount_discount"`
	Lines              []lineJSON      `json:"lines"`
	ShippingOptionID   string          `json:"shipping_option_id,omitempty"`
	ShippingOptionName string          `json:"shipping_option_name,omitempty"`
	ShippingName       string          `json:"shipping_name,omitempty"`
	ShippingAddress    *addressJSON    `json:"shipping_address,omitempty"`
	BillingName        string          `json:"billing_name,omitempty"`
	BillingAddress     *addressJSON    `json:"billing_address,omitempty"`
	Email              string          `json:"email,omitempty"`
	Phone              string          `json:"phone,omitempty"`
	Card               *cardJSON       `json:"card,omitempty"`
	AgentDetails       json.RawMessage `json:"agent_details,omitempty"`
}

type lineJSON struct {
	SKU         string    `json:"sku"`
	Name        string    `json:"name,omitempty"`
	Description string    `json:"description,omitempty"`
	Quantity    int64     `json:"quantity"`
	UnitAmount  int64     `json:"unit_amount"`
	AmountTotal int64     `json:"amount_total"`
	GTIN        string    `json:"gtin,omitempty"`
	MPN         string    `json:"mpn,omitempty"`
	Taxes       []taxJSON `json:"taxes,omitempty"`
}

type taxJSON struct {
	Amount     int64   `json:"amount"`
	TaxType    string  `json:"tax_type,omitempty"`
	Percentage float64 `json:"percentage,omitempty"`
}

type addressJSON struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

type cardJSON struct {
	Brand    string `json:"brand,omitempty"`
	Last4    string `json:"last4,omitempty"`
	ExpMonth int64  `json:"exp_month,omitempty"`
	ExpYear  int64  `json:"exp_year,omitempty"`
}

func toOrderJSON(o sdk.Order) orderJSON {
	out := orderJSON{
		CheckoutSessionID: o.CheckoutSessionID, PaymentIntentID: o.PaymentIntentID, OrderNumber: o.OrderNumber,
		Livemode: o.Livemode, Currency: strings.ToLower(o.Currency),
		AmountTotal: o.AmountTotal, AmountSubtotal: o.AmountSubtotal, AmountTax: o.AmountTax,
		AmountShipping: o.AmountShipping, AmountDiscount: o.AmountDiscount, Lines: []lineJSON{},
		ShippingOptionID: o.ShippingOptionID, ShippingOptionName: o.ShippingOptionName,
		ShippingName: o.ShippingName, ShippingAddress: toAddressJSON(o.ShippingAddress),
		BillingName: o.BillingName, BillingAddress: toAddressJSON(o.BillingAddress),
		Email: o.Email, Phone: o.Phone,
	}
	if !o.Created.IsZero() {
		t := o.Created.UTC()
		out.Created = &t
	}
	if c := o.Card; c != nil {
		out.Card = &cardJSON{Brand: c.Brand, Last4: c.Last4, ExpMonth: c.ExpMonth, ExpYear: c.ExpYear}
	}
	if d := strings.TrimSpace(o.AgentDetailsJSON); d != "" {
		if json.Valid([]byte(d)) {
			out.AgentDetails = json.RawMessage(d)
		} else {
			out.AgentDetails, _ = json.Marshal(d)
		}
	}
	for _, l := range o.Lines {
		lj := lineJSON{SKU: l.SKU, Name: l.Name, Description: l.Description, Quantity: l.Quantity,
			UnitAmount: l.UnitAmount, AmountTotal: l.AmountTotal, GTIN: l.GTIN, MPN: l.MPN}
		for _, t := range l.Taxes {
			lj.Taxes = append(lj.Taxes, taxJSON{Amount: t.Amount, TaxType: t.TaxType, Percentage: t.Percentage})
		}
		out.Lines = append(out.Lines, lj)
	}
	return out
}

func toAddressJSON(a *sdk.Address) *addressJSON {
	if a == nil {
		return nil
	}
	return &addressJSON{Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country}
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
	if !safeKey(key) {
		return fmt.Errorf("push order: idempotency key %q cannot be used as a file name (allowed: letters, digits, _ - . and no leading dot)", key)
	}
	name := key + ".json"
	path := filepath.Join(s.outbox, name)
	unlock := p.locks.lock(path)
	defer unlock()

	if rec, err := readOutbox(path); err == nil {
		rec.answer(resp)
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	rec := outboxFile{
		Status:           "accepted",
		BackendReference: filepath.Base(s.outbox) + "/" + name,
		ReceivedAt:       time.Now().UTC().Truncate(time.Millisecond),
		IdempotencyKey:   key,
		orderJSON:        toOrderJSON(req.Order),
	}
	if s.rejectUnknown {
		idx, err := st.stock.get(ctx)
		if err != nil {
			return fmt.Errorf("push order %s: %w", key, err)
		}
		if reason := unknownLines(idx, req.Order.Lines); reason != "" {
			rec.Status, rec.Reason = "rejected", reason
		}
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("push order %s: %w", key, err)
	}
	if err := writeFileAtomic(s.outbox, name, append(data, '\n')); err != nil {
		return fmt.Errorf("push order %s: %w", key, err)
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

// writeFileAtomic writes data to dir/name so that readers see either no
// file or the whole file: a temp file in the same directory is written,
// synced and renamed, then the directory is synced so the rename survives a
// crash.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o640); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// keyLocks is a mutex per key, dropped when nobody holds or waits for it.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyLock)
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
