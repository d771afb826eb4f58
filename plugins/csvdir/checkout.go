package main

import (
	"context"
	"slices"
	"strings"

	"github.com/acs-connector/acs-connector/sdk"
)

// CustomizeCheckout offers the configured shipping options that serve the
// destination country (and match the checkout currency), and the configured
// tax rates for the destination, on every line. With Stripe Tax
// (AutomaticTax) no rates are returned.
func (p *plugin) CustomizeCheckout(ctx context.Context, req *sdk.CustomizeRequest, resp *sdk.CustomizeResponse) error {
	st, err := p.current()
	if err != nil {
		return err
	}
	s := st.s
	country, state := "", ""
	if a := req.ShippingAddress; a != nil {
		country = strings.ToUpper(strings.TrimSpace(a.Country))
		state = strings.ToUpper(strings.TrimSpace(a.State))
	}
	for i, o := range s.shipping {
		if req.Currency != "" && !strings.EqualFold(o.Currency, req.Currency) {
			continue
		}
		// Without an address yet, every option is a candidate.
		if cs := s.shipCountries[i]; len(cs) > 0 && country != "" && !slices.Contains(cs, country) {
			continue
		}
		resp.ShippingOptions = append(resp.ShippingOptions, o)
	}
	if req.AutomaticTax || country == "" {
		return nil
	}
	var rates []sdk.TaxRate
	for _, r := range s.taxRates {
		if r.Country != country || (r.State != "" && r.State != stripCountry(state, country)) {
			continue
		}
		rates = append(rates, sdk.TaxRate{DisplayName: r.Name, Percentage: r.Percentage, Inclusive: r.Inclusive})
	}
	if len(rates) == 0 {
		return nil
	}
	for _, it := range req.Items {
		resp.LineTaxRates = append(resp.LineTaxRates, sdk.LineTaxRates{LineID: it.LineID, Rates: slices.Clone(rates)})
	}
	return nil
}

// stripCountry turns an ISO 3166-2 code such as "US-CA" into "CA".
func stripCountry(state, country string) string {
	return strings.TrimPrefix(state, country+"-")
}
