package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
)

// converter turns database values into feed text. It is configured once per
// query result column.
type converter struct {
	kind valueKind
	// float32 is set for PostgreSQL real (float4) columns: their values
	// reach Go widened to float64 (18.1 arrives as 18.100000381469727) and
	// must be formatted at 32-bit precision.
	float32 bool
	// date is set for DATE columns: their values print as YYYY-MM-DD.
	date     bool
	currency string
	minor    bool // money_units: minor
}

var errNull = errors.New("is NULL")

// convert formats v for the feed. NULL becomes "" (an id may not be NULL).
func (c *converter) convert(v any) (string, error) {
	if v == nil {
		if c.kind == vID {
			return "", errNull
		}
		return "", nil
	}
	switch c.kind {
	case vMoney:
		return moneyText(v, c.float32, c.currency, c.minor)
	case vBool:
		return boolText(v)
	case vInt:
		return intText(v, c.float32)
	case vID:
		s, err := c.text(v)
		if err == nil && strings.TrimSpace(s) == "" {
			return "", errors.New("is empty")
		}
		return s, err
	}
	return c.text(v)
}

// text is the generic conversion: strings pass through, numbers print in
// their shortest exact form, booleans as true/false, times as ISO 8601.
func (c *converter) text(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return floatText(x, c.float32)
	case bool:
		return sdk.Bool(x), nil
	case time.Time:
		return timeText(x, c.date || c.kind == vDate), nil
	}
	return fmt.Sprint(v), nil
}

func floatText(f float64, is32 bool) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("%v is not a number", f)
	}
	bits := 64
	if is32 {
		bits = 32
	}
	return strconv.FormatFloat(f, 'f', -1, bits), nil
}

// timeText formats a time as ISO 8601: a bare date for DATE values (and,
// for date feed columns, for midnight UTC), else RFC 3339 with the offset
// the database gave (UTC for PostgreSQL timestamp without time zone).
func timeText(t time.Time, dateish bool) string {
	if dateish && t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339Nano)
}

func boolText(v any) (string, error) {
	switch x := v.(type) {
	case bool:
		return sdk.Bool(x), nil
	case int64:
		switch x {
		case 0:
			return "false", nil
		case 1:
			return "true", nil
		}
	case float64:
		switch x {
		case 0:
			return "false", nil
		case 1:
			return "true", nil
		}
	case string, []byte:
		s := strings.ToLower(strings.TrimSpace(asString(x)))
		switch s {
		case "":
			return "", nil
		case "true", "t", "1", "yes", "y":
			return "true", nil
		case "false", "f", "0", "no", "n":
			return "false", nil
		}
	}
	return "", fmt.Errorf("%s is not a boolean (want true/false or 1/0)", describe(v))
}

func intText(v any, is32 bool) (string, error) {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatInt(int64(x), 10), nil
		}
	case string, []byte:
		s := strings.TrimSpace(asString(x))
		if s == "" {
			return "", nil
		}
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return s, nil
		}
		// "5.000" from a numeric column is still a whole number.
		if whole, frac, ok := strings.Cut(s, "."); ok && strings.Trim(frac, "0") == "" {
			if _, err := strconv.ParseInt(whole, 10, 64); err == nil {
				return whole, nil
			}
		}
	case bool:
		if x {
			return "1", nil
		}
		return "0", nil
	}
	return "", fmt.Errorf("%s is not a whole number", describe(v))
}

