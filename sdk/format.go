package sdk

import (
	"strconv"
	"strings"
)

// Feed column names, as in Stripe's product, inventory and price feeds.
const (
	FieldID                  = "id"
	FieldTitle               = "title"
	FieldDescription         = "description"
	FieldLink                = "link"
	FieldBrand               = "brand"
	FieldGTIN                = "gtin"
	FieldMPN                 = "mpn"
	FieldImageLink           = "image_link"
	FieldAdditionalImageLink = "additional_image_link"
	FieldCondition           = "condition"
	FieldProductCategory     = "product_category"
	FieldGoogleCategory      = "google_product_category"
	FieldWeight              = "weight"
	FieldItemGroupID         = "item_group_id"
	FieldItemGroupTitle      = "item_group_title"
	FieldColor               = "color"
	FieldSize                = "size"
	FieldGender              = "gender"
	FieldAgeGroup            = "age_group"
	FieldMaterial            = "material"
	FieldAvailability        = "availability"
	FieldAvailabilityDate    = "availability_date"
	FieldInventoryNotTracked = "inventory_not_tracked"
	FieldInventoryQuantity   = "inventory_quantity"
	FieldPrice               = "price"
	FieldSalePrice           = "sale_price"
	FieldSalePriceDates      = "sale_price_effective_date"
	FieldTaxCode             = "stripe_product_tax_code"
	FieldShipping            = "shipping"
	FieldDelete              = "delete"
	FieldDisableCheckout     = "disable_checkout"
)

// Availability values.
const (
	InStock    = "in_stock"
	OutOfStock = "out_of_stock"
	Preorder   = "preorder"
	Backorder  = "backorder"
)

// Money formats an amount in minor units as Stripe's feed wants it:
// Money(1500, "usd") == "15.00 USD". Zero-decimal currencies (JPY, KRW, ...)
// have no fraction.
func Money(minor int64, currency string) string {
	cur := strings.ToUpper(currency)
	digits := CurrencyDigits(cur)
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := strconv.FormatInt(minor, 10)
	if digits > 0 {
		for len(s) <= digits {
			s = "0" + s
		}
		s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	}
	if neg {
		s = "-" + s
	}
	return s + " " + cur
}

// CurrencyDigits is the number of minor-unit digits of an ISO 4217 currency.
func CurrencyDigits(currency string) int {
	switch strings.ToUpper(currency) {
	case "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF",
		"UGX", "VND", "VUV", "XAF", "XOF", "XPF", "ISK":
		return 0
	case "BHD", "JOD", "KWD", "OMR", "TND":
		return 3
	}
	return 2
}

// ParseDecimal parses a decimal amount such as "19.99", "25" or "1,234.50"
// into minor units of currency without going through floating point, so
// 0.1 + 0.2 style errors cannot creep into prices. Amounts with more
// fraction digits than the currency allows are rejected, not rounded.
func ParseDecimal(s, currency string) (int64, error) {
	digits := CurrencyDigits(currency)
	t := strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	if t == "" {
		return 0, errorf("empty amount")
	}
	neg := false
	if t[0] == '-' {
		neg = true
		t = t[1:]
	}
	whole, frac, hasDot := strings.Cut(t, ".")
	if whole == "" && !hasDot || whole == "" && frac == "" {
		return 0, errorf("%q is not a number", s)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > digits {
		return 0, errorf("%q has more than %d decimal places for %s", s, digits, strings.ToUpper(currency))
	}
	for len(frac) < digits {
		frac += "0"
	}
	if whole == "" {
		whole = "0"
	}
	for _, part := range []string{whole, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return 0, errorf("%q is not a number", s)
			}
		}
	}
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, errorf("%q is out of range", s)
	}
	if neg {
		v = -v
	}
	return v, nil
}

// Bool formats a feed boolean.
func Bool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
