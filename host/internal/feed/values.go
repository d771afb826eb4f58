package feed

// Value validators. They are written by hand (no regexp, no allocation on
// success): each returns "" when the value is acceptable and a human readable
// reason otherwise. Values reach them already trimmed of surrounding space.

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// cut is strings.Cut for a one-byte separator, without the call chain that
// costs more than the search on short values.
func cut(s string, sep byte) (before, after string, found bool) {
	if len(s) > 32 {
		if i := strings.IndexByte(s, sep); i >= 0 {
			return s[:i], s[i+1:], true
		}
		return s, "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }
func isAlnumUpper(b byte) bool {
	return isDigit(b) || isUpper(b)
}

// allDigits reports whether s is a non-empty run of ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// isDecimal reports whether s is a plain non-negative decimal: digits with an
// optional period and at least one digit after it ("15", "15.5", "0.25").
func isDecimal(s string) bool {
	ip, fp, dot := cut(s, '.')
	if !allDigits(ip) {
		return false
	}
	return !dot || allDigits(fp)
}

// quote renders a value for a message, shortened so a 5000-character
// description does not flood an error report.
func quote(v string) string {
	const max = 60
	if utf8.RuneCountInString(v) > max {
		n := 0
		for i := range v {
			if n == max {
				v = v[:i] + "…"
				break
			}
			n++
		}
	}
	return strconv.Quote(v)
}

// checkLen enforces a maximum length in characters (Unicode code points).
func checkLen(v string, max int) string {
	if max <= 0 || len(v) <= max { // byte length bounds the rune count
		return ""
	}
	if n := utf8.RuneCountInString(v); n > max {
		return fmt.Sprintf("is %d characters long, the maximum is %d", n, max)
	}
	return ""
}

func checkEnum(v string, enum []string) string {
	for _, e := range enum {
		if v == e {
			return ""
		}
	}
	return fmt.Sprintf("%s is not one of %s", quote(v), strings.Join(enum, ", "))
}

func checkBool(v string) string {
	if v == "true" || v == "false" {
		return ""
	}
	return fmt.Sprintf("%s must be true or false", quote(v))
}

// checkID: Stripe asks for an alphanumeric SKU. Real SKUs routinely contain
// '-', '_', '.', '/' or spaces, so we only reject what cannot work as a key:
// control characters (newlines, tabs).
func checkID(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] == 0x7f {
			return fmt.Sprintf("%s must not contain control characters (newline, tab)", quote(v))
		}
	}
	return ""
}

// --- money -------------------------------------------------------------------

// parseMoney splits "15.00 USD" into amount and currency.
func parseMoney(v string) (amount, ccy string, msg string) {
	amount, ccy, ok := cut(v, ' ')
	if !ok {
		return "", "", fmt.Sprintf("%s must be <amount> <ISO 4217 currency>, e.g. \"15.00 USD\"", quote(v))
	}
	if strings.HasPrefix(amount, "-") {
		return "", "", fmt.Sprintf("%s must not be negative", quote(v))
	}
	if !isDecimal(amount) {
		if strings.Contains(amount, ",") {
			return "", "", fmt.Sprintf("%s: use a period as the decimal separator and no thousands separator, e.g. \"1234.50 USD\"", quote(v))
		}
		return "", "", fmt.Sprintf("%s must be <amount> <ISO 4217 currency>, e.g. \"15.00 USD\"", quote(v))
	}
	if len(ccy) != 3 || !isUpper(ccy[0]) || !isUpper(ccy[1]) || !isUpper(ccy[2]) {
		return "", "", fmt.Sprintf("%s: currency must be an ISO 4217 code of 3 upper-case letters, e.g. USD", quote(v))
	}
	return amount, ccy, ""
}

func checkMoney(v string) string {
	_, _, msg := parseMoney(v)
	return msg
}

