package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
)

// outboxOrder is the file PushOrder writes: one JSON document per order,
// named after the checkout session, for whatever fulfils Shopify orders
// (a person, a script calling the Admin API) to pick up.
type outboxOrder struct {
	IdempotencyKey   string    `json:"idempotency_key"`
	Status           string    `json:"status"`
	BackendReference string    `json:"backend_reference"`
	ReceivedAt       time.Time `json:"received_at"`
	Order            orderJSON `json:"order"`
}

type addressJSON struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

type lineJSON struct {
	SKU         string `json:"sku"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Quantity    int64  `json:"quantity"`
	UnitAmount  int64  `json:"unit_amount"`
	AmountTotal int64  `json:"amount_total"`
	AmountTax   int64  `json:"amount_tax,omitempty"`
	GTIN        string `json:"gtin,omitempty"`
	MPN         string `json:"mpn,omitempty"`
}

type orderJSON struct {
	CheckoutSessionID  string       `json:"checkout_session_id"`
	PaymentIntentID    string       `json:"payment_intent_id,omitempty"`
	OrderNumber        string       `json:"order_number,omitempty"`
	Created            *time.Time   `json:"created,omitempty"`
	Livemode           bool         `json:"livemode"`
	Currency           string       `json:"currency"`
	AmountTotal        int64        `json:"amount_total"`
	AmountSubtotal     int64        `json:"amount_subtotal"`
	AmountTax          int64        `json:"amount_tax"`
	AmountShipping     int64        `json:"amount_shipping"`
	AmountDiscount     int64        `json:"amount_discount"`
	Lines              []lineJSON   `json:"lines"`
	ShippingName       string       `json:"shipping_name,omitempty"`
	ShippingAddress    *addressJSON `json:"shipping_address,omitempty"`
	ShippingOptionID   string       `json:"shipping_option_id,omitempty"`
	ShippingOptionName string       `json:"shipping_option_name,omitempty"`
	BillingName        string       `json:"billing_name,omitempty"`
	BillingAddress     *addressJSON `json:"billing_address,omitempty"`
	Email              string       `json:"email,omitempty"`
	Phone              string       `json:"phone,omitempty"`
}

func addrJSON(a *sdk.Address) *addressJSON {
	if a == nil {
		return nil
	}
	return &addressJSON{Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country}
}

func toOrderJSON(o sdk.Order) orderJSON {
	j := orderJSON{
		CheckoutSessionID: o.CheckoutSessionID, PaymentIntentID: o.PaymentIntentID, OrderNumber: o.OrderNumber,
		Livemode: o.Livemode, Currency: strings.ToUpper(o.Currency), AmountTotal: o.AmountTotal,
		AmountSubtotal: o.AmountSubtotal, AmountTax: o.AmountTax, AmountShipping: o.AmountShipping,
		AmountDiscount: o.AmountDiscount, ShippingName: o.ShippingName, ShippingAddress: addrJSON(o.ShippingAddress),
		ShippingOptionID: o.ShippingOptionID, ShippingOptionName: o.ShippingOptionName,
		BillingName: o.BillingName, BillingAddress: addrJSON(o.BillingAddress), Email: o.Email, Phone: o.Phone,
		Lines: []lineJSON{},
	}
	if !o.Created.IsZero() {
		t := o.Created.UTC()
		j.Created = &t
	}
	for _, l := range o.Lines {
		lj := lineJSON{SKU: l.SKU, Name: l.Name, Description: l.Description, Quantity: l.Quantity,
			UnitAmount: l.UnitAmount, AmountTotal: l.AmountTotal, GTIN: l.GTIN, MPN: l.MPN}
		for _, t := range l.Taxes {
			lj.AmountTax += t.Amount
		}
		j.Lines = append(j.Lines, lj)
	}
	return j
}

// outboxName is the order's file name: the idempotency key when it is made
// of letters, digits, '_' and '-' (Stripe's cs_... ids are), otherwise a
// cleaned key plus a hash of the exact key, so two keys never share a file.
func outboxName(key string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, key)
	if clean == key && len(key) <= 120 {
		return key + ".json"
	}
	sum := sha256.Sum256([]byte(key))
	if len(clean) > 100 {
		clean = clean[:100]
	}
	return clean + "-" + hex.EncodeToString(sum[:6]) + ".json"
}

// PushOrder writes the order to the outbox, atomically: a temporary file is
// written and fsynced, then linked (or renamed) into place and the
// directory fsynced. An order whose file already exists is answered from
// that file, so a retried push gets the first answer and no second file.
// Pushes are serialised within the process, and the final link refuses to
// replace a file another process wrote first.
func (p *plugin) PushOrder(_ context.Context, req *sdk.PushOrderRequest, resp *sdk.PushOrderResponse) error {
	cfg, err := p.config()
	if err != nil {
		return err
	}
	if cfg.Outbox == "" {
		return fmt.Errorf("no outbox directory is configured: %w", sdk.ErrUnimplemented)
	}
	if req.IdempotencyKey == "" {
		return errors.New("PushOrder: an idempotency key is required")
	}
	name := outboxName(req.IdempotencyKey)
	path := filepath.Join(cfg.Outbox, name)

	p.outboxMu.Lock()
	defer p.outboxMu.Unlock()
	if prev, err := readOutbox(path); err == nil {
		return answer(prev, resp)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	doc := outboxOrder{
		IdempotencyKey:   req.IdempotencyKey,
		Status:           "accepted",
		BackendReference: strings.TrimSuffix(name, ".json"),
		ReceivedAt:       time.Now().UTC().Truncate(time.Second),
		Order:            toOrderJSON(req.Order),
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("outbox: encode order %s: %w", req.IdempotencyKey, err)
	}
	data = append(data, '\n')
	if err := os.MkdirAll(cfg.Outbox, 0o750); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	tmp, err := os.CreateTemp(cfg.Outbox, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("outbox: write %s: %w", tmpName, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("outbox: fsync %s: %w", tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("outbox: close %s: %w", tmpName, err)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process wrote it first: its answer stands.
			prev, rerr := readOutbox(path)
			if rerr != nil {
				return rerr
			}
			return answer(prev, resp)
		}
		// File systems without hard links.
		if err := os.Rename(tmpName, path); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	if err := syncDir(cfg.Outbox); err != nil {
		return fmt.Errorf("outbox: fsync %s: %w", cfg.Outbox, err)
	}
	sdk.Logger().Info("order written to the outbox", "file", name, "lines", len(req.Order.Lines))
	return answer(&doc, resp)
}

func readOutbox(path string) (*outboxOrder, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc outboxOrder
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("outbox: %s is not an order file: %w", path, err)
	}
	return &doc, nil
}

func answer(doc *outboxOrder, resp *sdk.PushOrderResponse) error {
	switch doc.Status {
	case "accepted":
		resp.Status = sdk.Accepted
	case "rejected":
		resp.Status = sdk.Rejected
	default:
		return fmt.Errorf("outbox: order %s has status %q", doc.IdempotencyKey, doc.Status)
	}
	resp.BackendReference = doc.BackendReference
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
