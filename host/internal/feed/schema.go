package feed

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Problem is one validation failure.
type Problem struct {
	Row     int    // 1-based data row in the file or stream; the header is row 0
	Column  string // "" for a problem with the whole row
	Message string
}

func (p Problem) String() string {
	switch {
	case p.Row > 0 && p.Column != "":
		return fmt.Sprintf("row %d: %s: %s", p.Row, p.Column, p.Message)
	case p.Row > 0:
		return fmt.Sprintf("row %d: %s", p.Row, p.Message)
	case p.Column != "":
		return p.Column + ": " + p.Message
	}
	return p.Message
}

// HeaderError reports a header that does not fit a feed kind.
type HeaderError struct {
	Kind      Kind
	Unknown   []string // columns that are not in the spec of Kind
	Missing   []string // required columns that are absent
	Duplicate []string // columns that appear more than once
	Empty     bool     // the header has no columns at all
}

func (e *HeaderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s feed header:", e.Kind)
	sep := " "
	if e.Empty {
		b.WriteString(" no columns")
		return b.String()
	}
	if len(e.Unknown) > 0 {
		b.WriteString(sep + "unknown columns ")
		const show = 12
		for i, u := range e.Unknown {
			if i == show {
				fmt.Fprintf(&b, " and %d more", len(e.Unknown)-show)
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quote(u))
			if s := suggest(e.Kind, u); s != "" {
				fmt.Fprintf(&b, " (did you mean %q?)", s)
			}
		}
		sep = "; "
	}
	if len(e.Missing) > 0 {
		b.WriteString(sep + "missing required columns " + strings.Join(e.Missing, ", "))
		sep = "; "
	}
	if len(e.Duplicate) > 0 {
		b.WriteString(sep + "duplicate columns " + strings.Join(e.Duplicate, ", "))
	}
	if looksLikeShopify(e.Unknown) {
		b.WriteString(" (this looks like a Shopify product CSV, not a Stripe feed; convert it with the shopify plugin)")
	} else if len(e.Unknown) > 0 && len(e.Missing) > 0 && len(e.Missing) == len(kindRequired[e.Kind]) {
		b.WriteString(" (this does not look like a Stripe feed)")
	}
	return b.String()
}

// suggest proposes the spec column a wrongly spelled header name meant.
func suggest(k Kind, name string) string {
	for _, c := range kindCols[k] {
		if strings.EqualFold(colDefs[c].name, name) {
			return colDefs[c].name
		}
	}
	switch strings.ToLower(name) {
	case "sku", "sku_id", "variant sku":
		return "id"
	case "quantity", "qty", "inventory":
		if k != Price {
			return "inventory_quantity"
		}
	}
	return ""
}

func looksLikeShopify(unknown []string) bool {
	for _, u := range unknown {
		if u == "Handle" || u == "URL handle" || u == "Variant SKU" {
			return true
		}
	}
	return false
}

// Schema maps a header onto spec columns once so that checking a row does not
// resolve names again.
type Schema struct {
	kind    Kind
	header  []string
	pos     [numCols]int // index in the row, -1 when absent
	colAt   []col        // row index -> column; noCol for unknown/duplicate
	present []colPos     // known columns in header order
}

const noCol = col(255)

type colPos struct {
	c    col
	pure bool // colDefs[c].pure
	i    int
}

// NewSchema prepares checks of rows with the given header. It fails with a
// *HeaderError naming unknown, missing required or duplicate columns. Names
// are trimmed and a leading UTF-8 byte order mark is ignored; matching is
// otherwise exact (Stripe's column names are lower case).
func NewSchema(k Kind, header []string) (*Schema, error) {
	s, herr := newSchema(k, header)
	if herr != nil {
		return nil, herr
	}
	return s, nil
}

