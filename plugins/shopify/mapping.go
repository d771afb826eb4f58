package main

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/acs-connector/acs-connector/sdk"
)

// Feed columns the sdk has no constant for.
const (
	fieldOptName  = "custom_variant_option_name_"
	fieldOptValue = "custom_variant_option_value_"
)

// Stripe's length limits, in characters.
const (
	maxID        = 100
	maxTitle     = 150
	maxBrand     = 70
	maxMPN       = 70
	maxGroupID   = 70
	maxColor     = 100
	maxSize      = 20
	maxMaterial  = 100
	maxAddImages = 10
)

// problem is one reason a variant row cannot become a record.
type problem struct{ field, msg string }

// stock is what availability checks need to know about a variant.
type stock struct {
	tracked bool
	qty     int64
	cont    bool // continue selling when out of stock
}

// outcome is what one variant row became: a record (fields), a reject
// (problems, with fields as the partial mapping), or nothing because its
// product is a draft (excluded).
type outcome struct {
	origin   string
	id       string
	fields   map[string]string
	problems []problem
	excluded string
	stock    stock
}

func (o *outcome) fail(field, format string, args ...any) {
	o.problems = append(o.problems, problem{field, fmt.Sprintf(format, args...)})
}

// mapEnv is what mapping needs besides the config and the rows.
type mapEnv struct {
	cfg *config
	// saleDates is the sale_price_effective_date for variants on sale.
	saleDates string
	// warn logs a non-fatal oddity of one row (junk weight, unknown gender...).
	warn func(origin, msg string)
}

type image struct {
	url   string
	pos   int
	order int
}

