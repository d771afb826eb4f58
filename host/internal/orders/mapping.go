package orders

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/acs-connector/acs-connector/host/internal/hooks"
	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

// The session as stripeapi.RetrieveSession returns it (expanded
// line_items.data.price.product, line_items.data.taxes,
// payment_intent.latest_charge, shipping_cost.shipping_rate). Decoded by
// hand: stripe-go's typed structs lack the preview fields (external
// reference, identifiers, agent details). JSON null decodes to zero values.
type sessionJSON struct {
	ID             string `json:"id"`
	Object         string `json:"object"`
	Created        int64  `json:"created"`
	Currency       string `json:"currency"`
	Livemode       bool   `json:"livemode"`
	Status         string `json:"status"`
	PaymentStatus  string `json:"payment_status"`
	AmountTotal    int64  `json:"amount_total"`
	AmountSubtotal int64  `json:"amount_subtotal"`
	TotalDetails   struct {
		AmountDiscount int64 `json:"amount_discount"`
		AmountShipping int64 `json:"amount_shipping"`
		AmountTax      int64 `json:"amount_tax"`
	} `json:"total_details"`
	CustomerDetails struct {
		Email string       `json:"email"`
		Phone string       `json:"phone"`
		Name  string       `json:"name"`
		Addr  *addressJSON `json:"address"`
	} `json:"customer_details"`
	CollectedInformation struct {
		ShippingDetails *shippingJSON `json:"shipping_details"`
	} `json:"collected_information"`
	// Older API versions put it at the top level.
	ShippingDetails *shippingJSON   `json:"shipping_details"`
	PaymentIntent   json.RawMessage `json:"payment_intent"`
	ShippingCost    *struct {
		AmountTotal  int64           `json:"amount_total"`
		ShippingRate json.RawMessage `json:"shipping_rate"`
	} `json:"shipping_cost"`
	LineItems *struct {
		Data    []lineItemJSON `json:"data"`
		HasMore bool           `json:"has_more"`
	} `json:"line_items"`
}

type addressJSON struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

func (a *addressJSON) proto() *pb.Address {
	if a == nil || *a == (addressJSON{}) {
		return nil
	}
	return &pb.Address{Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country}
}

type shippingJSON struct {
	Name    string       `json:"name"`
	Address *addressJSON `json:"address"`
}

type lineItemJSON struct {
	ID             string     `json:"id"`
	Description    string     `json:"description"`
	Quantity       int64      `json:"quantity"`
	AmountSubtotal int64      `json:"amount_subtotal"`
	AmountTotal    int64      `json:"amount_total"`
	Price          *priceJSON `json:"price"`
	Taxes          []struct {
		Amount int64           `json:"amount"`
		Rate   json.RawMessage `json:"rate"`
	} `json:"taxes"`
}

type priceJSON struct {
	ID                string            `json:"id"`
	ExternalReference string            `json:"external_reference"`
	UnitAmount        *int64            `json:"unit_amount"`
	Metadata          map[string]string `json:"metadata"`
	Product           json.RawMessage   `json:"product"`
}

type productJSON struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
	Identifiers struct {
		GTIN string `json:"gtin"`
		MPN  string `json:"mpn"`
	} `json:"identifiers"`
}

type taxRateJSON struct {
	ID          string  `json:"id"`
	DisplayName string  `json:"display_name"`
	TaxType     string  `json:"tax_type"`
	Percentage  float64 `json:"percentage"`
}

type paymentIntentJSON struct {
	ID            string          `json:"id"`
	Status        string          `json:"status"`
	CaptureMethod string          `json:"capture_method"`
	AgentDetails  json.RawMessage `json:"agent_details"`
	LatestCharge  json.RawMessage `json:"latest_charge"`
}

type chargeJSON struct {
	ID             string `json:"id"`
	Created        int64  `json:"created"`
	ReceiptNumber  string `json:"receipt_number"`
	BillingDetails struct {
		Name    string       `json:"name"`
		Email   string       `json:"email"`
		Phone   string       `json:"phone"`
		Address *addressJSON `json:"address"`
	} `json:"billing_details"`
	PaymentMethodDetails struct {
		Card *struct {
			Brand    string `json:"brand"`
			Last4    string `json:"last4"`
			ExpMonth int64  `json:"exp_month"`
			ExpYear  int64  `json:"exp_year"`
		} `json:"card"`
	} `json:"payment_method_details"`
}

