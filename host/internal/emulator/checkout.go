package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// CheckoutInput describes an agentic checkout the emulator completes.
type CheckoutInput struct {
	Lines    []CheckoutLine
	Currency string // default "usd"
	// ShippingName and Shipping become collected_information.shipping_details
	// and, as Stripe does for agentic checkouts, the card's billing details.
	ShippingName string
	Shipping     Address
	Email        string
	Phone        string
	// ShippingAmount, ShippingDisplayName and ShippingRateMetadata describe
	// the chosen shipping rate (shipping_cost.shipping_rate, expandable). No
	// shipping cost is recorded when all three are empty.
	ShippingAmount       int64
	ShippingRateMetadata map[string]string
	ShippingDisplayName  string
	// CaptureManual leaves the PaymentIntent in requires_capture and the
	// session's payment_status unpaid.
	CaptureManual bool
	// TaxPercent is applied to each line's amount after discount (0 = no
	// tax lines).
	TaxPercent float64
	// AmountDiscount is an order-level discount spread over the lines in
	// proportion to their subtotals.
	AmountDiscount int64
	// Metadata becomes the session's metadata.
	Metadata map[string]string
	// Created overrides the creation time (zero = now), for created[gt]
	// filtering tests.
	Created time.Time
}

// CheckoutLine is one purchased SKU.
type CheckoutLine struct {
	SKU, Name, Description string
	Quantity, UnitAmount   int64
	GTIN, MPN              string
}

// Address is a postal address.
type Address struct {
	Line1, Line2, City, State, PostalCode, Country string
}

func (a Address) object() map[string]any {
	return map[string]any{
		"city":        strOrNil(a.City),
		"country":     strOrNil(a.Country),
		"line1":       strOrNil(a.Line1),
		"line2":       strOrNil(a.Line2),
		"postal_code": strOrNil(a.PostalCode),
		"state":       strOrNil(a.State),
	}
}

func (a Address) empty() bool { return a == Address{} }

// RefundInfo describes one refund.
type RefundInfo struct {
	ID, PaymentIntent, Charge string
	Amount                    int64
	Currency                  string
	Reason                    string
	Status                    string
	Metadata                  map[string]string
	Created                   time.Time
}

type sessionRec struct {
	id        string
	seq       int
	created   int64
	obj       map[string]any
	items     []map[string]any
	taxes     [][]any
	discounts [][]any
	piID      string
}

// CompleteCheckout records a completed agentic checkout: products, prices
// (external_reference = SKU), line items, taxes, a PaymentIntent (succeeded,
// or requires_capture with CaptureManual) with its latest charge (visa 4242),
// and a complete Checkout Session. It then delivers a signed
// checkout.session.completed event to the webhook.
func (e *Emulator) CompleteCheckout(in CheckoutInput) (string, error) {
	cur, subtotal, err := validateCheckout(in)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	created := e.now()
	if !in.Created.IsZero() {
		created = in.Created
	}
	ts := created.Unix()
	s := &sessionRec{id: randID("cs_test_a1", 58), created: ts}
	e.sessSeq++
	s.seq = e.sessSeq
	amountTax := e.addLineItemsLocked(s, in, cur, ts, spreadDiscount(in, subtotal))
	shippingCost, shippingOptions := e.addShippingRateLocked(in, cur, ts)
	total := subtotal - in.AmountDiscount + amountTax + in.ShippingAmount
	s.piID = e.addPaymentLocked(in, cur, ts, total)
	s.obj = sessionObject(s, in, cur, subtotal, total, amountTax, shippingCost, shippingOptions)
	e.sessions[s.id] = s
	e.sessOrder = append(e.sessOrder, s.id)
	ev := e.v1EventLocked("checkout.session.completed", copyObj(s.obj), nil)
	e.mu.Unlock()
	e.deliver(ev)
	return s.id, nil
}

// validateCheckout checks in and returns its currency and subtotal.
func validateCheckout(in CheckoutInput) (cur string, subtotal int64, err error) {
	if len(in.Lines) == 0 {
		return "", 0, errors.New("emulator: checkout needs at least one line")
	}
	cur = strings.ToLower(in.Currency)
	if cur == "" {
		cur = "usd"
	}
	for i, l := range in.Lines {
		if l.SKU == "" {
			return "", 0, fmt.Errorf("emulator: checkout line %d: SKU is required", i+1)
		}
		if l.Quantity <= 0 {
			return "", 0, fmt.Errorf("emulator: checkout line %d (%s): quantity must be positive", i+1, l.SKU)
		}
		if l.UnitAmount < 0 {
			return "", 0, fmt.Errorf("emulator: checkout line %d (%s): unit amount must not be negative", i+1, l.SKU)
		}
		subtotal += l.Quantity * l.UnitAmount
	}
	if in.AmountDiscount < 0 || in.AmountDiscount > subtotal {
		return "", 0, fmt.Errorf("emulator: discount %d must be between 0 and the subtotal %d", in.AmountDiscount, subtotal)
	}
	if in.ShippingAmount < 0 || in.TaxPercent < 0 {
		return "", 0, errors.New("emulator: shipping amount and tax percent must not be negative")
	}
	return cur, subtotal, nil
}

