// Package outbox is for plugins whose backend takes orders from a
// directory (a person, a script, an ERP import): it turns an sdk.Order
// into a JSON document, and writes one file per idempotency key, exactly
// once and atomically, so a retried PushOrder gets the first answer back
// and never makes a second order.
//
// A plugin wraps Order in its own record (its status, reference and
// whatever else its consumers need) and stores it with Writer.Put.
package outbox

import (
	"crypto/sha256"
	"encoding/hex"
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

// Order is the JSON document of a paid order. Amounts are in minor units of
// its currency (1999 = 19.99 USD); the currency is lower case, as Stripe
// writes it.
type Order struct {
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
	Lines              []Line          `json:"lines"`
	ShippingOptionID   string          `json:"shipping_option_id,omitempty"`
	ShippingOptionName string          `json:"shipping_option_name,omitempty"`
	ShippingName       string          `json:"shipping_name,omitempty"`
	ShippingAddress    *Address        `json:"shipping_address,omitempty"`
	BillingName        string          `json:"billing_name,omitempty"`
	BillingAddress     *Address        `json:"billing_address,omitempty"`
	Email              string          `json:"email,omitempty"`
	Phone              string          `json:"phone,omitempty"`
	Card               *Card           `json:"card,omitempty"`
	AgentDetails       json.RawMessage `json:"agent_details,omitempty"`
}

// Line is one order line. AmountTax is the sum of Taxes.
type Line struct {
	SKU         string `json:"sku"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Quantity    int64  `json:"quantity"`
	UnitAmount  int64  `json:"unit_amount"`
	AmountTotal int64  `json:"amount_total"`
	AmountTax   int64  `json:"amount_tax,omitempty"`
	GTIN        string `json:"gtin,omitempty"`
	MPN         string `json:"mpn,omitempty"`
	Taxes       []Tax  `json:"taxes,omitempty"`
}

// Tax is one tax on a line.
type Tax struct {
	Amount     int64   `json:"amount"`
	TaxType    string  `json:"tax_type,omitempty"`
	Percentage float64 `json:"percentage,omitempty"`
}

// Address is a postal address.
type Address struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

// Card is what Stripe tells about the card that paid.
type Card struct {
	Brand    string `json:"brand,omitempty"`
	Last4    string `json:"last4,omitempty"`
	ExpMonth int64  `json:"exp_month,omitempty"`
	ExpYear  int64  `json:"exp_year,omitempty"`
}

// FromOrder returns the document of o.
func FromOrder(o sdk.Order) Order {
	out := Order{
		CheckoutSessionID: o.CheckoutSessionID, PaymentIntentID: o.PaymentIntentID, OrderNumber: o.OrderNumber,
		Livemode: o.Livemode, Currency: strings.ToLower(o.Currency),
		AmountTotal: o.AmountTotal, AmountSubtotal: o.AmountSubtotal, AmountTax: o.AmountTax,
		AmountShipping: o.AmountShipping, AmountDiscount: o.AmountDiscount, Lines: []Line{},
		ShippingOptionID: o.ShippingOptionID, ShippingOptionName: o.ShippingOptionName,
		ShippingName: o.ShippingName, ShippingAddress: fromAddress(o.ShippingAddress),
		BillingName: o.BillingName, BillingAddress: fromAddress(o.BillingAddress),
		Email: o.Email, Phone: o.Phone,
	}
	if !o.Created.IsZero() {
		t := o.Created.UTC()
		out.Created = &t
	}
	if c := o.Card; c != nil {
		out.Card = &Card{Brand: c.Brand, Last4: c.Last4, ExpMonth: c.ExpMonth, ExpYear: c.ExpYear}
	}
	if d := strings.TrimSpace(o.AgentDetailsJSON); d != "" {
		if json.Valid([]byte(d)) {
			out.AgentDetails = json.RawMessage(d)
		} else {
			// Kept, as a string, rather than lost or made invalid JSON.
			out.AgentDetails, _ = json.Marshal(d)
		}
	}
	for _, l := range o.Lines {
		lj := Line{SKU: l.SKU, Name: l.Name, Description: l.Description, Quantity: l.Quantity,
			UnitAmount: l.UnitAmount, AmountTotal: l.AmountTotal, GTIN: l.GTIN, MPN: l.MPN}
		for _, t := range l.Taxes {
			lj.AmountTax += t.Amount
			lj.Taxes = append(lj.Taxes, Tax{Amount: t.Amount, TaxType: t.TaxType, Percentage: t.Percentage})
		}
		out.Lines = append(out.Lines, lj)
	}
	return out
}

func fromAddress(a *sdk.Address) *Address {
	if a == nil {
		return nil
	}
	return &Address{Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country}
}

// Writer stores one file per idempotency key in an outbox directory. A
// plugin keeps one Writer across configurations, so pushes of one key stay
// serialised through a reload.
type Writer struct {
	// Name turns a key into a file name, or refuses it. Default: CleanName.
	Name func(key string) (string, error)
	// Mode is the files' permission (default 0o640).
	Mode fs.FileMode

	locks keyLocks
}

// CleanName is the key itself plus ".json" when it is made of letters,
// digits, '_' and '-' (Stripe's cs_... ids are), otherwise the key with
// every other byte replaced by '_' plus a hash of the exact key, so two
// keys never share a file and no key leaves the directory.
func CleanName(key string) (string, error) {
	if key == "" {
		return "", errors.New("empty idempotency key")
	}
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, key)
	if clean == key && len(key) <= 120 {
		return key + ".json", nil
	}
	sum := sha256.Sum256([]byte(key))
	if len(clean) > 100 {
		clean = clean[:100]
	}
	return clean + "-" + hex.EncodeToString(sum[:6]) + ".json", nil
}

// Put stores the bytes build returns as key's file in dir, unless the file
// is there already. dir must exist: a plugin creates it when it is
// configured, and an outbox that vanished later (an unmounted share) is an
// error the host retries, not a new empty directory that orders go to. It returns the bytes of the file in place: the new ones
// (written=true) or the earlier ones, untouched (written=false), so the
// caller answers a retry from what it answered first. build runs only when
// the file is absent.
//
// The file is written to a dot-file, fsynced, hard-linked into place (a
// link never replaces a file another process wrote meanwhile; renamed
// where the file system has no links), and the directory is fsynced.
// Puts of one key are serialised within the process.
func (w *Writer) Put(dir, key string, build func() ([]byte, error)) (data []byte, name string, written bool, err error) {
	nameOf := w.Name
	if nameOf == nil {
		nameOf = CleanName
	}
	name, err = nameOf(key)
	if err != nil {
		return nil, "", false, err
	}
	path := filepath.Join(dir, name)
	unlock := w.locks.lock(path)
	defer unlock()

	if prev, err := os.ReadFile(path); err == nil {
		return prev, name, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, name, false, fmt.Errorf("outbox: %w", err)
	}
	data, err = build()
	if err != nil {
		return nil, name, false, err
	}
	mode := w.Mode
	if mode == 0 {
		mode = 0o640
	}
	tmp, err := writeTemp(dir, name, data, mode)
	if err != nil {
		return nil, name, false, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process wrote it first: its answer stands.
			prev, rerr := os.ReadFile(path)
			if rerr != nil {
				return nil, name, false, fmt.Errorf("outbox: %w", rerr)
			}
			return prev, name, false, nil
		}
		// File systems without hard links.
		if err := os.Rename(tmp, path); err != nil {
			return nil, name, false, fmt.Errorf("outbox: %w", err)
		}
	}
	if err := SyncDir(dir); err != nil {
		return nil, name, false, fmt.Errorf("outbox: fsync %s: %w", dir, err)
	}
	return data, name, true, nil
}

// writeTemp writes data to a synced dot-file beside name and returns its
// path.
func writeTemp(dir, name string, data []byte, mode fs.FileMode) (path string, err error) {
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("outbox: %w", err)
	}
	path = f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return "", fmt.Errorf("outbox: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return "", fmt.Errorf("outbox: write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return "", fmt.Errorf("outbox: fsync %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return "", fmt.Errorf("outbox: close %s: %w", path, err)
	}
	return path, nil
}

// SyncDir fsyncs a directory, so that a file created, linked or renamed in
// it survives a crash. File systems that cannot sync a directory are not
// an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
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