// compareDecimal compares two strings accepted by isDecimal numerically.
func compareDecimal(a, b string) int {
	ai, af, _ := cut(a, '.')
	bi, bf, _ := cut(b, '.')
	ai = strings.TrimLeft(ai, "0")
	bi = strings.TrimLeft(bi, "0")
	if len(ai) != len(bi) {
		if len(ai) < len(bi) {
			return -1
		}
		return 1
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	n := max(len(af), len(bf))
	for i := 0; i < n; i++ {
		x, y := byte('0'), byte('0')
		if i < len(af) {
			x = af[i]
		}
		if i < len(bf) {
			y = bf[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// --- dimensions and weight ---------------------------------------------------

// parseMeasure splits "<number> <unit>" and checks the unit against units.
func parseMeasure(v string, units []string) (unit string, msg string) {
	num, unit, ok := cut(v, ' ')
	if !ok || !isDecimal(num) {
		return "", fmt.Sprintf("%s must be <number> <unit> with unit %s, e.g. \"20 %s\"", quote(v), strings.Join(units, ", "), units[0])
	}
	for _, u := range units {
		if unit == u {
			return unit, ""
		}
	}
	return "", fmt.Sprintf("%s: unit must be one of %s", quote(v), strings.Join(units, ", "))
}

var (
	dimensionUnits = []string{"in", "cm"}
	weightUnits    = []string{"lb", "oz", "g", "kg"}
)

// --- numbers -----------------------------------------------------------------

func checkUint(v string) string {
	if allDigits(v) {
		if _, err := strconv.ParseUint(v, 10, 31); err == nil {
			return ""
		}
		return fmt.Sprintf("%s is too large", quote(v))
	}
	if strings.HasPrefix(v, "-") {
		return fmt.Sprintf("%s must not be negative", quote(v))
	}
	return fmt.Sprintf("%s must be a whole number ≥ 0", quote(v))
}

// checkNumber accepts a plain decimal within [lo, hi] (both non-negative
// decimals themselves), compared exactly as decimal strings.
func checkNumber(v, lo, hi string) string {
	num, neg := strings.CutPrefix(v, "-")
	if !isDecimal(num) {
		if strings.HasSuffix(v, "%") {
			return fmt.Sprintf("%s must be a plain number without %%", quote(v))
		}
		return fmt.Sprintf("%s must be a number", quote(v))
	}
	if neg && strings.Trim(num, "0.") != "" || compareDecimal(num, lo) < 0 || compareDecimal(num, hi) > 0 {
		return fmt.Sprintf("%s must be between %s and %s", quote(v), lo, hi)
	}
	return ""
}

// --- GTIN --------------------------------------------------------------------

func checkGTIN(v string) string {
	if !allDigits(v) {
		for i := 0; i < len(v); i++ {
			if v[i] == 'E' || v[i] == 'e' {
				if strings.ContainsAny(v, "+.") {
					return fmt.Sprintf("%s looks like a number mangled by a spreadsheet (scientific notation); export the GTIN as text", quote(v))
				}
			}
		}
		if strings.ContainsAny(v, "- ") {
			return fmt.Sprintf("%s must be digits only, without dashes or spaces", quote(v))
		}
		return fmt.Sprintf("%s must be digits only", quote(v))
	}
	switch len(v) {
	case 8, 12, 13, 14:
	default:
		return fmt.Sprintf("%s has %d digits; a GTIN has 8, 12, 13 or 14 (use ISBN-13 for books)", quote(v), len(v))
	}
	sum := 0
	w := 3
	for i := len(v) - 2; i >= 0; i-- {
		sum += int(v[i]-'0') * w
		w = 4 - w // 3,1,3,1...
	}
	if want := (10 - sum%10) % 10; int(v[len(v)-1]-'0') != want {
		return fmt.Sprintf("%s has an invalid check digit (expected %d)", quote(v), want)
	}
	return ""
}

// --- URLs --------------------------------------------------------------------

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// cutScheme strips a case-insensitive "http://" or "https://".
func cutScheme(v string) (rest string, ok bool) {
	if len(v) < 7 || v[0]|0x20 != 'h' || v[1]|0x20 != 't' || v[2]|0x20 != 't' || v[3]|0x20 != 'p' {
		return "", false
	}
	v = v[4:]
	if v[0]|0x20 == 's' {
		v = v[1:]
	}
	if len(v) < 3 || v[:3] != "://" {
		return "", false
	}
	return v[3:], true
}

// checkURL accepts absolute http and https URLs with a host and no
// whitespace or control characters.
func checkURL(v string) string {
	rest, ok := cutScheme(v)
	if !ok {
		return fmt.Sprintf("%s must be an absolute http or https URL", quote(v))
	}
	if rest == "" || rest[0] == '/' || rest[0] == '?' || rest[0] == '#' {
		return fmt.Sprintf("%s has no host", quote(v))
	}
	if hasSpaceOrControl(v) {
		return fmt.Sprintf("%s must not contain spaces or control characters (encode a space as %%20)", quote(v))
	}
	return ""
}

// hasSpaceOrControl reports whether s has a byte ≤ ' ' or DEL, eight bytes at
// a time: for bytes below 0x80, (x - n*lsb) &^ x & msb flags a byte < n.
func hasSpaceOrControl(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		t := s[i : i+8]
		x := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
		if ((x-0x21*lsb)&^x|zeros(x^(0x7f*lsb)))&msb != 0 {
			return true
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return true
		}
	}
	return false
}

// nextItem returns the next comma separated item of *list (trimmed) and
// advances *list. ok is false when the list is exhausted.
func nextItem(list *string) (item string, ok bool) {
	for *list != "" {
		var rest string
		item, rest, _ = cut(*list, ',')
		*list = rest
		item = trim(item)
		if item != "" { // tolerate "a,,b" and a trailing comma
			return item, true
		}
	}
	return "", false
}

func checkURLList(v string, max int) string {
	n := 0
	for list := v; ; {
		item, ok := nextItem(&list)
		if !ok {
			break
		}
		n++
		if msg := checkURL(item); msg != "" {
			return fmt.Sprintf("item %d: %s (separate URLs with commas and encode a comma inside a URL as %%2C)", n, msg)
		}
	}
	if max > 0 && n > max {
		return fmt.Sprintf("has %d URLs, the maximum is %d", n, max)
	}
	return ""
}

// --- dates -------------------------------------------------------------------

func atoi2(s string) (int, bool) {
	if len(s) != 2 || !isDigit(s[0]) || !isDigit(s[1]) {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the number of days since 1970-01-01.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseISO8601 accepts YYYY-MM-DD, optionally followed by a time
// (T or space, hh:mm[:ss[.fff]]) and a zone (Z, ±hh:mm, ±hhmm, ±hh). It
// returns seconds since the epoch (UTC; a time without zone counts as UTC).
func parseISO8601(s string) (int64, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	if !allDigits(s[0:4]) {
		return 0, false
	}
	y := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	m, ok1 := atoi2(s[5:7])
	d, ok2 := atoi2(s[8:10])
	if !ok1 || !ok2 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	secs := daysFromCivil(y, m, d) * 86400
	s = s[10:]
	if s == "" {
		return secs, true
	}
	if s[0] != 'T' && s[0] != 't' && s[0] != ' ' || len(s) < 6 || s[3] != ':' {
		return 0, false
	}
	hh, ok1 := atoi2(s[1:3])
	mm, ok2 := atoi2(s[4:6])
	if !ok1 || !ok2 || hh > 23 || mm > 59 {
		return 0, false
	}
	secs += int64(hh*3600 + mm*60)
	s = s[6:]
	if len(s) >= 3 && s[0] == ':' {
		ss, ok := atoi2(s[1:3])
		if !ok || ss > 60 {
			return 0, false
		}
		secs += int64(ss)
		s = s[3:]
		if len(s) >= 2 && (s[0] == '.' || s[0] == ',') && isDigit(s[1]) {
			i := 1
			for i < len(s) && isDigit(s[i]) {
				i++
			}
			s = s[i:]
		}
	}
	switch {
	case s == "" || s == "Z" || s == "z":
		return secs, true
	case s[0] == '+' || s[0] == '-':
		sign := int64(1)
		if s[0] == '-' {
			sign = -1
		}
		z := s[1:]
		var oh, om int
		var ok bool
		switch len(z) {
		case 2:
			oh, ok = atoi2(z)
		case 4:
			oh, ok = atoi2(z[:2])
			if ok {
				om, ok = atoi2(z[2:])
			}
		case 5:
			if z[2] != ':' {
				return 0, false
			}
			oh, ok = atoi2(z[:2])
			if ok {
				om, ok = atoi2(z[3:])
			}
		}
		if !ok || oh > 23 || om > 59 {
			return 0, false
		}
		return secs - sign*int64(oh*3600+om*60), true
	}
	return 0, false
}

func checkDate(v string) string {
	if _, ok := parseISO8601(v); ok {
		return ""
	}
	return fmt.Sprintf("%s must be an ISO 8601 date, e.g. 2026-05-31 or 2026-05-31T12:00:00Z", quote(v))
}

func checkDateRange(v string) string {
	a, b, ok := cut(v, '/')
	if !ok {
		return fmt.Sprintf("%s must be a date range start/end, e.g. 2026-05-01/2026-05-31", quote(v))
	}
	ta, oka := parseISO8601(trim(a))
	tb, okb := parseISO8601(trim(b))
	if !oka || !okb {
		return fmt.Sprintf("%s must be a date range of two ISO 8601 dates, e.g. 2026-05-01/2026-05-31", quote(v))
	}
	if ta > tb {
		return fmt.Sprintf("%s: the start is after the end", quote(v))
	}
	return ""
}

// --- tax codes ---------------------------------------------------------------

func checkTaxCode(v string) string {
	if strings.HasPrefix(v, "txcd_") && len(v) == len("txcd_")+8 && allDigits(v[5:]) {
		return ""
	}
	return fmt.Sprintf("%s must be a Stripe product tax code such as txcd_99999999", quote(v))
}

// checkThirdPartyTax accepts <provider>:<code>. The spec documents only
// Anrok ("anrok:<code>"); we accept any lower-case provider name so a new
// provider does not get every row rejected.
func checkThirdPartyTax(v string) string {
	p, code, ok := cut(v, ':')
	good := ok && p != "" && code != ""
	for i := 0; good && i < len(p); i++ {
		c := p[i]
		good = c >= 'a' && c <= 'z' || isDigit(c) || c == '_' || c == '-'
	}
	if !good {
		return fmt.Sprintf("%s must be <provider>:<code>, e.g. anrok:12345", quote(v))
	}
	return ""
}