// spreadDiscount spreads the order-level discount over the lines in
// proportion to their subtotals; rounding remainders go to the last lines.
func spreadDiscount(in CheckoutInput, subtotal int64) []int64 {
	discounts := make([]int64, len(in.Lines))
	if in.AmountDiscount > 0 && subtotal > 0 {
		var given int64
		for i, l := range in.Lines {
			discounts[i] = in.AmountDiscount * (l.Quantity * l.UnitAmount) / subtotal
			given += discounts[i]
		}
		for i := len(in.Lines) - 1; i >= 0 && given < in.AmountDiscount; i-- {
			room := in.Lines[i].Quantity*in.Lines[i].UnitAmount - discounts[i]
			add := min(room, in.AmountDiscount-given)
			discounts[i] += add
			given += add
		}
	}
	return discounts
}

// addLineItemsLocked creates each line's product, price and line item (with
// taxes) and returns the total tax. e.mu must be held.
func (e *Emulator) addLineItemsLocked(s *sessionRec, in CheckoutInput, cur string, ts int64, discounts []int64) int64 {
	var taxRate map[string]any
	if in.TaxPercent > 0 {
		taxRate = map[string]any{
			"id":                   randID("txr_1", 23),
			"object":               "tax_rate",
			"active":               true,
			"country":              strOrNil(in.Shipping.Country),
			"created":              ts,
			"description":          nil,
			"display_name":         "Sales Tax",
			"effective_percentage": in.TaxPercent,
			"flat_amount":          nil,
			"inclusive":            false,
			"jurisdiction":         strOrNil(in.Shipping.State),
			"jurisdiction_level":   "state",
			"livemode":             false,
			"metadata":             map[string]any{},
			"percentage":           in.TaxPercent,
			"rate_type":            "percentage",
			"state":                strOrNil(in.Shipping.State),
			"tax_type":             "sales_tax",
		}
		e.objects[taxRate["id"].(string)] = taxRate
	}

	var amountTax int64
	for i, l := range in.Lines {
		name := l.Name
		if name == "" {
			name = l.SKU
		}
		prod := map[string]any{
			"id":                   randID("prod_", 14),
			"object":               "product",
			"active":               true,
			"created":              ts,
			"default_price":        nil,
			"description":          strOrNil(l.Description),
			"images":               []any{},
			"identifiers":          map[string]any{"gtin": strOrNil(l.GTIN), "mpn": strOrNil(l.MPN)},
			"livemode":             false,
			"marketing_features":   []any{},
			"metadata":             map[string]any{},
			"name":                 name,
			"package_dimensions":   nil,
			"shippable":            true,
			"statement_descriptor": nil,
			"tax_code":             nil,
			"type":                 "good",
			"unit_label":           nil,
			"updated":              ts,
			"url":                  nil,
		}
		price := map[string]any{
			"id":                  randID("price_1", 23),
			"object":              "price",
			"active":              false,
			"billing_scheme":      "per_unit",
			"created":             ts,
			"currency":            cur,
			"custom_unit_amount":  nil,
			"external_reference":  l.SKU,
			"livemode":            false,
			"lookup_key":          nil,
			"metadata":            map[string]any{},
			"nickname":            nil,
			"product":             prod["id"],
			"recurring":           nil,
			"tax_behavior":        "exclusive",
			"tiers_mode":          nil,
			"transform_quantity":  nil,
			"type":                "one_time",
			"unit_amount":         l.UnitAmount,
			"unit_amount_decimal": fmt.Sprint(l.UnitAmount),
		}
		prod["default_price"] = price["id"]
		e.objects[prod["id"].(string)] = prod
		e.objects[price["id"].(string)] = price

		sub := l.Quantity * l.UnitAmount
		var tax int64
		var taxes []any
		if taxRate != nil {
			taxable := sub - discounts[i]
			tax = int64(math.Round(float64(taxable) * in.TaxPercent / 100))
			taxes = []any{map[string]any{
				"amount":            tax,
				"rate":              taxRate,
				"taxability_reason": "standard_rated",
				"taxable_amount":    taxable,
			}}
		} else {
			taxes = []any{}
		}
		amountTax += tax
		item := map[string]any{
			"id":                  randID("li_1", 23),
			"object":              "item",
			"adjustable_quantity": nil,
			"amount_discount":     discounts[i],
			"amount_subtotal":     sub,
			"amount_tax":          tax,
			"amount_total":        sub - discounts[i] + tax,
			"currency":            cur,
			"description":         name,
			"metadata":            map[string]any{},
			"price":               price,
			"quantity":            l.Quantity,
		}
		var disc []any
		if discounts[i] > 0 {
			disc = []any{map[string]any{"amount": discounts[i], "discount": map[string]any{
				"id":               randID("di_", 24),
				"object":           "discount",
				"checkout_session": s.id,
				"coupon":           nil,
				"promotion_code":   nil,
				"start":            ts,
				"end":              nil,
			}}}
		} else {
			disc = []any{}
		}
		s.items = append(s.items, item)
		s.taxes = append(s.taxes, taxes)
		s.discounts = append(s.discounts, disc)
	}

	return amountTax
}

