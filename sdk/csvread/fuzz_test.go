package csvread

import "testing"

// FuzzReader compares Reader with encoding/csv on arbitrary input, comma,
// LazyQuotes, buffer size, read chunking and injected read error.
func FuzzReader(f *testing.F) {
	for _, in := range trickyInputs {
		f.Add([]byte(in), uint8(0), false, uint8(1), int16(-1), uint8(0))
		f.Add([]byte(in), uint8(0), true, uint8(3), int16(-1), uint8(1))
		f.Add(withComma(in, '\t'), uint8(1), false, uint8(7), int16(len(in)/2), uint8(2))
		f.Add(withComma(in, ';'), uint8(2), true, uint8(0), int16(len(in)), uint8(0))
	}
	f.Fuzz(func(t *testing.T, input []byte, commaSel uint8, lazy bool, sizeSel uint8, errAt int16, chunk uint8) {
		comma := []byte{',', '\t', ';'}[int(commaSel)%3]
		// sizeSel 0 means the default buffer; small sizes are the
		// interesting ones, so keep them small.
		size := int(sizeSel) % 80
		at := int(errAt)
		if at > len(input) {
			at = len(input)
		}
		if at < 0 {
			at = -1
		}
		diff(t, input, diffConfig{comma: comma, lazy: lazy, size: size, errAt: at, together: sizeSel&0x80 != 0, maxChunk: int(chunk % 8)})
	})
}
