package main

import (
	"strings"
	"testing"

	"github.com/acs-connector/acs-connector/sdk"
)

func TestNormMoney(t *testing.T) {
	tests := []struct{ in, cur, want, err string }{
		{"19.99", "USD", "19.99 USD", ""},
		{"19.9", "USD", "19.90 USD", ""},
		{"25", "USD", "25.00 USD", ""},
		{"0.50", "USD", "0.50 USD", ""},
		{".5", "USD", "0.50 USD", ""},
		{"05.00", "USD", "5.00 USD", ""},
		{"1,234.50", "USD", "1234.50 USD", ""},
		{"1200", "JPY", "1200 JPY", ""},
		{"1.5", "JPY", "", "decimal places"},
		{"19.99 USD", "EUR", "19.99 USD", ""},
		{"19.99 eur", "USD", "19.99 EUR", ""},
		{"19.99  EUR", "USD", "19.99 EUR", ""},
		{"19,99", "EUR", "", "thousands separator"},
		{"12,34,567", "USD", "", "thousands separator"},
		{"-1.00", "USD", "", "negative"},
		{"abc", "USD", "", "not a number"},
		{"1.2.3", "USD", "", `"1.2.3"`},
		{"$5", "USD", "", "not a number"},
		{"5 dollars", "USD", "", "not a number"},
	}
	for _, tt := range tests {
		got, err := normMoney(tt.in, tt.cur)
		if tt.err != "" {
			if err == nil || !contains(err.Error(), tt.err) {
				t.Errorf("normMoney(%q): %q, %v; want error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("normMoney(%q, %s) = %q, %v; want %q", tt.in, tt.cur, got, err, tt.want)
		}
	}
}

// The fast path must agree with ParseDecimal + Money wherever it applies.
func TestCanonicalAmountAgreesWithSDK(t *testing.T) {
	for _, cur := range []string{"USD", "JPY", "KWD"} {
		for _, v := range []string{"0", "0.5", "0.50", "0.500", "1", "10", "10.00", "10.000", "007.00", "99999999999.99", "1.0", "12.34", "123", "5.", ".50"} {
			if !canonicalAmount(v, sdk.CurrencyDigits(cur)) {
				continue
			}
			minor, err := sdk.ParseDecimal(v, cur)
			if err != nil || sdk.Money(minor, cur) != v+" "+cur {
				t.Errorf("%q %s: fast path %q, SDK %q (%v)", v, cur, v+" "+cur, sdk.Money(minor, cur), err)
			}
		}
	}
}

func TestNormBoolAndAvailability(t *testing.T) {
	for in, want := range map[string]string{"TRUE": "true", "Yes": "true", "1": "true", "x": "true", "no": "false", "0": "false", "": "", "maybe": "maybe"} {
		if got := normBool(in); got != want {
			t.Errorf("normBool(%q) = %q", in, got)
		}
	}
	for in, want := range map[string]string{"In Stock": "in_stock", "OUT-OF-STOCK": "out_of_stock", "Pre-order": "preorder", "backordered": "backorder", "in_stock": "in_stock", "soon": "soon"} {
		if got := normAvailability(in); got != want {
			t.Errorf("normAvailability(%q) = %q", in, got)
		}
	}
}

func TestParseQuantity(t *testing.T) {
	for in, want := range map[string]int64{"12": 12, "0": 0, "12.0": 12, "-3": -3} {
		if got, err := parseQuantity(in); err != nil || got != want {
			t.Errorf("parseQuantity(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "1.5", "ten", "-", "1e3"} {
		if _, err := parseQuantity(in); err == nil {
			t.Errorf("parseQuantity(%q) accepted", in)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
