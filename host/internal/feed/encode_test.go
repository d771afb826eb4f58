package feed

import (
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"strings"
	"testing"
)

// Random fields over an alphabet rich in characters that matter for
// quoting, in lengths that exercise both the 8-byte and the byte loops.
func TestEncoderMatchesEncodingCSVRandom(t *testing.T) {
	alphabet := []string{"a", "Z", "0", ",", "\t", "\"", "\n", "\r", " ", "\u00a0", "é", "\x0b", "\x01", ";", "\\", "."}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, comma := range []rune{',', '\t'} {
		for n := 0; n < 3000; n++ {
			fields := make([]string, 1+rng.IntN(5))
			for i := range fields {
				var sb strings.Builder
				for l := rng.IntN(40); l > 0; l-- {
					if rng.IntN(4) == 0 {
						sb.WriteString(alphabet[rng.IntN(len(alphabet))])
					} else {
						sb.WriteByte(byte('a' + rng.IntN(26)))
					}
				}
				fields[i] = sb.String()
			}
			var want bytes.Buffer
			w := csv.NewWriter(&want)
			w.Comma = comma
			w.Write(fields)
			w.Flush()
			if got := appendRecord(nil, fields, byte(comma)); string(got) != want.String() {
				t.Fatalf("comma %q fields %q:\n got %q\nwant %q", comma, fields, got, want.String())
			}
			plain := make([]bool, len(fields))
			if got := appendValidRecord(nil, fields, byte(comma), plain); string(got) != want.String() {
				t.Fatalf("appendValidRecord differs for %q", fields)
			}
		}
	}
}

// Values of plain columns never need quoting once valid, for either
// separator: the shortcut in appendValidRecord must not change the output.
func TestPlainColumnsNeverNeedQuotes(t *testing.T) {
	for _, tc := range ruleCases {
		k := tc.kind
		if k == 0 {
			k = Product
		}
		if tc.want != "" {
			continue
		}
		vals := with(base(k), tc.kv...)
		for name, v := range vals {
			c := colByName[name]
			if !colDefs[c].plain || v == "" {
				continue
			}
			v = trim(v)
			for _, comma := range []byte{',', '\t'} {
				if fieldNeedsQuotes(v, comma) {
					t.Errorf("%s: valid %s value %q would need quotes", tc.name, name, v)
				}
			}
		}
	}
}

func TestHasSpaceOrControl(t *testing.T) {
	for _, s := range []string{"", "abc", "https://example.com/a/b/c/d/e/f/g", "é日本", strings.Repeat("x", 17)} {
		if hasSpaceOrControl(s) {
			t.Errorf("%q flagged", s)
		}
	}
	for i := 0; i < 20; i++ {
		for _, c := range []byte{' ', '\t', '\n', 0, 0x1f, 0x7f} {
			s := []byte(strings.Repeat("y", 20))
			s[i] = c
			if !hasSpaceOrControl(string(s)) {
				t.Errorf("byte %#x at %d missed", c, i)
			}
		}
	}
}