// newSchema always returns a usable schema (unknown columns are ignored) and,
// if the header is not acceptable, the reason.
func newSchema(k Kind, header []string) (*Schema, *HeaderError) {
	if !k.valid() {
		k = Product
	}
	s := &Schema{kind: k, header: make([]string, len(header)), colAt: make([]col, len(header))}
	for i := range s.pos {
		s.pos[i] = -1
	}
	var herr HeaderError
	for i, h := range header {
		h = cleanName(h, i)
		s.header[i] = h
		s.colAt[i] = noCol
		c, ok := colByName[h]
		switch {
		case !ok || !inKind(k, c):
			herr.Unknown = append(herr.Unknown, h)
		case s.pos[c] >= 0:
			herr.Duplicate = append(herr.Duplicate, h)
		default:
			s.pos[c] = i
			s.colAt[i] = c
			s.present = append(s.present, colPos{c, colDefs[c].pure, i})
		}
	}
	deletion := k == Product && s.pos[cDelete] >= 0
	for _, c := range kindRequired[k] {
		if s.pos[c] < 0 && (!deletion || c == cID) {
			herr.Missing = append(herr.Missing, colDefs[c].name)
		}
	}
	herr.Empty = len(header) == 0 || len(header) == 1 && s.header[0] == ""
	if herr.Unknown != nil || herr.Missing != nil || herr.Duplicate != nil || herr.Empty {
		herr.Kind = k
		return s, &herr
	}
	return s, nil
}

func cleanName(h string, i int) string {
	if i == 0 {
		h = strings.TrimPrefix(h, "\uFEFF")
	}
	return strings.TrimSpace(h)
}

// DetectKind guesses the feed kind from a header: a header whose known
// columns all belong to the inventory feed (and include availability,
// availability_date or inventory_quantity) is an inventory feed, likewise for
// the price feed; anything else is a product feed.
func DetectKind(header []string) Kind {
	onlyInv, onlyPrice := true, true
	sawInv, sawPrice := false, false
	for i, h := range header {
		c, ok := colByName[cleanName(h, i)]
		if !ok {
			continue
		}
		switch c {
		case cID:
		case cAvailability, cAvailabilityDate, cInventoryQuantity:
			sawInv = true
			onlyPrice = false
		case cPrice, cSalePrice, cSalePriceEffectiveDate:
			sawPrice = true
			onlyInv = false
		default:
			onlyInv, onlyPrice = false, false
		}
	}
	switch {
	case onlyInv && sawInv:
		return Inventory
	case onlyPrice && sawPrice:
		return Price
	}
	return Product
}

// Kind returns the feed kind of the schema.
func (s *Schema) Kind() Kind { return s.kind }

// Header returns the (cleaned) header the schema was built from.
func (s *Schema) Header() []string { return append([]string(nil), s.header...) }

// Index returns the row index of a spec column, or -1.
func (s *Schema) Index(column string) int {
	c, ok := colByName[column]
	if !ok {
		return -1
	}
	return s.pos[c]
}

// Check validates one row given its header and returns its problems (Row
// left 0). Header problems (unknown, missing, duplicate columns) are reported
// as problems of those columns. It is the convenience form of
// NewSchema+Schema.Check; hot paths should keep a Schema.
func Check(k Kind, header []string, row []string) []Problem {
	if !k.valid() {
		return []Problem{{Message: fmt.Sprintf("invalid feed kind %d", int(k))}}
	}
	s, herr := newSchema(k, header)
	var ps []Problem
	missing := map[string]bool{}
	if herr != nil {
		for _, u := range herr.Unknown {
			msg := fmt.Sprintf("unknown column for the %s feed", k)
			if sg := suggest(k, u); sg != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sg)
			}
			ps = append(ps, Problem{Column: u, Message: msg})
		}
		for _, m := range herr.Missing {
			missing[m] = true
			ps = append(ps, Problem{Column: m, Message: "required column is missing from the header"})
		}
		for _, d := range herr.Duplicate {
			ps = append(ps, Problem{Column: d, Message: "column appears more than once in the header"})
		}
	}
	for _, p := range s.Check(row, nil) {
		if !missing[p.Column] {
			ps = append(ps, p)
		}
	}
	return ps
}

// rowView holds the trimmed values of one row by column ("" when absent).
// It lives on the stack of Schema.Check.
type rowView struct {
	vals      [numCols]string
	validUTF8 bool // the caller vouches for the values' encoding
}

func (r *rowView) get(c col) string { return r.vals[c] }

