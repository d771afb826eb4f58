package main

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// derivedID is the feed id of a variant without a SKU: the handle and the
// variant's option values as one slug ("classic-varsity-top-medium"), or
// the handle alone for a single "Default Title" variant. It depends on
// nothing but the handle and the option values, so it is the same on every
// run and whatever the order of the rows.
//
// The slug keeps ASCII letters (lower-cased), digits and '_', and turns
// every other run of characters into one '-'. When that loses information
// (non-ASCII handles or values, such as "シャツ" or "Größe"), or the slug
// would be longer than Stripe's 100 characters, a 12-hex-digit hash of the
// exact handle and values is appended to what is left of the slug (cut to
// 87 characters), so different variants keep different ids.
func derivedID(handle string, values []string) string {
	parts := append([]string{handle}, values...)
	slug, lossy := slugify(strings.Join(parts, "-"))
	if !lossy && slug != "" && len(slug) <= maxID {
		return slug
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x1f")))
	h := hex.EncodeToString(sum[:6])
	if len(slug) > maxID-13 {
		slug = strings.TrimRight(slug[:maxID-13], "-")
	}
	if slug == "" {
		return "p-" + h
	}
	return slug + "-" + h
}

// groupID is the item_group_id of a product with variants: its handle, or
// for handles over Stripe's 70 characters the slug cut short plus a hash.
func groupID(handle string) string {
	if utf8.RuneCountInString(handle) <= maxGroupID {
		return handle
	}
	slug, _ := slugify(handle)
	sum := sha256.Sum256([]byte(handle))
	h := hex.EncodeToString(sum[:6])
	if len(slug) > maxGroupID-13 {
		slug = strings.TrimRight(slug[:maxGroupID-13], "-")
	}
	if slug == "" {
		return "g-" + h
	}
	return slug + "-" + h
}

// slugify lower-cases ASCII letters, keeps digits and '_', and folds every
// other run into one '-' (trimmed at both ends). lossy reports characters
// outside ASCII, which the slug cannot represent.
func slugify(s string) (slug string, lossy bool) {
	var b strings.Builder
	dash := false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		default:
			if r >= 0x80 {
				lossy = true
			}
			dash = b.Len() > 0
			continue
		}
		if dash {
			b.WriteByte('-')
			dash = false
		}
		b.WriteRune(r)
	}
	return b.String(), lossy
}