// addShippingRateLocked creates the chosen shipping rate, if any. e.mu must
// be held.
func (e *Emulator) addShippingRateLocked(in CheckoutInput, cur string, ts int64) (shippingCost any, shippingOptions []any) {
	shippingOptions = []any{}
	if in.ShippingAmount > 0 || in.ShippingDisplayName != "" || len(in.ShippingRateMetadata) > 0 {
		dn := in.ShippingDisplayName
		if dn == "" {
			dn = "Shipping"
		}
		rate := map[string]any{
			"id":                randID("shr_1", 23),
			"object":            "shipping_rate",
			"active":            true,
			"created":           ts,
			"delivery_estimate": nil,
			"display_name":      dn,
			"fixed_amount":      map[string]any{"amount": in.ShippingAmount, "currency": cur},
			"livemode":          false,
			"metadata":          metaAny(in.ShippingRateMetadata),
			"tax_behavior":      "exclusive",
			"tax_code":          nil,
			"type":              "fixed_amount",
		}
		e.objects[rate["id"].(string)] = rate
		shippingCost = map[string]any{
			"amount_subtotal": in.ShippingAmount,
			"amount_tax":      int64(0),
			"amount_total":    in.ShippingAmount,
			"shipping_rate":   rate["id"],
		}
		shippingOptions = []any{map[string]any{"shipping_amount": in.ShippingAmount, "shipping_rate": rate["id"]}}
	}
	return shippingCost, shippingOptions
}

// addPaymentLocked creates the payment method, charge and PaymentIntent and
// returns the PaymentIntent's id. e.mu must be held.
func (e *Emulator) addPaymentLocked(in CheckoutInput, cur string, ts, total int64) string {
	billing := map[string]any{
		"address": in.Shipping.object(),
		"email":   strOrNil(in.Email),
		"name":    strOrNil(in.ShippingName),
		"phone":   strOrNil(in.Phone),
		"tax_id":  nil,
	}
	now := time.Unix(ts, 0)
	pm := map[string]any{
		"id":              randID("pm_1", 23),
		"object":          "payment_method",
		"allow_redisplay": "unspecified",
		"billing_details": billing,
		"card":            e.cardDetails(now, false),
		"created":         ts,
		"customer":        nil,
		"livemode":        false,
		"metadata":        map[string]any{},
		"type":            "card",
	}
	e.objects[pm["id"].(string)] = pm

	piID := randID("pi_3", 24)
	chID := randID("ch_3", 24)
	e.receiptSeq++
	receipt := fmt.Sprintf("%04d-%04d", 1000+e.receiptSeq/10000, e.receiptSeq%10000)
	captured := !in.CaptureManual
	var amountCaptured int64
	if captured {
		amountCaptured = total
	}
	charge := map[string]any{
		"id":                              chID,
		"object":                          "charge",
		"amount":                          total,
		"amount_captured":                 amountCaptured,
		"amount_refunded":                 int64(0),
		"application":                     nil,
		"application_fee":                 nil,
		"application_fee_amount":          nil,
		"balance_transaction":             randID("txn_3", 24),
		"billing_details":                 copyObj(billing),
		"calculated_statement_descriptor": "ACS EMULATOR",
		"captured":                        captured,
		"created":                         ts,
		"currency":                        cur,
		"customer":                        nil,
		"description":                     nil,
		"disputed":                        false,
		"failure_balance_transaction":     nil,
		"failure_code":                    nil,
		"failure_message":                 nil,
		"fraud_details":                   map[string]any{},
		"livemode":                        false,
		"metadata":                        map[string]any{},
		"on_behalf_of":                    nil,
		"outcome": map[string]any{
			"advice_code":          nil,
			"network_advice_code":  nil,
			"network_decline_code": nil,
			"network_status":       "approved_by_network",
			"reason":               nil,
			"risk_level":           "normal",
			"risk_score":           int64(20),
			"seller_message":       "Payment complete.",
			"type":                 "authorized",
		},
		"paid":                   true,
		"payment_intent":         piID,
		"payment_method":         pm["id"],
		"payment_method_details": map[string]any{"card": e.cardDetails(now, true), "type": "card"},
		"receipt_email":          strOrNil(in.Email),
		"receipt_number":         receipt,
		"receipt_url":            "https://pay.stripe.com/receipts/payment/emulator_" + chID,
		"refunded":               false,
		"refunds": map[string]any{
			"object":   "list",
			"data":     []any{},
			"has_more": false,
			"url":      "/v1/charges/" + chID + "/refunds",
		},
		"review":                      nil,
		"shipping":                    nil,
		"source_transfer":             nil,
		"statement_descriptor":        nil,
		"statement_descriptor_suffix": nil,
		"status":                      "succeeded",
		"transfer_data":               nil,
		"transfer_group":              nil,
	}
	e.objects[chID] = charge

	piStatus, captureMethod := "succeeded", "automatic_async"
	var capturable, received int64 = 0, total
	if in.CaptureManual {
		piStatus, captureMethod = "requires_capture", "manual"
		capturable, received = total, 0
	}
	pi := map[string]any{
		"id":                                   piID,
		"object":                               "payment_intent",
		"amount":                               total,
		"amount_capturable":                    capturable,
		"amount_details":                       map[string]any{"tip": map[string]any{}},
		"amount_received":                      received,
		"application":                          nil,
		"application_fee_amount":               nil,
		"automatic_payment_methods":            nil,
		"canceled_at":                          nil,
		"cancellation_reason":                  nil,
		"capture_method":                       captureMethod,
		"client_secret":                        piID + "_secret_" + randID("", 25),
		"confirmation_method":                  "automatic",
		"created":                              ts,
		"currency":                             cur,
		"customer":                             nil,
		"description":                          nil,
		"last_payment_error":                   nil,
		"latest_charge":                        chID,
		"livemode":                             false,
		"metadata":                             map[string]any{},
		"next_action":                          nil,
		"on_behalf_of":                         nil,
		"payment_method":                       pm["id"],
		"payment_method_configuration_details": nil,
		"payment_method_options":               map[string]any{},
		"payment_method_types":                 []any{"card"},
		"processing":                           nil,
		"receipt_email":                        strOrNil(in.Email),
		"review":                               nil,
		"setup_future_usage":                   nil,
		"shipping":                             nil,
		"source":                               nil,
		"statement_descriptor":                 nil,
		"statement_descriptor_suffix":          nil,
		"status":                               piStatus,
		"transfer_data":                        nil,
		"transfer_group":                       nil,
	}
	e.objects[piID] = pi
	return piID

}