// moneyText formats a money value as "15.00 USD".
//
//   - Text that already carries a currency ("15.00 USD") passes through.
//   - With money_units major (the default), numbers are amounts in currency
//     units: 15, 15.5, "15.500" (numeric) and 15.499999 (float) all work.
//     Floats are first printed at their column's precision (32 bits for
//     PostgreSQL real), then every amount is rounded half away from zero to
//     the currency's minor unit, so no binary float error survives.
//   - With money_units minor, values must be whole numbers of minor units.
func moneyText(v any, is32 bool, currency string, minorUnits bool) (string, error) {
	var dec string
	switch x := v.(type) {
	case int64:
		if minorUnits {
			return sdk.Money(x, currency), nil
		}
		digits := sdk.CurrencyDigits(currency)
		m := x
		for range digits {
			if m > math.MaxInt64/10 || m < math.MinInt64/10 {
				return "", fmt.Errorf("%d is out of range", x)
			}
			m *= 10
		}
		return sdk.Money(m, currency), nil
	case float64:
		s, err := floatText(x, is32)
		if err != nil {
			return "", err
		}
		dec = s
	case string, []byte:
		s := strings.TrimSpace(asString(x))
		if s == "" {
			return "", nil
		}
		if strings.ContainsRune(s, ' ') {
			return s, nil // already "15.00 USD"
		}
		if strings.ContainsAny(s, "eE") {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return "", fmt.Errorf("%q is not an amount", s)
			}
			if s, err = floatText(f, false); err != nil {
				return "", err
			}
		}
		dec = s
	default:
		return "", fmt.Errorf("%s is not an amount", describe(v))
	}
	if minorUnits {
		n, err := strconv.ParseInt(dec, 10, 64)
		if err != nil {
			return "", fmt.Errorf("%q is not a whole number of minor units (money_units: minor)", dec)
		}
		return sdk.Money(n, currency), nil
	}
	n, err := roundDecimal(dec, sdk.CurrencyDigits(currency))
	if err != nil {
		return "", err
	}
	return sdk.Money(n, currency), nil
}

// roundDecimal parses a plain decimal ("19.455", "-3", ".5") and returns it
// in units of 10^-digits, rounded half away from zero, without floating
// point.
func roundDecimal(s string, digits int) (int64, error) {
	t := strings.ReplaceAll(s, ",", "")
	neg := false
	switch {
	case strings.HasPrefix(t, "-"):
		neg, t = true, t[1:]
	case strings.HasPrefix(t, "+"):
		t = t[1:]
	}
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("%q is not an amount", s)
	}
	roundUp := false
	if len(frac) > digits {
		roundUp = frac[digits] >= '5'
		frac = frac[:digits]
	}
	for len(frac) < digits {
		frac += "0"
	}
	if whole == "" {
		whole = "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	if roundUp {
		if n == math.MaxInt64 {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		n++
	}
	if neg {
		n = -n
	}
	return n, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// describe shows a bad value in an error message, shortened.
func describe(v any) string {
	var s string
	switch x := v.(type) {
	case string, []byte:
		s = strconv.Quote(asString(x))
	case time.Time:
		return "timestamp " + x.Format(time.RFC3339)
	default:
		s = fmt.Sprint(v)
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// toInt64 reads a whole number from a database value (availability and
// order update queries).
func toInt64(v any) (int64, error) {
	s, err := intText(v, false)
	if err != nil {
		return 0, err
	}
	if s == "" {
		return 0, errNull
	}
	return strconv.ParseInt(s, 10, 64)
}

// toBool reads a boolean from a database value; NULL gives def.
func toBool(v any, def bool) (bool, error) {
	if v == nil {
		return def, nil
	}
	s, err := boolText(v)
	if err != nil {
		return false, err
	}
	if s == "" {
		return def, nil
	}
	return s == "true", nil
}

// toMinor reads a money amount as minor units of currency, following
// money_units like feed prices do.
func toMinor(v any, is32 bool, currency string, minorUnits bool) (int64, error) {
	s, err := moneyText(v, is32, currency, minorUnits)
	if err != nil {
		return 0, err
	}
	amount, ccy, ok := strings.Cut(s, " ")
	if !ok {
		return 0, fmt.Errorf("%s is not an amount", describe(v))
	}
	return sdk.ParseDecimal(amount, ccy)
}

// toTime reads a timestamp from a database value (time.Time, or text in
// RFC 3339 or SQLite's "YYYY-MM-DD HH:MM:SS" form, or Unix seconds).
func toTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case int64:
		return time.Unix(x, 0).UTC(), nil
	case string, []byte:
		s := strings.TrimSpace(asString(x))
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", time.DateOnly} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("%s is not a timestamp", describe(v))
}
