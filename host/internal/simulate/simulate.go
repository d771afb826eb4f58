// Package simulate plays Stripe and an agent against a running host: a
// signed customize_checkout and finalize_checkout to the host's /hooks,
// then, on approval, a completed checkout in the Stripe emulator (which
// delivers the signed checkout.session.completed to the host's /webhooks by
// itself), then it watches the host's order page until the backend has
// answered. Each step is printed with its latency.
package simulate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/hooks"
)

// StripeHookTimeout is how long Stripe waits for the approval hook before
// it declines.
const StripeHookTimeout = 4 * time.Second

// Options say whom to play against and what to buy.
type Options struct {
	// HostURL is the running host's base URL (it serves /hooks, /webhooks
	// and /orders/).
	HostURL string
	// HookSecret signs the hook requests (the host's hook secret).
	HookSecret string
	// EmulatorURL and EmulatorKey reach the Stripe emulator the host uses.
	EmulatorURL string
	EmulatorKey string
	SKU         string
	Qty         int64  // default 1
	Country     string // shipping country, default US
	Out         io.Writer
	// Timeout bounds the wait for the order's fulfilment (default 30s).
	Timeout    time.Duration
	HTTPClient *http.Client
}

// Step is one exchange and how long it took.
type Step struct {
	Name    string
	Latency time.Duration
	Detail  string
}

// Result is what happened.
type Result struct {
	Steps []Step
	// Approved is the approval hook's answer; DeclineReason is set when
	// it declined (or did not answer in time).
	Approved      bool
	DeclineReason string
	// ShippingOptionID is our option id the customize hook offered first
	// (and the simulated shopper chose).
	ShippingOptionID string
	TaxPercent       float64
	// SessionID is the emulator's completed Checkout Session.
	SessionID string
	// OrderState is the ledger state the order page last showed
	// (accepted, rejected, received, pushing, failed), "" if never shown.
	OrderState string
	// Fulfilled is true when the backend accepted the order.
	Fulfilled bool
}

type runner struct {
	opt Options
	hc  *http.Client
	res Result
}

// Run plays one checkout. An error means the run could not be completed
// (bad options, host or emulator unreachable, customize hook failed); a
// decline is not an error.
func Run(ctx context.Context, opt Options) (Result, error) {
	if opt.HostURL == "" || opt.HookSecret == "" || opt.EmulatorURL == "" || opt.SKU == "" {
		return Result{}, errors.New("simulate: HostURL, HookSecret, EmulatorURL and SKU are required")
	}
	opt.HostURL = strings.TrimRight(opt.HostURL, "/")
	opt.EmulatorURL = strings.TrimRight(opt.EmulatorURL, "/")
	if opt.Qty <= 0 {
		opt.Qty = 1
	}
	if opt.Country == "" {
		opt.Country = "US"
	}
	opt.Country = strings.ToUpper(opt.Country)
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	r := &runner{opt: opt, hc: opt.HTTPClient}
	if r.hc == nil {
		r.hc = &http.Client{Timeout: 30 * time.Second}
	}
	err := r.run(ctx)
	return r.res, err
}

func (r *runner) step(name string, start time.Time, format string, args ...any) {
	s := Step{Name: name, Latency: time.Since(start), Detail: fmt.Sprintf(format, args...)}
	r.res.Steps = append(r.res.Steps, s)
	fmt.Fprintf(r.opt.Out, "%-20s %8s  %s\n", s.Name, s.Latency.Round(time.Millisecond), s.Detail)
}

var address = map[string]string{"line1": "1 Simulation Way", "city": "Springfield", "state": "IL", "postal_code": "62701"}

