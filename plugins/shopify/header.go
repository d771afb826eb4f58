package main

import (
	"strings"
)

// field is one logical Shopify column, whatever a given export dialect calls it.
type field int

const (
	fHandle field = iota
	fTitle
	fBody
	fVendor
	fCategory
	fType
	fPublished
	fStatus
	fOpt1Name
	fOpt1Value
	fOpt2Name
	fOpt2Value
	fOpt3Name
	fOpt3Value
	fSKU
	fGrams
	fTracker
	fQty
	fPolicy
	fPrice
	fCompareAt
	fRequiresShipping
	fBarcode
	fImageSrc
	fImagePosition
	fGiftCard
	fGoogleCategory
	fGender
	fAgeGroup
	fMPN
	fCondition
	fVariantImage
	fTaxCode
	fSEODescription

	numFields
)

// aliases lists, per logical field, the header names the four export
// dialects use, lower-cased with white space folded. Matching is exact on
// the normalised name, so market columns such as "Price / United States" or
// metafield columns never shadow "Price".
var aliases = [numFields][]string{
	fHandle:           {"handle", "url handle"},
	fTitle:            {"title"},
	fBody:             {"body (html)", "description", "body html"},
	fVendor:           {"vendor"},
	fCategory:         {"product category", "standardized product type"},
	fType:             {"type", "custom product type"},
	fPublished:        {"published", "published on online store"},
	fStatus:           {"status"},
	fOpt1Name:         {"option1 name"},
	fOpt1Value:        {"option1 value"},
	fOpt2Name:         {"option2 name"},
	fOpt2Value:        {"option2 value"},
	fOpt3Name:         {"option3 name"},
	fOpt3Value:        {"option3 value"},
	fSKU:              {"variant sku", "sku"},
	fGrams:            {"variant grams", "weight value (grams)"},
	fTracker:          {"variant inventory tracker", "inventory tracker"},
	fQty:              {"variant inventory qty", "inventory quantity"},
	fPolicy:           {"variant inventory policy", "continue selling when out of stock"},
	fPrice:            {"variant price", "price"},
	fCompareAt:        {"variant compare at price", "compare-at price", "compare at price"},
	fRequiresShipping: {"variant requires shipping", "requires shipping"},
	fBarcode:          {"variant barcode", "barcode"},
	fImageSrc:         {"image src", "product image url"},
	fImagePosition:    {"image position"},
	fGiftCard:         {"gift card"},
	fGoogleCategory:   {"google shopping / google product category"},
	fGender:           {"google shopping / gender"},
	fAgeGroup:         {"google shopping / age group"},
	fMPN:              {"google shopping / mpn", "google shopping / manufacturer part number (mpn)"},
	fCondition:        {"google shopping / condition"},
	fVariantImage:     {"variant image", "variant image url"},
	fTaxCode:          {"variant tax code", "tax code"},
	fSEODescription:   {"seo description"},
}

var aliasIndex = func() map[string]field {
	m := make(map[string]field)
	for f, names := range aliases {
		for _, n := range names {
			m[n] = field(f)
		}
	}
	return m
}()

// optName and optValue index the option columns by option number (0-based).
var (
	optName  = [3]field{fOpt1Name, fOpt2Name, fOpt3Name}
	optValue = [3]field{fOpt1Value, fOpt2Value, fOpt3Value}
)

// header is a resolved export header: one column index per logical field
// (-1 when the export has no such column). It is resolved once per file.
type header struct {
	idx     [numFields]int
	names   [numFields]string // the header cells as written, for messages
	dialect string
	ncols   int
}

// normHeader lower-cases a header cell, drops a UTF-8 BOM and folds white
// space (NBSP included), so " Variant  SKU" and "variant sku" match.
func normHeader(h string) string {
	h = strings.TrimPrefix(h, "\uFEFF")
	return strings.ToLower(strings.Join(strings.Fields(h), " "))
}

// resolveHeader maps header cells to logical fields. When a name appears
// twice the first column wins.
func resolveHeader(cells []string) *header {
	h := &header{ncols: len(cells)}
	for i := range h.idx {
		h.idx[i] = -1
	}
	linked := false
	for i, c := range cells {
		n := normHeader(c)
		if f, ok := aliasIndex[n]; ok && h.idx[f] < 0 {
			h.idx[f] = i
			h.names[f] = strings.TrimSpace(strings.TrimPrefix(c, "\uFEFF"))
		}
		if n == "option1 linked to" {
			linked = true
		}
	}
	h.dialect = "classic"
	switch {
	case h.idx[fHandle] >= 0 && normHeader(cells[h.idx[fHandle]]) == "url handle":
		h.dialect = "2025"
	case linked:
		h.dialect = "2024-25"
	case h.idx[fCategory] >= 0 && normHeader(cells[h.idx[fCategory]]) == "product category":
		h.dialect = "2023-24"
	}
	return h
}

// has reports whether the export has a column for f.
func (h *header) has(f field) bool { return h.idx[f] >= 0 }

// name is the column's header as the file spells it ("Variant Price" or
// "Price"), or the classic name when the file has no such column.
func (h *header) name(f field) string {
	if h.names[f] != "" {
		return h.names[f]
	}
	return classicNames[f]
}

var classicNames = [numFields]string{
	fHandle: "Handle", fTitle: "Title", fBody: "Body (HTML)", fVendor: "Vendor",
	fCategory: "Product Category", fType: "Type", fPublished: "Published", fStatus: "Status",
	fOpt1Name: "Option1 Name", fOpt1Value: "Option1 Value", fOpt2Name: "Option2 Name",
	fOpt2Value: "Option2 Value", fOpt3Name: "Option3 Name", fOpt3Value: "Option3 Value",
	fSKU: "Variant SKU", fGrams: "Variant Grams", fTracker: "Variant Inventory Tracker",
	fQty: "Variant Inventory Qty", fPolicy: "Variant Inventory Policy", fPrice: "Variant Price",
	fCompareAt: "Variant Compare At Price", fRequiresShipping: "Variant Requires Shipping",
	fBarcode: "Variant Barcode", fImageSrc: "Image Src", fImagePosition: "Image Position",
	fGiftCard: "Gift Card", fGoogleCategory: "Google Shopping / Google Product Category",
	fGender: "Google Shopping / Gender", fAgeGroup: "Google Shopping / Age Group",
	fMPN: "Google Shopping / MPN", fCondition: "Google Shopping / Condition",
	fVariantImage: "Variant Image", fTaxCode: "Variant Tax Code", fSEODescription: "SEO Description",
}

// get returns the trimmed cell of f in row, or "" when the column is absent
// or the row is short.
func (h *header) get(row []string, f field) string {
	i := h.idx[f]
	if i < 0 || i >= len(row) {
		return ""
	}
	return strings.TrimSpace(row[i])
}