type shippingRateJSON struct {
	ID          string            `json:"id"`
	DisplayName string            `json:"display_name"`
	Metadata    map[string]string `json:"metadata"`
}

// Mapped is a session mapped for the backend.
type Mapped struct {
	Order *pb.Order
	// Warnings name what had to fall back (a SKU that is not the price's
	// external_reference, a missing charge, ...). They are logged.
	Warnings []string
	// Status and PaymentStatus of the session, and the PaymentIntent's
	// status and capture method, for the ledger.
	Status, PaymentStatus   string
	PIStatus, CaptureMethod string
}

// expandable decodes a field that is either an id string or the expanded
// object into v; it reports whether it was an object. A bare id is returned.
func expandable(raw json.RawMessage, v any) (id string, object bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false, nil
	}
	if raw[0] == '"' {
		err = json.Unmarshal(raw, &id)
		return id, false, err
	}
	return "", true, json.Unmarshal(raw, v)
}

// MapSession maps an expanded Checkout Session (stripeapi.RetrieveSession)
// to the order pushed to the backend: every field of the seller guide's
// "Checkout session field reference" plus totals, contacts and the chosen
// shipping option. The card is brand, last4 and expiry only; Stripe never
// sends the number.
func MapSession(raw json.RawMessage) (*Mapped, error) {
	var s sessionJSON
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decode checkout session: %w", err)
	}
	if s.ID == "" || (s.Object != "" && s.Object != "checkout.session") {
		return nil, errors.New("decode checkout session: not a checkout.session object")
	}
	m := &Mapped{Status: s.Status, PaymentStatus: s.PaymentStatus}
	warn := func(format string, args ...any) { m.Warnings = append(m.Warnings, fmt.Sprintf(format, args...)) }
	o := &pb.Order{
		CheckoutSessionId: s.ID,
		Currency:          strings.ToLower(s.Currency),
		AmountTotal:       s.AmountTotal,
		AmountSubtotal:    s.AmountSubtotal,
		AmountTax:         s.TotalDetails.AmountTax,
		AmountShipping:    s.TotalDetails.AmountShipping,
		AmountDiscount:    s.TotalDetails.AmountDiscount,
		Email:             s.CustomerDetails.Email,
		Phone:             s.CustomerDetails.Phone,
		Livemode:          s.Livemode,
	}
	m.Order = o

	// Shipping address: collected_information.shipping_details.
	ship := s.CollectedInformation.ShippingDetails
	if ship == nil {
		ship = s.ShippingDetails
	}
	if ship != nil {
		o.ShippingName = ship.Name
		o.ShippingAddress = ship.Address.proto()
	} else {
		warn("no shipping details on the session")
	}
	if o.AmountShipping == 0 && s.ShippingCost != nil {
		o.AmountShipping = s.ShippingCost.AmountTotal
	}

	// Shipping option: our id travels in the rate's metadata.
	if s.ShippingCost != nil {
		var rate shippingRateJSON
		id, isObj, err := expandable(s.ShippingCost.ShippingRate, &rate)
		switch {
		case err != nil:
			return nil, fmt.Errorf("decode shipping_cost.shipping_rate: %w", err)
		case isObj:
			o.ShippingOptionName = rate.DisplayName
			o.ShippingOptionId = rate.Metadata[hooks.ShippingOptionMetadataKey]
			if o.ShippingOptionId == "" {
				warn("shipping rate %s (%q) carries no %s: it did not come from our customize hook", rate.ID, rate.DisplayName, hooks.ShippingOptionMetadataKey)
			}
		case id != "":
			warn("shipping rate %s not expanded: shipping option unknown", id)
		}
	}

	// Payment: PaymentIntent -> latest charge.
	var pi paymentIntentJSON
	piID, piObj, err := expandable(s.PaymentIntent, &pi)
	if err != nil {
		return nil, fmt.Errorf("decode payment_intent: %w", err)
	}
	if piObj {
		o.PaymentIntentId = pi.ID
		m.PIStatus, m.CaptureMethod = pi.Status, pi.CaptureMethod
		if ad := bytes.TrimSpace(pi.AgentDetails); len(ad) > 0 && string(ad) != "null" {
			var buf bytes.Buffer
			if json.Compact(&buf, ad) == nil {
				o.AgentDetailsJson = buf.String()
			}
		}
		var ch chargeJSON
		chID, chObj, err := expandable(pi.LatestCharge, &ch)
		if err != nil {
			return nil, fmt.Errorf("decode payment_intent.latest_charge: %w", err)
		}
		if chObj {
			o.Created = ch.Created
			o.OrderNumber = ch.ReceiptNumber
			o.BillingName = ch.BillingDetails.Name
			o.BillingAddress = ch.BillingDetails.Address.proto()
			if o.Email == "" {
				o.Email = ch.BillingDetails.Email
			}
			if o.Phone == "" {
				o.Phone = ch.BillingDetails.Phone
			}
			if c := ch.PaymentMethodDetails.Card; c != nil {
				o.Card = &pb.Card{Brand: c.Brand, Last4: c.Last4, ExpMonth: c.ExpMonth, ExpYear: c.ExpYear}
			}
		} else {
			warn("latest charge %q not expanded: no order date, order number, billing address or card", chID)
		}
	} else {
		o.PaymentIntentId = piID
		warn("payment intent %q not expanded: no order date, order number, billing address, card or agent details", piID)
	}
	if o.Created == 0 {
		o.Created = s.Created
	}

	if s.LineItems == nil {
		return nil, errors.New("checkout session has no line_items (expand line_items)")
	}
	if s.LineItems.HasMore {
		return nil, errors.New("checkout session line_items has more pages than were fetched")
	}
	for i, li := range s.LineItems.Data {
		line, err := mapLine(i, li, warn)
		if err != nil {
			return nil, err
		}
		o.Lines = append(o.Lines, line)
	}
	if len(o.Lines) == 0 {
		return nil, errors.New("checkout session has no line items")
	}
	return m, nil
}

