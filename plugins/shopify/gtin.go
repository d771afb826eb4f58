package main

import "strings"

// normalizeGTIN returns the barcode as a feed gtin, or ok=false when it is
// not a valid GTIN-8, -12 (UPC-A), -13 (EAN, ISBN-13) or -14. Spaces and
// hyphens are removed first (so a hyphenated ISBN-13 works); anything else
// that is not a digit disqualifies the value. That rejects spreadsheet
// damage such as "3.65275E+11", a 10-digit ISBN or a UPC that lost its
// leading zero. The GS1 check digit must match, and all-zero codes are
// refused.
func normalizeGTIN(s string) (string, bool) {
	v := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, s)
	switch len(v) {
	case 8, 12, 13, 14:
	default:
		return "", false
	}
	zero := true
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return "", false
		}
		if v[i] != '0' {
			zero = false
		}
	}
	if zero {
		return "", false
	}
	sum, w := 0, 3
	for i := len(v) - 2; i >= 0; i-- {
		sum += int(v[i]-'0') * w
		w = 4 - w
	}
	if int(v[len(v)-1]-'0') != (10-sum%10)%10 {
		return "", false
	}
	return v, true
}
