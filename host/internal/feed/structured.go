package feed

// Validators for the colon-delimited tuple columns (shipping,
// applicable_fees, free_shipping_threshold, related_products,
// product_warning) and for country codes.

import (
	"fmt"
	"strings"
)

// ISO 3166-1 alpha-2 officially assigned codes, plus XK (Kosovo, user
// assigned but used by Stripe and most carriers).
const iso3166 = "" +
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ " +
	"BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ " +
	"DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY " +
	"HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY " +
	"MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
	"NA NC NE NF NG NI NL NO NP NR NU NZ OM " +
	"PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ " +
	"TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ " +
	"VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW"

var countries = func() (t [26 * 26]bool) {
	for _, c := range strings.Fields(iso3166) {
		t[int(c[0]-'A')*26+int(c[1]-'A')] = true
	}
	return t
}()

func isCountry(s string) bool {
	return len(s) == 2 && isUpper(s[0]) && isUpper(s[1]) && countries[int(s[0]-'A')*26+int(s[1]-'A')]
}

func checkCountry(v string) string {
	if isCountry(v) {
		return ""
	}
	if v == "UK" {
		return `"UK" is not an ISO 3166-1 alpha-2 code; use GB`
	}
	return fmt.Sprintf("%s must be an ISO 3166-1 alpha-2 country code in upper case, e.g. US", quote(v))
}

// isArea accepts a delivery area / region: ALL, an ISO 3166-2 subdivision
// code without the country prefix (1-3 upper-case letters or digits, e.g.
// CA, NY, 75C), and for the US a postal code (94012), a prefix wildcard
// (94*) or a range of those (73114-74547, 94*-95*).
func isArea(country, a string) bool {
	if a == "ALL" || isSubdivision(a) {
		return true
	}
	if country != "US" {
		return false
	}
	lo, hi, isRange := cut(a, '-')
	if !isZip(lo) {
		return false
	}
	return !isRange || isZip(hi)
}

func isSubdivision(a string) bool {
	if len(a) < 1 || len(a) > 3 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if !isAlnumUpper(a[i]) {
			return false
		}
	}
	return true
}

// isZip: 5 digits, or 1-5 digits followed by '*'.
func isZip(s string) bool {
	if len(s) == 5 && allDigits(s) {
		return true
	}
	if n := len(s); n >= 2 && n <= 6 && s[n-1] == '*' {
		return allDigits(s[:n-1])
	}
	return false
}

// tupleFields splits a colon-delimited tuple into at most len(dst) fields. n
// is the real number of fields (it may exceed len(dst)).
func tupleFields(s string, dst []string) (n int) {
	for {
		f, rest, more := cut(s, ':')
		if n < len(dst) {
			dst[n] = trim(f)
		}
		n++
		if !more {
			return n
		}
		s = rest
	}
}

// checkShipping validates country:delivery_area:service[:speed_range]:price
// tuples. It returns the message and nothing else; services are looked up
// again by hasService when free_shipping_threshold is checked.
func checkShipping(v string) string {
	var f [5]string
	i := 0
	for list := v; ; {
		item, ok := nextItem(&list)
		if !ok {
			return ""
		}
		i++
		n := tupleFields(item, f[:])
		if n != 4 && n != 5 {
			return fmt.Sprintf("entry %d %s must be country:delivery_area:service[:speed_range]:price, e.g. US:ALL:Standard:3-5:0.00 USD (a comma separates entries)", i, quote(item))
		}
		if msg := checkCountry(f[0]); msg != "" {
			return fmt.Sprintf("entry %d: country %s", i, msg)
		}
		if !isArea(f[0], f[1]) {
			return fmt.Sprintf("entry %d: delivery area %s must be ALL, a subdivision code such as CA, or (US only) a postal code, range or wildcard", i, quote(f[1]))
		}
		if f[2] == "" {
			return fmt.Sprintf("entry %d: service name is empty", i)
		}
		price := f[3]
		if n == 5 {
			if !isSpeedRange(f[3]) {
				return fmt.Sprintf("entry %d: speed range %s must be <min>-<max> days, e.g. 3-5", i, quote(f[3]))
			}
			price = f[4]
		}
		if msg := checkMoney(price); msg != "" {
			return fmt.Sprintf("entry %d: price %s", i, msg)
		}
	}
}

// isSpeedRange accepts "3-5" (min ≤ max) and, leniently, a single "2".
func isSpeedRange(s string) bool {
	lo, hi, ok := cut(s, '-')
	if !allDigits(lo) || len(lo) > 4 {
		return false
	}
	if !ok {
		return true
	}
	if !allDigits(hi) || len(hi) > 4 {
		return false
	}
	return len(lo) < len(hi) || len(lo) == len(hi) && lo <= hi
}