// sessionObject builds the complete session (without line_items, which is
// only included when expanded).
func sessionObject(s *sessionRec, in CheckoutInput, cur string, subtotal, total, amountTax int64, shippingCost any, shippingOptions []any) map[string]any {
	ts := s.created
	paymentStatus := "paid"
	if in.CaptureManual {
		paymentStatus = "unpaid"
	}
	var shippingDetails any
	if in.ShippingName != "" || !in.Shipping.empty() {
		shippingDetails = map[string]any{"address": in.Shipping.object(), "name": strOrNil(in.ShippingName)}
	}
	return map[string]any{
		"id":                         s.id,
		"object":                     "checkout.session",
		"adaptive_pricing":           map[string]any{"enabled": false},
		"after_expiration":           nil,
		"allow_promotion_codes":      nil,
		"amount_subtotal":            subtotal,
		"amount_total":               total,
		"automatic_tax":              map[string]any{"enabled": false, "liability": nil, "provider": nil, "status": nil},
		"billing_address_collection": nil,
		"cancel_url":                 nil,
		"client_reference_id":        nil,
		"client_secret":              nil,
		"collected_information": map[string]any{
			"business_name":    nil,
			"individual_name":  nil,
			"shipping_details": shippingDetails,
		},
		"consent":             nil,
		"consent_collection":  nil,
		"created":             ts,
		"currency":            cur,
		"currency_conversion": nil,
		"custom_fields":       []any{},
		"custom_text":         map[string]any{"after_submit": nil, "shipping_address": nil, "submit": nil, "terms_of_service_acceptance": nil},
		"customer":            nil,
		"customer_creation":   "if_required",
		"customer_details": map[string]any{
			"address":         in.Shipping.object(),
			"business_name":   nil,
			"email":           strOrNil(in.Email),
			"individual_name": nil,
			"name":            strOrNil(in.ShippingName),
			"phone":           strOrNil(in.Phone),
			"tax_exempt":      "none",
			"tax_ids":         []any{},
		},
		"customer_email":                       nil,
		"discounts":                            []any{},
		"expires_at":                           ts + 24*3600,
		"invoice":                              nil,
		"invoice_creation":                     nil,
		"livemode":                             false,
		"locale":                               nil,
		"metadata":                             metaAny(in.Metadata),
		"mode":                                 "payment",
		"origin_context":                       nil,
		"payment_intent":                       s.piID,
		"payment_link":                         nil,
		"payment_method_collection":            "if_required",
		"payment_method_configuration_details": nil,
		"payment_method_options":               map[string]any{},
		"payment_method_types":                 []any{"card"},
		"payment_status":                       paymentStatus,
		"permissions":                          nil,
		"phone_number_collection":              map[string]any{"enabled": false},
		"recovered_from":                       nil,
		"saved_payment_method_options":         nil,
		"setup_intent":                         nil,
		"shipping_address_collection":          nil,
		"shipping_cost":                        shippingCost,
		"shipping_options":                     shippingOptions,
		"status":                               "complete",
		"submit_type":                          nil,
		"subscription":                         nil,
		"success_url":                          nil,
		"total_details": map[string]any{
			"amount_discount": in.AmountDiscount,
			"amount_shipping": in.ShippingAmount,
			"amount_tax":      amountTax,
		},
		"ui_mode":        "hosted",
		"url":            nil,
		"wallet_options": nil,
	}
}

func (e *Emulator) cardDetails(now time.Time, charge bool) map[string]any {
	c := map[string]any{
		"brand":         "visa",
		"country":       "US",
		"display_brand": "visa",
		"exp_month":     int64(12),
		"exp_year":      int64(now.Year() + 3),
		"fingerprint":   "EmuL8rFngrPrnt42",
		"funding":       "credit",
		"last4":         "4242",
		"networks":      map[string]any{"available": []any{"visa"}, "preferred": nil},
		"wallet":        nil,
	}
	if charge {
		delete(c, "networks")
		c["amount_authorized"] = nil
		c["checks"] = map[string]any{"address_line1_check": "pass", "address_postal_code_check": "pass", "cvc_check": "pass"}
		c["network"] = "visa"
		c["three_d_secure"] = nil
		c["authorization_code"] = "123456"
	}
	return c
}