// mapProduct turns one product's rows into outcomes, one per variant row
// (image-only rows contribute images and nothing else). Handle-less rows,
// repeated handles and rows with neither variant data nor an image are
// rejects, so every row is accounted for.
func mapProduct(env *mapEnv, h *header, p *product) []outcome {
	cfg := env.cfg
	var out []outcome
	if p.handle == "" {
		for _, r := range p.rows {
			o := outcome{origin: p.origin(r)}
			o.fail("handle", "the row has no %s; every row of a Shopify export needs its product's handle", h.name(fHandle))
			out = append(out, o)
		}
		return out
	}
	if p.dupOf != "" {
		for _, r := range p.rows {
			o := outcome{origin: p.origin(r)}
			o.fail("handle", "handle %q already appeared at %s; a product's rows must be contiguous and in one file", p.handle, p.dupOf)
			out = append(out, o)
		}
		return out
	}

	first := p.rows[0].v
	title := foldSpace(h.get(first, fTitle))

	// Draft, archived, unlisted or unpublished products are left out.
	excluded := ""
	if !cfg.IncludeDrafts {
		status := strings.ToLower(h.get(first, fStatus))
		switch {
		case status != "" && status != "active":
			excluded = "status " + status
		case !parseBool(h.get(first, fPublished), true):
			excluded = "not published"
		}
	}

	// Which later rows are variants; the rest are image-only rows.
	variants := []srcRow{p.rows[0]}
	for _, r := range p.rows[1:] {
		switch {
		case isVariantRow(h, r.v):
			variants = append(variants, r)
		case h.get(r.v, fImageSrc) == "" && excluded == "":
			o := outcome{origin: p.origin(r)}
			o.fail("", "the row has neither variant data (option value, SKU, price) nor an %s", h.name(fImageSrc))
			out = append(out, o)
		}
	}
	multi := len(variants) > 1

	// Product images, by Image Position; rows without a position come
	// after the positioned ones, in file order.
	var imgs []image
	var badImages []string
	for i, r := range p.rows {
		raw := h.get(r.v, fImageSrc)
		if raw == "" {
			continue
		}
		u, ok := cleanURL(raw)
		if !ok {
			badImages = append(badImages, raw)
			continue
		}
		pos, err := strconv.Atoi(h.get(r.v, fImagePosition))
		if err != nil || pos <= 0 {
			pos = int(^uint(0) >> 1)
		}
		imgs = append(imgs, image{url: u, pos: pos, order: i})
	}
	sort.SliceStable(imgs, func(a, b int) bool { return imgs[a].pos < imgs[b].pos })
	var images []string
	seenImg := map[string]bool{}
	for _, im := range imgs {
		if !seenImg[im.url] {
			seenImg[im.url] = true
			images = append(images, im.url)
		}
	}

	var names [3]string
	for i := range names {
		names[i] = foldSpace(h.get(first, optName[i]))
	}

	body := htmlToText(h.get(first, fBody), cfg.DescriptionMax)
	if body == "" {
		body = htmlToText(h.get(first, fSEODescription), cfg.DescriptionMax)
	}
	if body == "" {
		body = truncateRunes(title, cfg.DescriptionMax)
	}
	brand := foldSpace(h.get(first, fVendor))
	if brand == "" {
		brand = cfg.BrandFallback
	}
	category := foldSpace(h.get(first, fCategory))
	if category == "" {
		category = foldSpace(h.get(first, fType))
	}
	if category == "" {
		category = cfg.ProductCategoryFallback
	}
	link := cfg.StoreURL + "/products/" + url.PathEscape(p.handle)
	giftCard := parseBool(h.get(first, fGiftCard), false)

	for _, r := range variants {
		o := outcome{origin: p.origin(r), fields: make(map[string]string, 32)}
		if excluded != "" {
			o.excluded = excluded
			out = append(out, o)
			continue
		}
		f := o.fields
		set := func(k, v string) {
			if v != "" {
				f[k] = v
			}
		}
		// inherit reads a variant-level Google Shopping column, falling
		// back to the product's first row.
		inherit := func(fl field) string {
			if v := h.get(r.v, fl); v != "" {
				return v
			}
			return h.get(first, fl)
		}

		// Options: names come from the first row, values from each row.
		var values [3]string
		var label []string
		for i := range values {
			values[i] = foldSpace(h.get(r.v, optValue[i]))
			if values[i] != "" && !strings.EqualFold(values[i], "Default Title") {
				label = append(label, values[i])
			}
		}

		// id
		sku := h.get(r.v, fSKU)
		if sku != "" {
			o.id = sku
			if n := utf8.RuneCountInString(sku); n > maxID {
				o.fail(sdk.FieldID, "%s %q has %d characters; Stripe's id allows %d", h.name(fSKU), sku, n, maxID)
			} else if strings.ContainsFunc(sku, unicode.IsControl) {
				o.fail(sdk.FieldID, "%s %q contains control characters", h.name(fSKU), sku)
			}
		} else {
			o.id = derivedID(p.handle, label)
		}
		set(sdk.FieldID, o.id)

		// title, description, link, brand
		if title == "" {
			o.fail(sdk.FieldTitle, "the product has no %s (its first row is %s)", h.name(fTitle), p.origin(p.rows[0]))
		}
		t := title
		if multi && len(label) > 0 && title != "" {
			t = title + " - " + strings.Join(label, " / ")
		}
		set(sdk.FieldTitle, truncateRunes(t, maxTitle))
		set(sdk.FieldDescription, body)
		set(sdk.FieldLink, link)
		if brand == "" {
			o.fail(sdk.FieldBrand, "%s is empty and no brand_fallback is configured", h.name(fVendor))
		}
		set(sdk.FieldBrand, truncateRunes(brand, maxBrand))
		if multi {
			set(sdk.FieldItemGroupID, groupID(p.handle))
			set(sdk.FieldItemGroupTitle, truncateRunes(title, maxTitle))
		}

		// Options as color, size, material or custom variant options.
		custom := 0
		for i, name := range names {
			v := values[i]
			if name == "" || v == "" || strings.EqualFold(v, "Default Title") {
				continue
			}
			switch kind := optionKind(name); {
			case kind == sdk.FieldColor && f[sdk.FieldColor] == "" && utf8.RuneCountInString(v) <= maxColor:
				f[sdk.FieldColor] = v
			case kind == sdk.FieldSize && f[sdk.FieldSize] == "" && utf8.RuneCountInString(v) <= maxSize:
				f[sdk.FieldSize] = v
			case kind == sdk.FieldMaterial && f[sdk.FieldMaterial] == "" && utf8.RuneCountInString(v) <= maxMaterial:
				f[sdk.FieldMaterial] = v
			case multi:
				custom++
				f[fieldOptName+strconv.Itoa(custom)] = name
				f[fieldOptValue+strconv.Itoa(custom)] = v
			}
		}

		// Images.
		img := ""
		if raw := h.get(r.v, fVariantImage); raw != "" {
			if u, ok := cleanURL(raw); ok {
				img = u
			} else {
				badImages = append(badImages, raw)
			}
		}
		if img == "" && len(images) > 0 {
			img = images[0]
		}
		if img == "" {
			if len(badImages) > 0 {
				o.fail(sdk.FieldImageLink, "no usable image: %q is not an absolute http(s) URL", badImages[0])
			} else {
				o.fail(sdk.FieldImageLink, "no image: the product has no %s and the variant no %s; Stripe requires image_link", h.name(fImageSrc), h.name(fVariantImage))
			}
		}
		set(sdk.FieldImageLink, img)
		var more []string
		for _, u := range images {
			if u != img && len(more) < maxAddImages {
				more = append(more, u)
			}
		}
		set(sdk.FieldAdditionalImageLink, strings.Join(more, ","))

		// Identifiers: gtin when the barcode is a valid GTIN, else an mpn.
		barcode := h.get(r.v, fBarcode)
		gtin, okGTIN := normalizeGTIN(barcode)
		if okGTIN {
			set(sdk.FieldGTIN, gtin)
		} else if barcode != "" {
			env.warn(o.origin, fmt.Sprintf("%s %q is not a valid GTIN-8/12/13/14; gtin left out", h.name(fBarcode), barcode))
		}
		mpn := foldSpace(h.get(r.v, fMPN))
		if mpn == "" && !okGTIN {
			mpn = sku
			if mpn == "" {
				mpn = o.id
			}
		}
		set(sdk.FieldMPN, truncateRunes(mpn, maxMPN))

		// Categories and Google Shopping attributes.
		gpc := foldSpace(inherit(fGoogleCategory))
		set(sdk.FieldGoogleCategory, gpc)
		set(sdk.FieldProductCategory, category)
		if category == "" && gpc == "" {
			o.fail(sdk.FieldProductCategory, "the product has no %s, %s or %s, and no product_category_fallback is configured", h.name(fCategory), h.name(fType), h.name(fGoogleCategory))
		}
		if v := inherit(fGender); v != "" {
			if g := mapGender(v); g != "" {
				f[sdk.FieldGender] = g
			} else {
				env.warn(o.origin, fmt.Sprintf("%s %q is not male, female or unisex; left out", h.name(fGender), v))
			}
		}
		if v := inherit(fAgeGroup); v != "" {
			if a := mapAgeGroup(v); a != "" {
				f[sdk.FieldAgeGroup] = a
			} else {
				env.warn(o.origin, fmt.Sprintf("%s %q is not an age group Stripe knows; left out", h.name(fAgeGroup), v))
			}
		}
		if v := inherit(fCondition); v != "" {
			if c := mapCondition(v); c != "" {
				f[sdk.FieldCondition] = c
			} else {
				env.warn(o.origin, fmt.Sprintf("%s %q is not new, refurbished or used; left out", h.name(fCondition), v))
			}
		}
		if tc := strings.ToLower(inherit(fTaxCode)); isStripeTaxCode(tc) {
			f[sdk.FieldTaxCode] = tc
		}

		// Weight.
		if g := h.get(r.v, fGrams); g != "" {
			if w, ok := gramsToWeight(g); ok {
				set(sdk.FieldWeight, w)
			} else {
				env.warn(o.origin, fmt.Sprintf("%s %q is not a weight in grams; left out", h.name(fGrams), g))
			}
		}

		// Price, with Compare At Price above it read as a sale.
		mapPrice(env, h, r.v, &o)

		// Inventory.
		mapInventory(h, r.v, &o)

		// Shipping.
		if cfg.DefaultShipping != "" && parseBool(h.get(r.v, fRequiresShipping), true) {
			f[sdk.FieldShipping] = cfg.DefaultShipping
		}

		if giftCard {
			o.fail("gift_card", "gift cards are not listed: Shopify issues the card code, which an agentic checkout cannot deliver")
		}
		out = append(out, o)
	}
	return out
}