// Check appends the problems of row to dst and returns it. It does not
// allocate when the row is valid, and it is safe for concurrent use. Problem.Row
// is left 0.
func (s *Schema) Check(row []string, dst []Problem) []Problem {
	dst, _ = s.check(row, dst, nil, false)
	return dst
}

// memo remembers, per column, the last value that passed its (context free)
// value check, so a stream of rows that repeat brand, shipping, fees,
// categories... checks each distinct run of values once. Results are
// identical with and without a memo: only pure checks are skipped.
type memo struct {
	v    [numCols]string
	ship string // the shipping value v[cFreeShippingThreshold] was checked with
}

// check is Check with an optional memo; trimmed reports that some value had
// leading or trailing white space. validUTF8 skips the UTF-8 check of
// free-text values (Record.ValidUTF8).
func (s *Schema) check(row []string, dst []Problem, m *memo, validUTF8 bool) (_ []Problem, trimmed bool) {
	if len(row) != len(s.header) {
		return append(dst, Problem{Message: fmt.Sprintf("has %d fields, the header has %d", len(row), len(s.header))}), false
	}
	var r rowView
	r.validUTF8 = validUTF8

	// delete=true: Stripe reads only id and delete. An unreadable delete
	// value leaves the row's intent unknown: report it with the id only.
	if i := s.pos[cDelete]; i >= 0 && s.kind == Product {
		switch d := trim(row[i]); d {
		case "", "false":
		default:
			if j := s.pos[cID]; j >= 0 {
				r.vals[cID] = trim(row[j])
			}
			if d != "true" {
				dst = append(dst, Problem{Column: "delete", Message: checkBool(d)})
			}
			return checkIDOnly(&r, dst), !allTrimmed(row)
		}
	}

	// One pass: trim, remember, and check every value whose check needs no
	// other column; related_products (id) and free_shipping_threshold
	// (shipping) are checked after the pass.
	for _, p := range s.present {
		v := row[p.i]
		if n := len(v); n != 0 && (v[0]-0x21 >= 0x5e || v[n-1]-0x21 >= 0x5e) {
			t := strings.TrimSpace(v) // (inline fast path of trim)
			trimmed = trimmed || len(t) != len(v)
			v = t
		}
		if v == "" {
			continue
		}
		r.vals[p.c] = v
		if !p.pure || m != nil && m.v[p.c] == v {
			continue
		}
		if msg := checkValue(p.c, v, &r); msg != "" {
			dst = append(dst, Problem{Column: colDefs[p.c].name, Message: msg})
		} else if m != nil {
			m.v[p.c] = v
		}
	}
	if s.kind == Product {
		if v, ship := r.vals[cFreeShippingThreshold], r.vals[cShipping]; v != "" && (m == nil || m.v[cFreeShippingThreshold] != v || m.ship != ship) {
			if msg := checkValue(cFreeShippingThreshold, v, &r); msg != "" {
				dst = append(dst, Problem{Column: "free_shipping_threshold", Message: msg})
			} else if m != nil {
				m.v[cFreeShippingThreshold], m.ship = v, ship
			}
		}
		if v := r.vals[cRelatedProducts]; v != "" {
			if msg := checkValue(cRelatedProducts, v, &r); msg != "" {
				dst = append(dst, Problem{Column: "related_products", Message: msg})
			}
		}
	}
	switch s.kind {
	case Product:
		dst = productRules(&r, dst)
	case Inventory:
		dst = inventoryRules(&r, dst)
	case Price:
		dst = priceRules(&r, dst)
	}
	return dst, trimmed
}

// trim is strings.TrimSpace with an inlinable fast path for values that
// neither start nor end with white space.
func trim(s string) string {
	if n := len(s); n == 0 || s[0]-0x21 < 0x5e && s[n-1]-0x21 < 0x5e { // both ends in '!'..'~'
		return s
	}
	return strings.TrimSpace(s)
}

func checkIDOnly(r *rowView, dst []Problem) []Problem {
	id := r.get(cID)
	if id == "" {
		return append(dst, required(cID, "a row with delete=true still needs its id"))
	}
	if msg := checkValue(cID, id, r); msg != "" {
		dst = append(dst, Problem{Column: "id", Message: msg})
	}
	return dst
}