// Session returns a session as Stripe sends it in the webhook (nothing
// expanded).
func (e *Emulator) Session(id string) (json.RawMessage, bool) {
	b, err := e.SessionExpanded(id)
	return b, err == nil
}

// SessionExpanded returns a session with the given expand[] paths applied.
func (e *Emulator) SessionExpanded(id string, expand ...string) (json.RawMessage, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.sessions[id]
	if !ok {
		return nil, fmt.Errorf("emulator: no session %s", id)
	}
	obj, a := e.renderSessionLocked(s, expand)
	if a != nil {
		return nil, a
	}
	return json.Marshal(obj)
}

// PaymentIntent reports a PaymentIntent's status and the captured and
// refunded amounts of its latest charge.
func (e *Emulator) PaymentIntent(id string) (status string, amountCaptured, amountRefunded int64, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	pi, ok := e.objects[id]
	if !ok || pi["object"] != "payment_intent" {
		return "", 0, 0, false
	}
	ch := e.objects[pi["latest_charge"].(string)]
	return pi["status"].(string), ch["amount_captured"].(int64), ch["amount_refunded"].(int64), true
}

// Refunds lists refunds in creation order.
func (e *Emulator) Refunds() []RefundInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]RefundInfo, 0, len(e.refunds))
	for _, id := range e.refunds {
		r := e.objects[id]
		md := map[string]string{}
		for k, v := range r["metadata"].(map[string]any) {
			md[k], _ = v.(string)
		}
		reason, _ := r["reason"].(string)
		out = append(out, RefundInfo{
			ID: id, PaymentIntent: r["payment_intent"].(string), Charge: r["charge"].(string),
			Amount: r["amount"].(int64), Currency: r["currency"].(string), Reason: reason,
			Status: r["status"].(string), Metadata: md, Created: time.Unix(r["created"].(int64), 0),
		})
	}
	return out
}

// --- rendering and expansion ---

func splitPaths(paths []string, prefix string) (rest []string, hit bool) {
	for _, p := range paths {
		if p == prefix {
			hit = true
		} else if r, ok := strings.CutPrefix(p, prefix+"."); ok {
			hit = true
			rest = append(rest, r)
		}
	}
	return rest, hit
}

// lineItemsLocked renders a session's line items; itemPaths are expand paths
// relative to one item (e.g. "price.product", "taxes").
func (e *Emulator) lineItemsLocked(s *sessionRec, itemPaths []string) []map[string]any {
	_, wantTaxes := splitPaths(itemPaths, "taxes")
	_, wantDisc := splitPaths(itemPaths, "discounts")
	out := make([]map[string]any, len(s.items))
	for i, it := range s.items {
		m := copyObj(it)
		if wantTaxes {
			m["taxes"] = deepCopy(s.taxes[i])
		}
		if wantDisc {
			m["discounts"] = deepCopy(s.discounts[i])
		}
		out[i] = m
	}
	return out
}

func (e *Emulator) renderSessionLocked(s *sessionRec, paths []string) (map[string]any, *apiError) {
	obj := copyObj(s.obj)
	if rest, hit := splitPaths(paths, "line_items"); hit {
		itemPaths, _ := splitPaths(rest, "data")
		items := e.lineItemsLocked(s, itemPaths)
		const pageSize = 10 // Stripe returns the first page when line_items is expanded
		hasMore := len(items) > pageSize
		if hasMore {
			items = items[:pageSize]
		}
		data := make([]any, len(items))
		for i := range items {
			data[i] = items[i]
		}
		obj["line_items"] = map[string]any{
			"object":   "list",
			"data":     data,
			"has_more": hasMore,
			"url":      "/v1/checkout/sessions/" + s.id + "/line_items",
		}
	}
	if a := e.expandLocked(obj, paths); a != nil {
		return nil, a
	}
	return obj, nil
}

// expandLocked replaces id strings along each path with the objects they
// name.
func (e *Emulator) expandLocked(obj map[string]any, paths []string) *apiError {
	for _, p := range paths {
		segs := strings.Split(p, ".")
		if len(segs) > 4 {
			return badParam("expand", "You cannot expand more than 4 levels of a property. Property: %s", p)
		}
		if a := e.walkLocked(obj, segs, p); a != nil {
			return a
		}
	}
	return nil
}

func (e *Emulator) walkLocked(node any, segs []string, full string) *apiError {
	if len(segs) == 0 {
		return nil
	}
	switch n := node.(type) {
	case []any:
		for _, el := range n {
			if a := e.walkLocked(el, segs, full); a != nil {
				return a
			}
		}
		return nil
	case map[string]any:
		seg := segs[0]
		if n["object"] == "list" {
			if seg != "data" {
				return badParam("expand", "This property cannot be expanded (%s).", full)
			}
			return e.walkLocked(n["data"], segs[1:], full)
		}
		v, ok := n[seg]
		if !ok {
			return badParam("expand", "This property cannot be expanded (%s).", full)
		}
		if id, isID := v.(string); isID {
			target, found := e.objects[id]
			if !found {
				return badParam("expand", "This property cannot be expanded (%s).", full)
			}
			v = copyObj(target)
			n[seg] = v
		}
		if v == nil {
			return nil
		}
		return e.walkLocked(v, segs[1:], full)
	}
	return badParam("expand", "This property cannot be expanded (%s).", full)
}

