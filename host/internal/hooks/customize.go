package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"

	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

// CustomizeAnswer is the documented customize_checkout response.
type CustomizeAnswer struct {
	ShippingOptions []ShippingOptionAnswer `json:"shipping_options,omitempty"`
	LineItems       []LineTaxAnswer        `json:"line_items,omitempty"`
}

// ShippingOptionAnswer offers one shipping rate, created by Stripe from
// shipping_rate_data.
type ShippingOptionAnswer struct {
	ShippingRateData ShippingRateData `json:"shipping_rate_data"`
}

// ShippingRateData mirrors Stripe's shipping rate creation parameters.
type ShippingRateData struct {
	DisplayName      string            `json:"display_name,omitempty"`
	FixedAmount      FixedAmount       `json:"fixed_amount"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	TaxCode          string            `json:"tax_code,omitempty"`
	TaxBehavior      string            `json:"tax_behavior,omitempty"`
	DeliveryEstimate *DeliveryEstimate `json:"delivery_estimate,omitempty"`
}

// FixedAmount is a shipping price in minor units.
type FixedAmount struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// DeliveryEstimate bounds the delivery time.
type DeliveryEstimate struct {
	Minimum *EstimateBound `json:"minimum,omitempty"`
	Maximum *EstimateBound `json:"maximum,omitempty"`
}

// EstimateBound is one end of a delivery estimate.
type EstimateBound struct {
	Unit  string `json:"unit"`
	Value int64  `json:"value"`
}

// LineTaxAnswer sets the tax rates of one line item.
type LineTaxAnswer struct {
	ID       string          `json:"id"`
	TaxRates []TaxRateAnswer `json:"tax_rates"`
}

// TaxRateAnswer is a rate_data entry (Stripe reuses or creates a matching
// tax rate).
type TaxRateAnswer struct {
	RateData RateData `json:"rate_data"`
}

// RateData describes a tax rate.
type RateData struct {
	DisplayName string  `json:"display_name"`
	Inclusive   bool    `json:"inclusive"`
	Percentage  float64 `json:"percentage"`
}

var estimateUnits = map[string]bool{"business_day": true, "day": true, "hour": true, "month": true, "year": true}

// taxBehaviors maps what a plugin may say to Stripe's shipping-rate values.
// The seller guide writes included/excluded; Stripe's ShippingRate API and
// the proto use inclusive/exclusive, which is what is sent.
var taxBehaviors = map[string]string{
	"": "", "unspecified": "unspecified",
	"inclusive": "inclusive", "included": "inclusive",
	"exclusive": "exclusive", "excluded": "exclusive",
}

// emptyAnswer makes Stripe keep the catalog's shipping and tax.
var emptyAnswer = []byte("{}")

// customize asks the plugin for shipping options and per-line tax rates.
//
// When the plugin is missing, slow, down or fails, the answer is 200 with
// an empty object rather than an error: a non-2xx answer makes Stripe fail
// the agent's checkout update (424), while {} lets Stripe fall back to the
// shipping and tax in the product catalog, so the shopper can still buy.
// The fallback is logged at warn level.
func (h *handler) customize(ctx context.Context, env envelope, d *checkoutData) outcome {
	fallback := func(reason string) outcome {
		return outcome{body: emptyAnswer, decision: "fallback", reason: reason}
	}
	p, ok := h.opt.Plugin()
	if !ok || p == nil {
		h.log.Warn("customize hook: no plugin running; Stripe will use the catalog's shipping and tax", "id", env.ID)
		return fallback("no_plugin")
	}
	var addr *Address
	if d.ShippingDetails != nil {
		addr = d.ShippingDetails.Address
	}
	req := &pb.CustomizeCheckoutRequest{Currency: d.Currency, AutomaticTax: d.AutomaticTax.Enabled, RequestId: env.ID, ShippingAddress: addr.proto()}
	lineIDs := map[string]bool{}
	for _, l := range d.lines() {
		req.Items = append(req.Items, &pb.LineItem{LineId: l.ID, Sku: l.SKU(), Quantity: l.Quantity, Name: l.Name, UnitAmount: l.UnitAmount})
		lineIDs[l.ID] = true
	}
	bctx, cancel := h.pluginBudget(ctx)
	defer cancel()
	resp, err := callPlugin(bctx, func(ctx context.Context) (*pb.CustomizeCheckoutResponse, error) {
		return p.CustomizeCheckout(ctx, req)
	})
	if err != nil {
		reason := "plugin_error"
		switch {
		case bctx.Err() != nil:
			reason = "plugin_timeout"
		case errors.Is(err, pluginmgr.ErrUnimplemented):
			reason = "plugin_unimplemented"
		case errors.Is(err, pluginmgr.ErrUnavailable):
			reason = "plugin_unavailable"
		}
		h.log.Warn("customize hook: plugin failed; Stripe will use the catalog's shipping and tax", "id", env.ID, "err", err, "reason", reason)
		return fallback(reason)
	}

	cur := strings.ToLower(d.Currency)
	var ans CustomizeAnswer
	for i, o := range resp.GetShippingOptions() {
		name := strings.TrimSpace(o.GetDisplayName())
		if name == "" || o.GetAmount() < 0 {
			h.log.Warn("customize hook: plugin shipping option dropped (needs a display name and a non-negative amount)",
				"id", env.ID, "index", i, "option", o.GetId())
			continue
		}
		oc := strings.ToLower(o.GetCurrency())
		if oc == "" {
			oc = cur
		}
		if cur != "" && oc != cur {
			h.log.Warn("customize hook: plugin shipping option dropped (currency differs from the checkout's)",
				"id", env.ID, "option", o.GetId(), "option_currency", oc, "checkout_currency", cur)
			continue
		}
		tb, ok := taxBehaviors[strings.ToLower(strings.TrimSpace(o.GetTaxBehavior()))]
		if !ok {
			h.log.Warn("customize hook: unknown tax_behavior ignored", "id", env.ID, "option", o.GetId(), "tax_behavior", o.GetTaxBehavior())
		}
		rd := ShippingRateData{DisplayName: name, FixedAmount: FixedAmount{Amount: o.GetAmount(), Currency: oc},
			TaxCode: o.GetTaxCode(), TaxBehavior: tb}
		if id := o.GetId(); id != "" {
			rd.Metadata = map[string]string{ShippingOptionMetadataKey: id}
		} else {
			h.log.Warn("customize hook: shipping option without an id; orders choosing it cannot be mapped back to a backend method",
				"id", env.ID, "option", name)
		}
		rd.DeliveryEstimate = estimate(o.GetDeliveryEstimate())
		ans.ShippingOptions = append(ans.ShippingOptions, ShippingOptionAnswer{ShippingRateData: rd})
	}
	if !d.AutomaticTax.Enabled {
		for _, lt := range resp.GetLineTaxRates() {
			if !lineIDs[lt.GetLineId()] {
				h.log.Warn("customize hook: tax rates for an unknown line dropped", "id", env.ID, "line", lt.GetLineId())
				continue
			}
			var rates []TaxRateAnswer
			for _, r := range lt.GetRates() {
				pct := r.GetPercentage()
				if strings.TrimSpace(r.GetDisplayName()) == "" || pct < 0 || pct > 100 || math.IsNaN(pct) {
					h.log.Warn("customize hook: invalid tax rate dropped", "id", env.ID, "line", lt.GetLineId(),
						"name", r.GetDisplayName(), "percentage", pct)
					continue
				}
				rates = append(rates, TaxRateAnswer{RateData{DisplayName: r.GetDisplayName(), Inclusive: r.GetInclusive(), Percentage: pct}})
			}
			if len(rates) > 0 {
				ans.LineItems = append(ans.LineItems, LineTaxAnswer{ID: lt.GetLineId(), TaxRates: rates})
			}
		}
	}
	b, err := json.Marshal(ans)
	if err != nil {
		return fallback("encode")
	}
	return outcome{body: b, decision: "customized", reason: "ok"}
}

func estimate(e *pb.DeliveryEstimate) *DeliveryEstimate {
	if e == nil {
		return nil
	}
	var out DeliveryEstimate
	if estimateUnits[e.GetMinimumUnit()] && e.GetMinimumValue() > 0 {
		out.Minimum = &EstimateBound{Unit: e.GetMinimumUnit(), Value: e.GetMinimumValue()}
	}
	if estimateUnits[e.GetMaximumUnit()] && e.GetMaximumValue() > 0 {
		out.Maximum = &EstimateBound{Unit: e.GetMaximumUnit(), Value: e.GetMaximumValue()}
	}
	if out.Minimum == nil && out.Maximum == nil {
		return nil
	}
	return &out
}