func mapPrice(env *mapEnv, h *header, row []string, o *outcome) {
	cur := env.cfg.Currency
	raw := h.get(row, fPrice)
	if raw == "" {
		if !h.has(fPrice) {
			o.fail(sdk.FieldPrice, "the export has no Variant Price or Price column")
		} else {
			o.fail(sdk.FieldPrice, "%s is empty", h.name(fPrice))
		}
		return
	}
	price, err := sdk.ParseDecimal(raw, cur)
	if err != nil {
		o.fail(sdk.FieldPrice, "%s: %v", h.name(fPrice), err)
		return
	}
	if price < 0 {
		o.fail(sdk.FieldPrice, "%s %q is negative", h.name(fPrice), raw)
		return
	}
	o.fields[sdk.FieldPrice] = sdk.Money(price, cur)
	rawCmp := h.get(row, fCompareAt)
	if rawCmp == "" {
		return
	}
	cmp, err := sdk.ParseDecimal(rawCmp, cur)
	if err != nil {
		o.fail(sdk.FieldSalePrice, "%s: %v", h.name(fCompareAt), err)
		return
	}
	if cmp > price {
		o.fields[sdk.FieldPrice] = sdk.Money(cmp, cur)
		o.fields[sdk.FieldSalePrice] = sdk.Money(price, cur)
		o.fields[sdk.FieldSalePriceDates] = env.saleDates
	}
}