// hasService reports whether the shipping value offers service svc.
func hasService(shipping, svc string) bool {
	var f [5]string
	for list := shipping; ; {
		item, ok := nextItem(&list)
		if !ok {
			return false
		}
		if n := tupleFields(item, f[:]); n >= 3 && f[2] == svc {
			return true
		}
	}
}

// checkFees validates country:region:fee_label:fee_amount[:fee_basis]. The
// optional fee_basis appears only in the report schema and its values are not
// documented, so any non-empty token is accepted.
func checkFees(v string) string {
	var f [5]string
	i := 0
	for list := v; ; {
		item, ok := nextItem(&list)
		if !ok {
			return ""
		}
		i++
		n := tupleFields(item, f[:])
		if n != 4 && n != 5 {
			return fmt.Sprintf("entry %d %s must be country:region:fee_label:fee_amount, e.g. US:CA:Recycling Fee:0.25 USD", i, quote(item))
		}
		if msg := checkCountry(f[0]); msg != "" {
			return fmt.Sprintf("entry %d: country %s", i, msg)
		}
		if !isArea(f[0], f[1]) {
			return fmt.Sprintf("entry %d: region %s must be ALL or a subdivision code such as CA", i, quote(f[1]))
		}
		if f[2] == "" {
			return fmt.Sprintf("entry %d: fee label is empty", i)
		}
		if msg := checkMoney(f[3]); msg != "" {
			return fmt.Sprintf("entry %d: fee amount %s", i, msg)
		}
		if n == 5 && f[4] == "" {
			return fmt.Sprintf("entry %d: fee basis is empty", i)
		}
	}
}

// checkFreeShipping validates country:region:service:price_threshold tuples
// and that every service is offered in shipping (same row).
func checkFreeShipping(v, shipping string) string {
	var f [4]string
	i := 0
	for list := v; ; {
		item, ok := nextItem(&list)
		if !ok {
			return ""
		}
		i++
		if n := tupleFields(item, f[:]); n != 4 {
			return fmt.Sprintf("entry %d %s must be country:region:service:price_threshold, e.g. US:ALL:Standard:50.00 USD", i, quote(item))
		}
		if msg := checkCountry(f[0]); msg != "" {
			return fmt.Sprintf("entry %d: country %s", i, msg)
		}
		if !isArea(f[0], f[1]) {
			return fmt.Sprintf("entry %d: region %s must be ALL, a subdivision code or (US only) a postal code", i, quote(f[1]))
		}
		if msg := checkMoney(f[3]); msg != "" {
			return fmt.Sprintf("entry %d: threshold %s", i, msg)
		}
		// A broken shipping value is reported on its own column, not here.
		if !hasService(shipping, f[2]) && (shipping == "" || checkShipping(shipping) == "") {
			return fmt.Sprintf("entry %d: service %s is not a service in the shipping column", i, quote(f[2]))
		}
	}
}

// checkRelated validates relationship_type:target_id pairs: known types, at
// most max entries, no reference to the row's own id, no duplicate targets.
func checkRelated(v, id string, max int) string {
	var targets [10]string
	n := 0
	for list := v; ; {
		item, ok := nextItem(&list)
		if !ok {
			return ""
		}
		n++
		if n > max || n > len(targets) {
			return fmt.Sprintf("has more than %d entries", max)
		}
		typ, target, ok := cut(item, ':')
		typ, target = trim(typ), trim(target)
		if !ok || target == "" {
			return fmt.Sprintf("entry %d %s must be relationship_type:target_id, e.g. accessory:SKU-123", n, quote(item))
		}
		if msg := checkEnum(typ, enumRelated); msg != "" {
			return fmt.Sprintf("entry %d: type %s", n, msg)
		}
		if target == id {
			return fmt.Sprintf("entry %d refers to the product itself (%s)", n, quote(id))
		}
		for _, t := range targets[:n-1] {
			if t == target {
				return fmt.Sprintf("entry %d: target %s is listed twice", n, quote(target))
			}
		}
		targets[n-1] = target
	}
}

// checkWarning validates type:message entries. Messages may contain ':' (we
// split on the first one) but not ',', which separates entries.
func checkWarning(v string, max int) string {
	n := 0
	for list := v; ; {
		item, ok := nextItem(&list)
		if !ok {
			return ""
		}
		n++
		typ, msg, ok := cut(item, ':')
		typ, msg = trim(typ), trim(msg)
		if !ok || msg == "" {
			return fmt.Sprintf("entry %d %s must be type:message (a comma separates warnings, so a message cannot contain one)", n, quote(item))
		}
		if e := checkEnum(typ, enumWarning); e != "" {
			return fmt.Sprintf("entry %d: type %s", n, e)
		}
		if e := checkLen(msg, max); e != "" {
			return fmt.Sprintf("entry %d: message %s", n, e)
		}
	}
}
