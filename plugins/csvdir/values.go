package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/acs-connector/acs-connector/sdk"
)

// normMoney turns a price cell into feed encoding. A bare amount ("19.99",
// "1,234.50") gets the default currency; an amount that already names its
// currency ("19.99 USD") passes through, with the code upper-cased.
func normMoney(v, currency string) (string, error) {
	b, err := appendMoney(nil, v, currency)
	return string(b), err
}

// appendMoney is normMoney appending to dst, so that a read can put a row's
// amounts in one reused buffer: a string per amount was most of what a
// read left for the GC.
func appendMoney(dst []byte, v, currency string) ([]byte, error) {
	if v == "" {
		return dst, nil
	}
	if i := strings.LastIndexByte(v, ' '); i > 0 && isCurrencyCode(v[i+1:]) {
		num, cur := strings.TrimSpace(v[:i]), v[i+1:]
		if err := checkAmount(num, cur); err != nil {
			return dst, err
		}
		dst = append(append(dst, num...), ' ')
		for j := range len(cur) {
			c := cur[j]
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
		}
		return dst, nil
	}
	if canonicalAmount(v, sdk.CurrencyDigits(currency)) {
		// What ParseDecimal + Money would produce, without the allocations.
		return append(append(append(dst, v...), ' '), currency...), nil
	}
	if err := checkThousands(v); err != nil {
		return dst, err
	}
	minor, err := sdk.ParseDecimal(v, currency)
	if err != nil {
		return dst, err
	}
	if minor < 0 {
		return dst, fmt.Errorf("%q is negative", v)
	}
	return append(dst, sdk.Money(minor, currency)...), nil
}

// canonicalAmount reports whether v is already how sdk.Money writes an
// amount with the given number of decimals: "19.99", "0.50", "1200" for
// zero-decimal currencies; no sign, no leading zeros, no separators.
func canonicalAmount(v string, digits int) bool {
	whole := len(v)
	if digits > 0 {
		whole = len(v) - digits - 1
		if whole < 1 || v[whole] != '.' {
			return false
		}
	}
	if whole < 1 || whole > 15 || (v[0] == '0' && whole > 1) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if i != whole && (v[i] < '0' || v[i] > '9') {
			return false
		}
	}
	return true
}

func checkAmount(num, cur string) error {
	if err := checkThousands(num); err != nil {
		return err
	}
	minor, err := sdk.ParseDecimal(num, cur)
	if err != nil {
		return err
	}
	if minor < 0 {
		return fmt.Errorf("%q is negative", num)
	}
	return nil
}

// checkThousands refuses a decimal comma ("19,99"), which ParseDecimal would
// read as a thousands separator and turn into 1999.
func checkThousands(v string) error {
	if strings.IndexByte(v, ',') < 0 {
		return nil
	}
	whole, _, _ := strings.Cut(v, ".")
	groups := strings.Split(strings.TrimPrefix(whole, "-"), ",")
	for i, g := range groups {
		if (i == 0 && (len(g) == 0 || len(g) > 3)) || (i > 0 && len(g) != 3) {
			return fmt.Errorf("%q: a comma is only accepted as a thousands separator; write the decimal point as a period", v)
		}
	}
	return nil
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// normBool maps the spellings spreadsheets and ERPs use to the feed's
// "true"/"false". Anything else passes through for the host's validator to
// name.
func normBool(v string) string {
	switch v {
	case "", "true", "false":
		return v
	}
	switch strings.ToLower(v) {
	case "true", "yes", "y", "1", "t", "x":
		return "true"
	case "false", "no", "n", "0", "f":
		return "false"
	}
	return v
}

// normAvailability maps "In Stock", "OUT-OF-STOCK" and similar to the feed's
// enum values; unknown values pass through for the host's validator.
func normAvailability(v string) string {
	switch v {
	case "", sdk.InStock, sdk.OutOfStock, sdk.Preorder, sdk.Backorder:
		return v
	}
	s := strings.ToLower(v)
	s = strings.NewReplacer(" ", "_", "-", "_").Replace(s)
	switch s {
	case sdk.InStock, sdk.OutOfStock, sdk.Preorder, sdk.Backorder:
		return s
	case "pre_order":
		return sdk.Preorder
	case "back_order", "backordered":
		return sdk.Backorder
	}
	return v
}

var errNotInteger = errors.New("not a whole number")

// parseQuantity parses a stock count such as "12" (or "12.0" from a
// spreadsheet).
func parseQuantity(v string) (int64, error) {
	v = strings.TrimSuffix(strings.TrimSuffix(v, ".0"), ".00")
	if v == "" {
		return 0, errNotInteger
	}
	var n int64
	neg := false
	if v[0] == '-' {
		neg = true
		v = v[1:]
		if v == "" {
			return 0, errNotInteger
		}
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, errNotInteger
		}
		n = n*10 + int64(c-'0')
		if n > 1<<53 {
			return 0, errNotInteger
		}
	}
	if neg {
		n = -n
	}
	return n, nil
}