// checkValue validates the format of one non-empty value.
func checkValue(c col, v string, r *rowView) string {
	d := &colDefs[c]
	if d.freeText && !r.validUTF8 && !utf8.ValidString(v) {
		// (the other types accept only ASCII, so their checks reject bad bytes)
		return "is not valid UTF-8"
	}
	switch d.typ {
	case tText:
		return checkLen(v, d.max)
	case tID:
		if msg := checkLen(v, d.max); msg != "" {
			return msg
		}
		return checkID(v)
	case tURL:
		return checkURL(v)
	case tURLList:
		return checkURLList(v, d.max)
	case tEnum:
		return checkEnum(v, d.enum)
	case tBool:
		return checkBool(v)
	case tMoney:
		return checkMoney(v)
	case tDimension:
		_, msg := parseMeasure(v, dimensionUnits)
		return msg
	case tWeight:
		_, msg := parseMeasure(v, weightUnits)
		return msg
	case tDate:
		return checkDate(v)
	case tDateRange:
		return checkDateRange(v)
	case tUint:
		return checkUint(v)
	case tNumber:
		return checkNumber(v, d.lo, d.hi)
	case tGTIN:
		return checkGTIN(v)
	case tCountry:
		return checkCountry(v)
	case tTaxCode:
		return checkTaxCode(v)
	case tThirdPartyTax:
		if msg := checkLen(v, d.max); msg != "" {
			return msg
		}
		return checkThirdPartyTax(v)
	case tShipping:
		return checkShipping(v)
	case tFees:
		return checkFees(v)
	case tFreeShipping:
		return checkFreeShipping(v, r.get(cShipping))
	case tRelated:
		return checkRelated(v, r.get(cID), d.max)
	case tWarning:
		return checkWarning(v, d.max)
	}
	return ""
}

func required(c col, why string) Problem {
	msg := "is required"
	if why != "" {
		msg += " (" + why + ")"
	}
	return Problem{Column: colDefs[c].name, Message: msg}
}

func requireAll(r *rowView, dst []Problem, cs ...col) []Problem {
	for _, c := range cs {
		if r.get(c) == "" {
			dst = append(dst, required(c, ""))
		}
	}
	return dst
}

func productRules(r *rowView, dst []Problem) []Problem {
	for _, c := range [...]col{cID, cTitle, cDescription, cLink, cImageLink, cAvailability, cPrice} {
		if r.get(c) == "" {
			dst = append(dst, required(c, ""))
		}
	}
	gpc, pc := r.get(cGoogleProductCategory), r.get(cProductCategory)
	if r.get(cBrand) == "" && !isMediaCategory(gpc) && !isMediaCategory(pc) {
		dst = append(dst, required(cBrand, "only movies, books and music are exempt"))
	}
	if r.get(cGTIN) == "" && r.get(cMPN) == "" {
		dst = append(dst, required(cMPN, "when gtin is empty"))
	}
	if gpc == "" && pc == "" {
		dst = append(dst, required(cProductCategory, "when google_product_category is empty"))
	}
	dst = availabilityRules(r, dst)

	qty := r.get(cInventoryQuantity)
	if r.get(cInventoryNotTracked) == "true" {
		if qty != "" {
			dst = append(dst, Problem{Column: "inventory_quantity", Message: "must be blank when inventory_not_tracked is true"})
		}
	} else if qty == "" {
		dst = append(dst, required(cInventoryQuantity, "unless inventory_not_tracked is true"))
	}

	dst = saleRules(r, dst)

	if cnt := r.get(cProductReviewCount); allDigits(cnt) {
		zero := strings.TrimLeft(cnt, "0") == ""
		rating := r.get(cProductReviewRating)
		if !zero && rating == "" {
			dst = append(dst, required(cProductReviewRating, "when product_review_count is above 0"))
		} else if zero && rating != "" {
			dst = append(dst, Problem{Column: "product_review_rating", Message: "must be blank when product_review_count is 0"})
		}
	}

	// length, width and height share one unit.
	var unit string
	var unitCol col
	for _, c := range [...]col{cLength, cWidth, cHeight} {
		v := r.get(c)
		if v == "" {
			continue
		}
		u := v[strings.LastIndexByte(v, ' ')+1:]
		if u != "in" && u != "cm" {
			continue // a malformed value is reported on its own
		}
		if unit == "" {
			unit, unitCol = u, c
		} else if u != unit {
			dst = append(dst, Problem{Column: colDefs[c].name, Message: fmt.Sprintf("unit %s differs from %s (%s); use the same unit for length, width and height", u, colDefs[unitCol].name, unit)})
		}
	}

	variant := false
	for _, p := range [...][2]col{{cOptName1, cOptValue1}, {cOptName2, cOptValue2}, {cOptName3, cOptValue3}} {
		n, v := r.get(p[0]), r.get(p[1])
		switch {
		case n != "" && v == "":
			dst = append(dst, required(p[1], colDefs[p[0]].name+" is set"))
		case n == "" && v != "":
			dst = append(dst, required(p[0], colDefs[p[1]].name+" is set"))
		}
		variant = variant || n != "" || v != ""
	}
	if variant && r.get(cItemGroupID) == "" {
		dst = append(dst, required(cItemGroupID, "a row with custom variant options is a variant"))
	}
	return dst
}

