package feed

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// fieldNeedsQuotes mirrors encoding/csv.Writer so that our output is byte
// for byte what csv.Writer (UseCRLF false) would produce: a field is quoted
// when it contains the separator, a quote, CR or LF, when it starts with a
// space, or when it is `\.`.
func fieldNeedsQuotes(field string, comma byte) bool {
	if field == "" {
		return false
	}
	if field == `\.` || hasSpecial(field, comma) {
		return true
	}
	if c := field[0]; c < utf8.RuneSelf {
		return c == ' ' || c >= '\t' && c <= '\r' // unicode.IsSpace for ASCII
	}
	r1, _ := utf8.DecodeRuneInString(field)
	return unicode.IsSpace(r1)
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasSpecial reports whether s contains '\n', '\r', '"' or comma. It tests
// eight bytes at a time (SWAR): x has a zero byte iff (x-lsb)&^x&msb != 0.
func hasSpecial(s string, comma byte) bool {
	c := uint64(comma) * lsb
	i := 0
	for ; i+8 <= len(s); i += 8 {
		t := s[i : i+8]
		x := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
		// bytes < 0x0e cover '\n' and '\r' (and rare controls such as tab:
		// the exact loop below sorts those out)
		if ((x-0x0e*lsb)&^x|zeros(x^('"'*lsb))|zeros(x^c))&msb != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if b := s[i]; b == '\n' || b == '\r' || b == '"' || b == comma {
			return true
		}
	}
	return false
}

// zeros has the top bit of a byte lane set (after &msb) for, at least, the
// lowest zero byte of x; it is exact about whether any byte is zero.
func zeros(x uint64) uint64 { return (x - lsb) &^ x }

// appendRecord appends one CSV record (RFC 4180 quoting, "\n" terminated) to
// buf, exactly as encoding/csv.Writer does.
func appendRecord(buf []byte, fields []string, comma byte) []byte {
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, comma)
		}
		if !fieldNeedsQuotes(f, comma) {
			buf = append(buf, f...)
			continue
		}
		buf = appendQuoted(buf, f)
	}
	return append(buf, '\n')
}

// appendQuoted appends f in double quotes, doubling the quotes inside.
func appendQuoted(buf []byte, f string) []byte {
	buf = append(buf, '"')
	for {
		j := strings.IndexByte(f, '"')
		if j < 0 {
			buf = append(buf, f...)
			break
		}
		buf = append(buf, f[:j+1]...)
		buf = append(buf, '"')
		f = f[j+1:]
	}
	return append(buf, '"')
}

// appendValidRecord is appendRecord for a row that passed Schema.Check:
// columns marked plain hold values whose format excludes separators, quotes,
// line breaks and leading space (enums, numbers, money, dates...), so they
// are appended without looking for characters to quote.
func appendValidRecord(buf []byte, fields []string, comma byte, plain []bool) []byte {
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, comma)
		}
		if f == "" {
			continue
		}
		if plain[i] || !fieldNeedsQuotes(f, comma) {
			buf = append(buf, f...)
			continue
		}
		buf = appendQuoted(buf, f)
	}
	return append(buf, '\n')
}