func (r *runner) run(ctx context.Context) error {
	o := r.opt
	// What the catalog says the SKU costs.
	start := time.Now()
	name, unit, cur, found := r.price(ctx)
	if found {
		r.step("catalog", start, "%s %q at %s", o.SKU, name, hooks.FormatAmount(unit, cur))
	} else {
		r.step("catalog", start, "%s is not in the emulator's catalog; using %s", o.SKU, hooks.FormatAmount(unit, cur))
	}
	subtotal := unit * o.Qty
	addr := map[string]string{"country": o.Country}
	for k, v := range address {
		addr[k] = v
	}
	line := map[string]any{"id": "li_sim_1", "sku_id": o.SKU, "name": name, "quantity": o.Qty, "unit_amount": unit,
		"amount_subtotal": subtotal, "amount_discount": 0, "amount_tax": 0, "amount_total": subtotal, "tax_rates": []any{}}

	// 1. customize_checkout.
	start = time.Now()
	status, body, err := r.hook(ctx, hooks.TypeCustomize, map[string]any{
		"automatic_tax": map[string]any{"enabled": false}, "currency": cur,
		"line_item_details": []any{line},
		"shipping_details":  map[string]any{"address": addr},
		"amount_subtotal":   subtotal, "amount_total": subtotal,
	}, 0)
	if err != nil {
		r.step("customize_checkout", start, "no answer: %v", err)
		return fmt.Errorf("simulate: customize_checkout: %w", err)
	}
	if status != http.StatusOK {
		r.step("customize_checkout", start, "HTTP %d: %s (Stripe would fail the checkout with 424)", status, snippet(body))
		return fmt.Errorf("simulate: customize_checkout answered HTTP %d", status)
	}
	var cust hooks.CustomizeAnswer
	if err := json.Unmarshal(body, &cust); err != nil {
		r.step("customize_checkout", start, "unreadable answer: %s", snippet(body))
		return fmt.Errorf("simulate: customize_checkout answer: %w", err)
	}
	var ship *hooks.ShippingRateData
	if len(cust.ShippingOptions) > 0 {
		ship = &cust.ShippingOptions[0].ShippingRateData
		r.res.ShippingOptionID = ship.Metadata[hooks.ShippingOptionMetadataKey]
	}
	for _, li := range cust.LineItems {
		if li.ID == "li_sim_1" {
			for _, tr := range li.TaxRates {
				if !tr.RateData.Inclusive {
					r.res.TaxPercent += tr.RateData.Percentage
				}
			}
		}
	}
	if ship != nil {
		r.step("customize_checkout", start, "%d shipping option(s), chose %q (%s, id %q); tax %.4g%%",
			len(cust.ShippingOptions), ship.DisplayName, hooks.FormatAmount(ship.FixedAmount.Amount, cur), r.res.ShippingOptionID, r.res.TaxPercent)
	} else {
		r.step("customize_checkout", start, "no shipping options (Stripe would use the catalog's); tax %.4g%%", r.res.TaxPercent)
	}

	// 2. finalize_checkout, under Stripe's 4 s timeout.
	var shipAmount int64
	if ship != nil {
		shipAmount = ship.FixedAmount.Amount
	}
	tax := int64(float64(subtotal)*r.res.TaxPercent/100 + 0.5)
	total := subtotal + shipAmount + tax
	start = time.Now()
	fin := map[string]any{
		"amount_subtotal": subtotal, "amount_total": total, "currency": cur, "email": "shopper@example.com",
		"line_item_details":  []any{line},
		"line_items_details": []any{map[string]any{"id": "li_sim_1", "unit_amount": unit, "quantity": o.Qty, "name": name}},
		"billing_details":    map[string]any{"name": "Simulated Shopper", "address": addr},
		"shipping_details":   map[string]any{"name": "Simulated Shopper", "address": addr},
		"payment_method_details": map[string]any{"type": "card", "card": map[string]any{
			"brand": "visa", "exp_month": 12, "exp_year": time.Now().Year() + 3, "funding": "credit", "last4": "4242"}},
		"total_details": map[string]any{"amount_discount": 0, "amount_shipping": shipAmount, "amount_tax": tax},
	}
	status, body, err = r.hook(ctx, hooks.TypeFinalize, fin, StripeHookTimeout)
	switch {
	case err != nil:
		r.res.DeclineReason = "no answer within " + StripeHookTimeout.String() + ": " + err.Error()
	case status != http.StatusOK:
		r.res.DeclineReason = fmt.Sprintf("HTTP %d (Stripe answers the agent 424): %s", status, snippet(body))
	default:
		var a struct {
			ManualApprovalDetails struct {
				Type     string `json:"type"`
				Declined *struct {
					Reason string `json:"reason"`
				} `json:"declined"`
			} `json:"manual_approval_details"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			r.res.DeclineReason = "unreadable answer: " + snippet(body)
			break
		}
		switch a.ManualApprovalDetails.Type {
		case "approved":
			r.res.Approved = true
		case "declined":
			r.res.DeclineReason = "declined"
			if d := a.ManualApprovalDetails.Declined; d != nil && d.Reason != "" {
				r.res.DeclineReason = d.Reason
			}
		default:
			r.res.DeclineReason = "unknown answer: " + snippet(body)
		}
	}
	if !r.res.Approved {
		r.step("finalize_checkout", start, "declined: %s", r.res.DeclineReason)
		return nil
	}
	r.step("finalize_checkout", start, "approved, total %s", hooks.FormatAmount(total, cur))

	// 3. The payment: the emulator completes the session and delivers
	// checkout.session.completed to the host itself.
	start = time.Now()
	in := emulator.CheckoutInput{
		Lines:        []emulator.CheckoutLine{{SKU: o.SKU, Name: name, Quantity: o.Qty, UnitAmount: unit}},
		Currency:     cur,
		ShippingName: "Simulated Shopper",
		Shipping:     emulator.Address{Line1: address["line1"], City: address["city"], State: address["state"], PostalCode: address["postal_code"], Country: o.Country},
		Email:        "shopper@example.com",
		TaxPercent:   r.res.TaxPercent,
	}
	if ship != nil {
		in.ShippingAmount, in.ShippingDisplayName, in.ShippingRateMetadata = ship.FixedAmount.Amount, ship.DisplayName, ship.Metadata
	}
	id, err := r.completeCheckout(ctx, in)
	if err != nil {
		r.step("payment", start, "emulator refused the checkout: %v", err)
		return fmt.Errorf("simulate: %w", err)
	}
	r.res.SessionID = id
	r.step("payment", start, "checkout session %s complete; the emulator delivers checkout.session.completed", id)

	// 4. Watch the order page until the backend has answered.
	start = time.Now()
	deadline := time.Now().Add(o.Timeout)
	var lastErr error
	for {
		state, err := r.orderState(ctx, id)
		if err != nil {
			lastErr = err
		} else if state != "" {
			r.res.OrderState = state
		}
		if state == "accepted" || state == "rejected" {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			detail := "state " + orNone(r.res.OrderState)
			if lastErr != nil {
				detail += " (" + lastErr.Error() + ")"
			}
			r.step("fulfilment", start, "not answered within %s: %s", o.Timeout, detail)
			fmt.Fprintf(o.Out, "final order state: %s\n", orNone(r.res.OrderState))
			return fmt.Errorf("simulate: order %s not fulfilled within %s (%s)", id, o.Timeout, detail)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	r.res.Fulfilled = r.res.OrderState == "accepted"
	r.step("fulfilment", start, "order %s by the backend (%s/orders/%s)", r.res.OrderState, o.HostURL, id)
	fmt.Fprintf(o.Out, "final order state: %s\n", r.res.OrderState)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none yet)"
	}
	return s
}

// hook POSTs a signed hook request to the host.
func (r *runner) hook(ctx context.Context, typ string, data any, timeout time.Duration) (int, []byte, error) {
	var idb [12]byte
	_, _ = rand.Read(idb[:])
	body, err := json.Marshal(map[string]any{"type": typ, "id": "hook_sim_" + hex.EncodeToString(idb[:]), "livemode": false, "data": data})
	if err != nil {
		return 0, nil, err
	}
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: r.opt.HookSecret, Timestamp: time.Now()})
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.opt.HostURL+"/hooks", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", sig.Header)
	req.Header.Set("User-Agent", "Stripe/1.0 (acs-connector simulate)")
	res, err := r.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, b, err
}

// price reads the SKU's title and price from the emulator's catalog.
func (r *runner) price(ctx context.Context) (name string, unit int64, cur string, found bool) {
	name, unit, cur = r.opt.SKU, 1000, "usd"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.opt.EmulatorURL+"/_emulator/catalog", nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+r.opt.EmulatorKey)
	res, err := r.hc.Do(req)
	if err != nil {
		return
	}
	defer res.Body.Close()
	var cat map[string]map[string]string
	if res.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(res.Body, 64<<20)).Decode(&cat) != nil {
		return
	}
	row, ok := cat[r.opt.SKU]
	if !ok {
		return
	}
	if t := row["title"]; t != "" {
		name = t
	}
	p := row["price"]
	if sp := row["sale_price"]; sp != "" {
		p = sp
	}
	if a, c, ok := parsePrice(p); ok {
		return name, a, c, true
	}
	return name, unit, cur, true
}

// parsePrice reads a feed price such as "12.00 USD" into minor units.
func parsePrice(s string) (int64, string, bool) {
	f := strings.Fields(s)
	if len(f) != 2 || len(f[1]) != 3 {
		return 0, "", false
	}
	cur := strings.ToLower(f[1])
	num := strings.ReplaceAll(f[0], ",", "")
	whole, frac, _ := strings.Cut(num, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 {
		return 0, "", false
	}
	if zeroDecimal(cur) {
		return w, cur, frac == "" || strings.Trim(frac, "0") == ""
	}
	frac = (frac + "00")[:2]
	fv, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return w*100 + fv, cur, true
}

// zeroDecimal reports currencies Stripe counts in whole units (FormatAmount
// prints them without decimals).
func zeroDecimal(cur string) bool {
	return !strings.Contains(hooks.FormatAmount(1, cur), ".")
}

// completeCheckout asks the emulator for a completed checkout. The
// endpoint is the emulator's own helper, not a Stripe API, so plain
// net/http is used.
func (r *runner) completeCheckout(ctx context.Context, in emulator.CheckoutInput) (string, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.opt.EmulatorURL+"/_emulator/checkout", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.opt.EmulatorKey)
	res, err := r.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST /_emulator/checkout: HTTP %d: %s", res.StatusCode, snippet(b))
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("POST /_emulator/checkout: unreadable answer %s", snippet(b))
	}
	return out.ID, nil
}

var stateRE = regexp.MustCompile(`data-order-state="([a-z_]+)"`)

// orderState reads the ledger state from the host's order page ("" while
// the page does not know the order yet).
func (r *runner) orderState(ctx context.Context, id string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.opt.HostURL+"/orders/"+url.PathEscape(id), nil)
	if err != nil {
		return "", err
	}
	res, err := r.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", nil
	default:
		return "", fmt.Errorf("order page: HTTP %d", res.StatusCode)
	}
	m := stateRE.FindSubmatch(b)
	if m == nil {
		return "", errors.New("order page carries no data-order-state")
	}
	return string(m[1]), nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
