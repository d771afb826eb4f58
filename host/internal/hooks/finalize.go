package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

// Address is a postal address in a hook request.
type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

func (a *Address) proto() *pb.Address {
	if a == nil {
		return nil
	}
	return &pb.Address{Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country}
}

// Line is one line item in a hook request. The docs name finalize's list
// line_items_details without sku_id; real payloads (and customize) use
// line_item_details with sku_id. Both are read.
type Line struct {
	ID         string `json:"id"`
	SKUID      string `json:"sku_id"`
	UnitAmount int64  `json:"unit_amount"`
	Quantity   int64  `json:"quantity"`
	Name       string `json:"name"`
}

// SKU is sku_id when present, else the line's id.
func (l Line) SKU() string {
	if s := strings.TrimSpace(l.SKUID); s != "" {
		return s
	}
	return l.ID
}

func (l Line) display() string {
	if n := strings.TrimSpace(l.Name); n != "" {
		return n
	}
	return l.SKU()
}

type shippingDetails struct {
	Name    string   `json:"name"`
	Address *Address `json:"address"`
}

// checkoutData is the data of both hook types: they describe the same
// checkout, and customize_checkout adds automatic_tax.
type checkoutData struct {
	AmountSubtotal *int64 `json:"amount_subtotal"`
	AmountTotal    *int64 `json:"amount_total"`
	AutomaticTax   struct {
		Enabled bool `json:"enabled"`
	} `json:"automatic_tax"`
	Currency         string           `json:"currency"`
	LineItemsDetails []Line           `json:"line_items_details"`
	LineItemDetails  []Line           `json:"line_item_details"`
	ShippingDetails  *shippingDetails `json:"shipping_details"`
}

// lines returns the line items under either documented spelling.
func (d *checkoutData) lines() []Line {
	if len(d.LineItemDetails) > 0 {
		return d.LineItemDetails
	}
	return d.LineItemsDetails
}

func (d *checkoutData) address() *Address {
	if d.ShippingDetails == nil {
		return nil
	}
	return d.ShippingDetails.Address
}

type approval struct {
	ManualApprovalDetails approvalDetails `json:"manual_approval_details"`
}

type approvalDetails struct {
	Type     string    `json:"type"`
	Declined *declined `json:"declined,omitempty"`
}

type declined struct {
	Reason string `json:"reason"`
}

func approved(reason string) outcome {
	b, _ := json.Marshal(approval{approvalDetails{Type: "approved"}})
	return outcome{body: b, decision: "approved", reason: reason}
}

func decline(metricReason, shopperReason string) outcome {
	if len(shopperReason) > 500 {
		shopperReason = shopperReason[:497] + "..."
	}
	b, _ := json.Marshal(approval{approvalDetails{Type: "declined", Declined: &declined{Reason: shopperReason}}})
	return outcome{body: b, decision: "declined", reason: metricReason}
}

// failurePolicy answers when availability could not be checked.
func (h *handler) failurePolicy(metricReason string) outcome {
	if h.approveOnFailure {
		return approved(metricReason)
	}
	return decline(metricReason, UnavailableReason)
}