func mapInventory(h *header, row []string, o *outcome) {
	f := o.fields
	tracked := h.get(row, fTracker) != "" && h.has(fQty)
	if !tracked {
		f[sdk.FieldAvailability] = sdk.InStock
		f[sdk.FieldInventoryNotTracked] = sdk.Bool(true)
		return
	}
	policy := strings.ToLower(h.get(row, fPolicy))
	cont := policy == "continue" || parseBool(policy, false)
	raw := h.get(row, fQty)
	qty, ok := parseQty(raw)
	if !ok {
		o.fail(sdk.FieldInventoryQuantity, "%s %q is not a whole number", h.name(fQty), raw)
		return
	}
	o.stock = stock{tracked: true, qty: qty, cont: cont}
	switch {
	case qty > 0:
		f[sdk.FieldAvailability] = sdk.InStock
	case cont:
		f[sdk.FieldAvailability] = sdk.Backorder
	default:
		f[sdk.FieldAvailability] = sdk.OutOfStock
	}
	f[sdk.FieldInventoryNotTracked] = sdk.Bool(false)
	f[sdk.FieldInventoryQuantity] = strconv.FormatInt(max(qty, 0), 10)
}

// parseQty reads a quantity; empty is 0, "5.0" is 5, negatives (oversold)
// are kept so availability can tell, and reported as 0.
func parseQty(s string) (int64, bool) {
	if s == "" {
		return 0, true
	}
	if i := strings.IndexByte(s, '.'); i >= 0 && strings.Trim(s[i+1:], "0") == "" {
		s = s[:i]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseBool reads Shopify's booleans (true/TRUE/false/FALSE, also yes/no, 1/0).
func parseBool(s string, def bool) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "y", "1":
		return true
	case "false", "no", "n", "0":
		return false
	}
	return def
}

// cleanURL makes an image URL feed-safe: protocol-relative URLs get https,
// spaces and commas are percent-encoded (commas separate list items in the
// feed). Anything that is not an absolute http(s) URL is refused.
func cleanURL(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "//") {
		s = "https:" + s
	}
	lower := strings.ToLower(s)
	if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") {
		return "", false
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", false
	}
	if strings.ContainsAny(s, " ,") {
		s = strings.ReplaceAll(strings.ReplaceAll(s, " ", "%20"), ",", "%2C")
	}
	return s, true
}

// gramsToWeight formats Variant Grams as "<grams> g" without trailing zeros.
// Zero means "not set" in Shopify and gives "" (ok). Junk gives ok=false.
func gramsToWeight(s string) (string, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return "", false
	}
	whole = strings.TrimLeft(whole, "0")
	frac = strings.TrimRight(frac, "0")
	if whole == "" && frac == "" {
		return "", true
	}
	if whole == "" {
		whole = "0"
	}
	if frac != "" {
		whole += "." + frac
	}
	return whole + " g", true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isStripeTaxCode(s string) bool {
	return len(s) == len("txcd_")+8 && strings.HasPrefix(s, "txcd_") && allDigits(s[5:])
}

// Option names recognised as color, size or material, lower-cased. Besides
// English, the common names in the languages Shopify admin is offered in.
var optionKinds = map[string]string{}

func init() {
	for kind, names := range map[string][]string{
		sdk.FieldColor: {"color", "colour", "colors", "colours", "farbe", "couleur", "kolor", "colore",
			"cor", "kleur", "färg", "farve", "farge", "väri", "barva", "renk", "culoare", "цвет", "色", "カラー", "颜色", "顏色", "색상"},
		sdk.FieldSize: {"size", "sizes", "taille", "größe", "grösse", "groesse", "talla", "taglia", "tamanho",
			"maat", "rozmiar", "storlek", "størrelse", "koko", "velikost", "beden", "mărime", "размер", "サイズ", "尺寸", "尺码", "사이즈"},
		sdk.FieldMaterial: {"material", "materials", "matériau", "matière", "materiale", "materiaal", "materiał", "素材", "材质"},
	} {
		for _, n := range names {
			optionKinds[n] = kind
		}
	}
}

func optionKind(name string) string { return optionKinds[strings.ToLower(name)] }

// firstWord lower-cases s and returns its first word: "Adult (13+ years
// old)" -> "adult".
func firstWord(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' }); i >= 0 {
		s = s[:i]
	}
	return s
}

func mapGender(s string) string {
	switch firstWord(s) {
	case "male", "men", "man", "mens", "men's", "boys", "boy":
		return "male"
	case "female", "women", "woman", "womens", "women's", "girls", "girl":
		return "female"
	case "unisex":
		return "unisex"
	}
	return ""
}

func mapAgeGroup(s string) string {
	switch firstWord(s) {
	case "newborn":
		return "newborn"
	case "infant":
		return "infant"
	case "toddler":
		return "toddler"
	case "kids", "kid", "children", "child":
		return "kids"
	case "adult", "adults":
		return "adult"
	}
	return ""
}

func mapCondition(s string) string {
	switch w := firstWord(s); w {
	case "new", "refurbished", "used":
		return w
	}
	return ""
}