func mapLine(i int, li lineItemJSON, warn func(string, ...any)) (*pb.OrderLine, error) {
	l := &pb.OrderLine{Quantity: li.Quantity, AmountTotal: li.AmountTotal, Name: li.Description}
	if li.Price == nil {
		return nil, fmt.Errorf("line item %d (%s) has no price", i+1, li.ID)
	}
	p := li.Price
	var prod productJSON
	prodID, prodObj, err := expandable(p.Product, &prod)
	if err != nil {
		return nil, fmt.Errorf("line item %d (%s): decode price.product: %w", i+1, li.ID, err)
	}
	if prodObj {
		l.Description = prod.Description
		l.Gtin = prod.Identifiers.GTIN
		l.Mpn = prod.Identifiers.MPN
		if l.Name == "" {
			l.Name = prod.Name
		}
	} else {
		warn("line item %s: product %q not expanded: no description, GTIN or MPN", li.ID, prodID)
	}

	// SKU: price.external_reference (the feed id), then a "sku" in the
	// price's or product's metadata, then the price id (reported).
	switch {
	case strings.TrimSpace(p.ExternalReference) != "":
		l.Sku = strings.TrimSpace(p.ExternalReference)
	case p.Metadata["sku"] != "":
		l.Sku = p.Metadata["sku"]
		warn("line item %s: price %s has no external_reference; SKU %q taken from price.metadata.sku", li.ID, p.ID, l.Sku)
	case prod.Metadata["sku"] != "":
		l.Sku = prod.Metadata["sku"]
		warn("line item %s: price %s has no external_reference; SKU %q taken from product.metadata.sku", li.ID, p.ID, l.Sku)
	default:
		l.Sku = p.ID
		warn("line item %s: price %s has no external_reference and no sku metadata; the price id is sent as the SKU", li.ID, p.ID)
	}

	switch {
	case p.UnitAmount != nil:
		l.UnitAmount = *p.UnitAmount
	case li.Quantity > 0:
		l.UnitAmount = li.AmountSubtotal / li.Quantity
		warn("line item %s: price %s has no unit_amount; derived from amount_subtotal", li.ID, p.ID)
	}

	for _, t := range li.Taxes {
		lt := &pb.LineTax{Amount: t.Amount}
		var rate taxRateJSON
		if _, isObj, err := expandable(t.Rate, &rate); err != nil {
			return nil, fmt.Errorf("line item %s: decode taxes[].rate: %w", li.ID, err)
		} else if isObj {
			lt.TaxType, lt.Percentage = rate.TaxType, rate.Percentage
		}
		l.Taxes = append(l.Taxes, lt)
	}
	return l, nil
}