func availabilityRules(r *rowView, dst []Problem) []Problem {
	if r.get(cAvailability) == "preorder" && r.get(cAvailabilityDate) == "" {
		dst = append(dst, required(cAvailabilityDate, "when availability is preorder"))
	}
	return dst
}

func saleRules(r *rowView, dst []Problem) []Problem {
	sale := r.get(cSalePrice)
	if sale == "" {
		return dst
	}
	if r.get(cSalePriceEffectiveDate) == "" {
		dst = append(dst, required(cSalePriceEffectiveDate, "when sale_price is set"))
	}
	sa, sc, msg1 := parseMoney(sale)
	pa, pcur, msg2 := parseMoney(r.get(cPrice))
	if msg1 != "" || msg2 != "" || pa == "" {
		return dst // format problems are reported already
	}
	if sc != pcur {
		return append(dst, Problem{Column: "sale_price", Message: fmt.Sprintf("currency %s differs from the price currency %s", sc, pcur)})
	}
	if compareDecimal(sa, pa) > 0 {
		dst = append(dst, Problem{Column: "sale_price", Message: fmt.Sprintf("%s is above the price %s %s", quote(sale), pa, pcur)})
	}
	return dst
}

func inventoryRules(r *rowView, dst []Problem) []Problem {
	dst = requireAll(r, dst, cID, cAvailability, cInventoryQuantity)
	return availabilityRules(r, dst)
}

func priceRules(r *rowView, dst []Problem) []Problem {
	dst = requireAll(r, dst, cID, cPrice)
	return saleRules(r, dst)
}

// isMediaCategory reports whether a google_product_category or
// product_category value names movies, books or music, the categories
// Stripe exempts from brand. Accepted forms: the Google taxonomy IDs of
// Media > Books (784, and its children 543541-543543), Media > DVDs & Videos
// (839) and Media > Music & Sound Recordings (855); a path whose first
// segment is one of those words (Books, Music, Movies, Film, DVDs, Sheet
// Music…), optionally under "Media >"; and Google's "784 - Media > Books" form.
func isMediaCategory(v string) bool {
	if v == "" {
		return false
	}
	if allDigits(v) {
		switch v {
		case "784", "839", "855", "543541", "543542", "543543":
			return true
		}
		return false
	}
	if i := strings.Index(v, " - "); i > 0 && allDigits(v[:i]) {
		v = v[i+3:]
	}
	first, rest, _ := cut(v, '>')
	first = trim(first)
	if strings.EqualFold(first, "Media") {
		first, _, _ = cut(rest, '>')
		first = trim(first)
	}
	for _, w := range mediaWords {
		if hasPrefixFold(first, w) && (len(first) == len(w) || !isLetter(first[len(w)])) {
			return true
		}
	}
	return false
}

var mediaWords = []string{"Books", "Book", "E-books", "Ebooks", "Audiobooks", "Music", "Sheet Music",
	"Movies", "Movie", "Films", "Film", "DVDs", "DVD", "Blu-ray"}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