// finalize applies the rules, then asks the plugin about every line.
func (h *handler) finalize(ctx context.Context, env envelope, d *checkoutData) outcome {
	lines := d.lines()
	if len(lines) == 0 {
		return decline("invalid", "We couldn't read the items in this order. Please try again.")
	}
	for _, l := range lines {
		if l.Quantity <= 0 {
			return decline("invalid", fmt.Sprintf("The quantity of %s is not valid.", l.display()))
		}
		if l.SKU() == "" {
			return decline("invalid", fmt.Sprintf("We couldn't identify %s.", l.display()))
		}
		if h.opt.MaxQuantity > 0 && l.Quantity > h.opt.MaxQuantity {
			return decline("max_quantity", fmt.Sprintf("You can buy at most %d of %s in one order.", h.opt.MaxQuantity, l.display()))
		}
	}
	if h.countries != nil {
		a := d.address()
		country := ""
		if a != nil {
			country = strings.ToUpper(strings.TrimSpace(a.Country))
		}
		if country == "" {
			return decline("country", "Please add a shipping address so we can confirm delivery.")
		}
		if !h.countries[country] {
			return decline("country", fmt.Sprintf("Sorry, we don't ship to %s.", country))
		}
	}
	if h.opt.MaxOrderAmount > 0 && d.AmountTotal != nil && *d.AmountTotal > h.opt.MaxOrderAmount {
		return decline("max_amount", fmt.Sprintf("This order is above our limit of %s per order.", FormatAmount(h.opt.MaxOrderAmount, d.Currency)))
	}

	p, ok := h.opt.Plugin()
	if !ok || p == nil {
		h.log.Warn("approval hook: no availability plugin running; answering by policy", "id", env.ID, "on_failure", h.policyName())
		return h.failurePolicy("no_plugin")
	}
	req := &pb.CheckAvailabilityRequest{Currency: d.Currency, RequestId: env.ID, ShippingAddress: d.address().proto()}
	for _, l := range lines {
		req.Items = append(req.Items, &pb.LineItem{LineId: l.ID, Sku: l.SKU(), Quantity: l.Quantity, Name: l.Name, UnitAmount: l.UnitAmount})
	}
	bctx, cancel := h.pluginBudget(ctx)
	defer cancel()
	resp, err := callPlugin(bctx, func(ctx context.Context) (*pb.CheckAvailabilityResponse, error) {
		return p.CheckAvailability(ctx, req)
	})
	if err != nil {
		reason := "plugin_error"
		switch {
		case bctx.Err() != nil:
			reason = "plugin_timeout"
		case errors.Is(err, pluginmgr.ErrUnavailable):
			reason = "plugin_unavailable"
		}
		h.log.Warn("approval hook: availability check failed; answering by policy", "id", env.ID, "err", err,
			"reason", reason, "on_failure", h.policyName())
		return h.failurePolicy(reason)
	}

	// Lines of the same SKU count together.
	want := map[string]int64{}
	names := map[string]string{}
	var order []string
	for _, l := range lines {
		sku := l.SKU()
		if _, seen := want[sku]; !seen {
			order = append(order, sku)
			names[sku] = l.display()
		}
		want[sku] += l.Quantity
	}
	got := map[string]*pb.ItemAvailability{}
	for _, it := range resp.GetItems() {
		if _, dup := got[it.GetSku()]; !dup {
			got[it.GetSku()] = it
		}
	}
	var problems []string
	for _, sku := range order {
		it := got[sku]
		switch {
		case it == nil:
			h.log.Warn("approval hook: plugin did not answer for a SKU", "id", env.ID, "sku", sku)
			problems = append(problems, fmt.Sprintf("we couldn't confirm that %s is available", names[sku]))
		case !it.GetAvailable():
			if r := strings.TrimSpace(it.GetReason()); r != "" {
				problems = append(problems, fmt.Sprintf("%s is unavailable (%s)", names[sku], r))
			} else {
				problems = append(problems, fmt.Sprintf("%s is unavailable", names[sku]))
			}
		case it.GetQuantityAvailable() > 0 && it.GetQuantityAvailable() < want[sku]:
			problems = append(problems, fmt.Sprintf("only %d of %s left", it.GetQuantityAvailable(), names[sku]))
		}
	}
	if len(problems) > 0 {
		return decline("unavailable", "Sorry, "+strings.Join(problems, "; ")+".")
	}
	return approved("ok")
}

func (h *handler) policyName() string {
	if h.approveOnFailure {
		return "approve"
	}
	return "decline"
}

// zeroDecimal are ISO 4217 currencies Stripe counts in whole units.
var zeroDecimal = map[string]bool{
	"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true, "krw": true, "mga": true,
	"pyg": true, "rwf": true, "ugx": true, "vnd": true, "vuv": true, "xaf": true, "xof": true, "xpf": true,
}

// FormatAmount renders minor units for shoppers: 123456 usd -> "1,234.56 USD".
func FormatAmount(minor int64, currency string) string {
	cur := strings.ToLower(currency)
	neg := minor < 0
	if neg {
		minor = -minor
	}
	var whole, frac int64
	decimals := 2
	if zeroDecimal[cur] {
		decimals = 0
		whole = minor
	} else {
		whole, frac = minor/100, minor%100
	}
	s := groupThousands(strconv.FormatInt(whole, 10))
	if decimals == 2 {
		s += fmt.Sprintf(".%02d", frac)
	}
	if neg {
		s = "-" + s
	}
	if cur != "" {
		s += " " + strings.ToUpper(cur)
	}
	return s
}

func groupThousands(s string) string {
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}
