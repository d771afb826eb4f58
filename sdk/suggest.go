package sdk

import "strings"

// Closest returns the candidate a misspelled name most likely meant, for
// "did you mean" hints in config errors: one equal to name once case and
// the separators '_', '-' and ' ' are ignored, else the one at the
// smallest edit distance below maxDist; "" when none is close.
func Closest(name string, candidates []string, maxDist int) string {
	squash := func(s string) string {
		return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
	}
	sq := squash(name)
	best, bestD := "", maxDist
	for _, c := range candidates {
		if squash(c) == sq {
			return c
		}
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