// --- handlers ---

func (e *Emulator) getSession(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	if a := checkParams(c.form, "expand"); a != nil {
		writeErr(w, a)
		return
	}
	id := r.PathValue("id")
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.sessions[id]
	if !ok {
		writeErr(w, noSuch(404, "checkout.session", id, "session"))
		return
	}
	obj, a := e.renderSessionLocked(s, formList(c.form, "expand"))
	if a != nil {
		writeErr(w, a)
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

func (e *Emulator) listSessions(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	if a := checkParams(c.form, "created", "customer", "customer_account", "customer_details", "ending_before",
		"expand", "limit", "payment_intent", "payment_link", "starting_after", "status", "subscription"); a != nil {
		writeErr(w, a)
		return
	}
	rf, a := formRange(c.form, "created")
	if a != nil {
		writeErr(w, a)
		return
	}
	status, _ := formGet(c.form, "status")
	if status != "" && status != "open" && status != "complete" && status != "expired" {
		writeErr(w, badParam("status", "Invalid status: must be one of complete, expired, or open"))
		return
	}
	piFilter, _ := formGet(c.form, "payment_intent")
	paths, a := listExpand(c.form)
	if a != nil {
		writeErr(w, a)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// Newest first; sessions created in the same second keep creation order.
	order := append([]string(nil), e.sessOrder...)
	sortNewestFirst(order, func(id string) (int64, int) { s := e.sessions[id]; return s.created, s.seq })
	var items []map[string]any
	for _, id := range order {
		s := e.sessions[id]
		if !rf.match(s.created) || (status != "" && s.obj["status"] != status) || (piFilter != "" && s.piID != piFilter) {
			continue
		}
		obj, a := e.renderSessionLocked(s, paths)
		if a != nil {
			writeErr(w, a)
			return
		}
		items = append(items, obj)
	}
	page, a := paginate(c.form, items, "checkout.session", "/v1/checkout/sessions")
	if a != nil {
		writeErr(w, a)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func sortNewestFirst(ids []string, key func(string) (int64, int)) {
	// insertion sort keeps it dependency-free and stable; lists are small
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0; j-- {
			ca, sa := key(ids[j])
			cb, sb := key(ids[j-1])
			if ca > cb || (ca == cb && sa > sb) {
				ids[j], ids[j-1] = ids[j-1], ids[j]
			} else {
				break
			}
		}
	}
}

func (e *Emulator) listSessionLineItems(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	if a := checkParams(c.form, "ending_before", "expand", "limit", "starting_after"); a != nil {
		writeErr(w, a)
		return
	}
	paths, a := listExpand(c.form)
	if a != nil {
		writeErr(w, a)
		return
	}
	id := r.PathValue("id")
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.sessions[id]
	if !ok {
		writeErr(w, noSuch(404, "checkout.session", id, "session"))
		return
	}
	items := e.lineItemsLocked(s, paths)
	for _, it := range items {
		if a := e.expandLocked(it, paths); a != nil {
			writeErr(w, a)
			return
		}
	}
	page, a := paginate(c.form, items, "line item", "/v1/checkout/sessions/"+id+"/line_items")
	if a != nil {
		writeErr(w, a)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// getObject serves GET /v1/<resource>/{id} for stored objects of one type.
func (e *Emulator) getObject(objectType, what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := callFrom(r)
		if a := checkParams(c.form, "expand", "client_secret"); a != nil {
			writeErr(w, a)
			return
		}
		id := r.PathValue("id")
		e.mu.Lock()
		defer e.mu.Unlock()
		o, ok := e.objects[id]
		if !ok || o["object"] != objectType {
			writeErr(w, noSuch(404, what, id, "id"))
			return
		}
		obj := copyObj(o)
		if a := e.expandLocked(obj, formList(c.form, "expand")); a != nil {
			writeErr(w, a)
			return
		}
		writeJSON(w, http.StatusOK, obj)
	}
}

func (e *Emulator) capturePaymentIntent(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	if a := checkParams(c.form, "amount_to_capture", "application_fee_amount", "expand", "final_capture",
		"metadata", "statement_descriptor", "statement_descriptor_suffix", "transfer_data"); a != nil {
		writeErr(w, a)
		return
	}
	amt, sent, a := formInt(c.form, "amount_to_capture")
	if a != nil {
		writeErr(w, a)
		return
	}
	id := r.PathValue("id")
	e.mu.Lock()
	defer e.mu.Unlock()
	pi, ok := e.objects[id]
	if !ok || pi["object"] != "payment_intent" {
		writeErr(w, noSuch(404, "payment_intent", id, "intent"))
		return
	}
	if pi["status"] != "requires_capture" {
		writeErr(w, &apiError{status: 400, Type: "invalid_request_error", Code: "payment_intent_unexpected_state",
			DocURL:  "https://stripe.com/docs/error-codes/payment-intent-unexpected-state",
			Message: fmt.Sprintf("This PaymentIntent could not be captured because it has a status of %s. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.", pi["status"])})
		return
	}
	capturable := pi["amount_capturable"].(int64)
	if !sent {
		amt = capturable
	}
	if amt <= 0 {
		writeErr(w, badParam("amount_to_capture", "Invalid positive integer"))
		return
	}
	if amt > capturable {
		writeErr(w, &apiError{status: 400, Type: "invalid_request_error", Code: "amount_too_large", Param: "amount_to_capture",
			Message: fmt.Sprintf("The amount_to_capture (%d) cannot be greater than the amount_capturable (%d).", amt, capturable)})
		return
	}
	if md, sent := formMap(c.form, "metadata"); sent {
		applyMetadata(pi, md)
	}
	pi["status"] = "succeeded"
	pi["amount_capturable"] = int64(0)
	pi["amount_received"] = amt
	ch := e.objects[pi["latest_charge"].(string)]
	ch["captured"] = true
	ch["amount_captured"] = amt
	for _, s := range e.sessions {
		if s.piID == id {
			s.obj["payment_status"] = "paid"
		}
	}
	obj := copyObj(pi)
	if a := e.expandLocked(obj, formList(c.form, "expand")); a != nil {
		writeErr(w, a)
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

// cancelableStatuses are the PaymentIntent statuses Stripe lets
// POST /v1/payment_intents/{id}/cancel start from.
var cancelableStatuses = map[string]bool{
	"requires_payment_method": true,
	"requires_capture":        true,
	"requires_confirmation":   true,
	"requires_action":         true,
	"processing":              true,
}

// cancelPaymentIntent serves POST /v1/payment_intents/{id}/cancel. As on
// Stripe, only a PaymentIntent in one of cancelableStatuses can be canceled
// (anything else, including an already canceled one, is
// payment_intent_unexpected_state); it becomes canceled with canceled_at and
// cancellation_reason set, and for requires_capture the remaining
// amount_capturable is released: the uncaptured charge reports it as
// refunded (amount_refunded, refunded) and stays captured=false. No Refund
// object is listed for the release (GET /v1/refunds, Refunds). Every
// PaymentIntent the emulator makes belongs to a complete Checkout Session,
// which Stripe allows to cancel only from requires_capture; the emulator
// never leaves one in the other cancelable statuses.
func (e *Emulator) cancelPaymentIntent(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	if a := checkParams(c.form, "cancellation_reason", "expand"); a != nil {
		writeErr(w, a)
		return
	}
	reason, _ := formGet(c.form, "cancellation_reason")
	switch reason {
	case "", "duplicate", "fraudulent", "requested_by_customer", "abandoned":
	default:
		writeErr(w, badParam("cancellation_reason", "Invalid cancellation_reason: must be one of duplicate, fraudulent, requested_by_customer, or abandoned"))
		return
	}
	id := r.PathValue("id")
	e.mu.Lock()
	defer e.mu.Unlock()
	pi, ok := e.objects[id]
	if !ok || pi["object"] != "payment_intent" {
		writeErr(w, noSuch(404, "payment_intent", id, "intent"))
		return
	}
	status, _ := pi["status"].(string)
	if !cancelableStatuses[status] {
		writeErr(w, &apiError{status: 400, Type: "invalid_request_error", Code: "payment_intent_unexpected_state",
			DocURL:  "https://stripe.com/docs/error-codes/payment-intent-unexpected-state",
			Message: fmt.Sprintf("You cannot cancel this PaymentIntent because it has a status of %s. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.", status)})
		return
	}
	paths := formList(c.form, "expand")
	if a := e.expandLocked(copyObj(pi), paths); a != nil {
		writeErr(w, a) // refused before anything changes
		return
	}
	if status == "requires_capture" {
		if ch, ok := e.objects[pi["latest_charge"].(string)]; ok && ch["captured"] != true {
			ch["amount_refunded"] = ch["amount"].(int64) - ch["amount_captured"].(int64)
			ch["refunded"] = true
		}
	}
	pi["status"] = "canceled"
	pi["amount_capturable"] = int64(0)
	pi["canceled_at"] = e.now().Unix()
	pi["cancellation_reason"] = strOrNil(reason)
	obj := copyObj(pi)
	_ = e.expandLocked(obj, paths) // the same paths passed above
	writeJSON(w, http.StatusOK, obj)
}

func applyMetadata(obj map[string]any, md map[string]string) {
	cur, _ := obj["metadata"].(map[string]any)
	if cur == nil {
		cur = map[string]any{}
	}
	if len(md) == 0 {
		cur = map[string]any{} // metadata= clears
	}
	for k, v := range md {
		if v == "" {
			delete(cur, k)
		} else {
			cur[k] = v
		}
	}
	obj["metadata"] = cur
}

func usd(amount int64, cur string) string {
	if cur == "usd" {
		return fmt.Sprintf("$%d.%02d", amount/100, amount%100)
	}
	return fmt.Sprintf("%d %s", amount, strings.ToUpper(cur))
}

func (e *Emulator) createRefund(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	if a := checkParams(c.form, "amount", "charge", "currency", "customer", "expand", "instructions_email",
		"metadata", "origin", "payment_intent", "reason", "refund_application_fee", "reverse_transfer"); a != nil {
		writeErr(w, a)
		return
	}
	amt, amtSent, a := formInt(c.form, "amount")
	if a != nil {
		writeErr(w, a)
		return
	}
	chID, _ := formGet(c.form, "charge")
	piID, _ := formGet(c.form, "payment_intent")
	reason, _ := formGet(c.form, "reason")
	if reason != "" && reason != "duplicate" && reason != "fraudulent" && reason != "requested_by_customer" {
		writeErr(w, badParam("reason", "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer"))
		return
	}
	if chID == "" && piID == "" {
		writeErr(w, badParam("", "One of the following params should be provided for this request: payment_intent or charge."))
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var pi, ch map[string]any
	if piID != "" {
		pi = e.objects[piID]
		if pi == nil || pi["object"] != "payment_intent" {
			writeErr(w, noSuch(400, "payment_intent", piID, "payment_intent"))
			return
		}
		ch = e.objects[pi["latest_charge"].(string)]
	}
	if chID != "" {
		c2 := e.objects[chID]
		if c2 == nil || c2["object"] != "charge" {
			writeErr(w, noSuch(400, "charge", chID, "charge"))
			return
		}
		if ch != nil && ch["id"] != chID {
			writeErr(w, badParam("charge", "The charge %s does not belong to the PaymentIntent %s.", chID, piID))
			return
		}
		ch = c2
		pi = e.objects[ch["payment_intent"].(string)]
	}
	cur := ch["currency"].(string)
	if ch["captured"] != true {
		writeErr(w, badParam("", "Charge %s has not been captured, so there is nothing to refund: capture the PaymentIntent %s first (or cancel it to release the authorization).", ch["id"], pi["id"]))
		return
	}
	remaining := ch["amount_captured"].(int64) - ch["amount_refunded"].(int64)
	if remaining <= 0 {
		writeErr(w, &apiError{status: 400, Type: "invalid_request_error", Code: "charge_already_refunded",
			DocURL:  "https://stripe.com/docs/error-codes/charge-already-refunded",
			Message: fmt.Sprintf("Charge %s has already been refunded.", ch["id"])})
		return
	}
	if !amtSent {
		amt = remaining
	}
	if amt <= 0 {
		writeErr(w, badParam("amount", "Invalid positive integer"))
		return
	}
	if amt > remaining {
		writeErr(w, &apiError{status: 400, Type: "invalid_request_error", Code: "amount_too_large", Param: "amount",
			Message: fmt.Sprintf("Refund amount (%s) is greater than unrefunded amount on charge (%s)", usd(amt, cur), usd(remaining, cur))})
		return
	}
	md, _ := formMap(c.form, "metadata")
	ref := map[string]any{
		"id":                  randID("re_3", 24),
		"object":              "refund",
		"amount":              amt,
		"balance_transaction": randID("txn_3", 24),
		"charge":              ch["id"],
		"created":             e.now().Unix(),
		"currency":            cur,
		"destination_details": map[string]any{
			"card": map[string]any{"reference": nil, "reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund"},
			"type": "card",
		},
		"metadata":                 metaAny(md),
		"payment_intent":           pi["id"],
		"payment_method":           ch["payment_method"],
		"reason":                   strOrNil(reason),
		"receipt_number":           nil,
		"source_transfer_reversal": nil,
		"status":                   "succeeded",
		"transfer_reversal":        nil,
	}
	e.objects[ref["id"].(string)] = ref
	e.refunds = append(e.refunds, ref["id"].(string))
	ch["amount_refunded"] = ch["amount_refunded"].(int64) + amt
	ch["refunded"] = ch["amount_refunded"].(int64) >= ch["amount_captured"].(int64)
	rl := ch["refunds"].(map[string]any)
	rl["data"] = append([]any{copyObj(ref)}, rl["data"].([]any)...)
	obj := copyObj(ref)
	if a := e.expandLocked(obj, formList(c.form, "expand")); a != nil {
		writeErr(w, a)
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

func (e *Emulator) listRefunds(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	if a := checkParams(c.form, "charge", "created", "ending_before", "expand", "limit", "payment_intent", "starting_after"); a != nil {
		writeErr(w, a)
		return
	}
	rf, a := formRange(c.form, "created")
	if a != nil {
		writeErr(w, a)
		return
	}
	chID, _ := formGet(c.form, "charge")
	piID, _ := formGet(c.form, "payment_intent")
	paths, a := listExpand(c.form)
	if a != nil {
		writeErr(w, a)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var items []map[string]any
	for i := len(e.refunds) - 1; i >= 0; i-- {
		ref := e.objects[e.refunds[i]]
		if (chID != "" && ref["charge"] != chID) || (piID != "" && ref["payment_intent"] != piID) || !rf.match(ref["created"].(int64)) {
			continue
		}
		obj := copyObj(ref)
		if a := e.expandLocked(obj, paths); a != nil {
			writeErr(w, a)
			return
		}
		items = append(items, obj)
	}
	page, a := paginate(c.form, items, "refund", "/v1/refunds")
	if a != nil {
		writeErr(w, a)
		return
	}
	writeJSON(w, http.StatusOK, page)
}
