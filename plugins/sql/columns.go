package main

import (
	"sort"
	"strings"

	"github.com/acs-connector/acs-connector/sdk"
)

// feedKind is one of the three feeds a query can produce.
type feedKind int

const (
	kindCatalog feedKind = iota
	kindInventory
	kindPrices
)

func (k feedKind) String() string {
	switch k {
	case kindCatalog:
		return "catalog"
	case kindInventory:
		return "inventory"
	case kindPrices:
		return "prices"
	}
	return "?"
}

// feedName is how Stripe calls the feed, for messages.
func (k feedKind) feedName() string {
	switch k {
	case kindCatalog:
		return "product"
	case kindInventory:
		return "inventory"
	}
	return "price"
}

// valueKind says how a result value becomes feed text.
type valueKind int

const (
	vText valueKind = iota
	vID
	vMoney
	vBool
	vInt
	vDate
)

// productColumns is Stripe's product feed, in spec order
// (docs.stripe.com/agentic-commerce/product-feed).
var productColumns = []string{
	"id", "title", "description", "link", "brand", "gtin", "mpn", "image_link",
	"additional_image_link", "video_link", "model_3d_link", "condition",
	"google_product_category", "product_category", "age_group", "material",
	"length", "width", "height", "weight", "item_group_id", "item_group_title",
	"color", "size", "size_system", "gender",
	"custom_variant_option_name_1", "custom_variant_option_value_1",
	"custom_variant_option_name_2", "custom_variant_option_value_2",
	"custom_variant_option_name_3", "custom_variant_option_value_3",
	"availability", "availability_date", "expiration_date", "inventory_not_tracked",
	"inventory_quantity", "price", "sale_price", "sale_price_effective_date",
	"stripe_product_tax_code", "third_party_tax_code", "tax_behavior",
	"applicable_fees", "shipping", "shipping_cost_basis", "free_shipping_threshold",
	"popularity_score", "return_rate", "product_review_count", "product_review_rating",
	"related_products", "product_warning", "age_restriction",
	"custom_label_0", "custom_label_1", "custom_label_2", "custom_label_3", "custom_label_4",
	"delete", "disable_checkout",
}

// kindColumns lists the columns each feed accepts.
var kindColumns = map[feedKind][]string{
	kindCatalog:   productColumns,
	kindInventory: {"id", "availability", "availability_date", "inventory_quantity"},
	kindPrices:    {"id", "price", "sale_price", "sale_price_effective_date"},
}

// kindRequired lists the columns each feed's query must return (the same
// header rule the host's feed validator applies). A product query with a
// `delete` column only needs `id`.
var kindRequired = map[feedKind][]string{
	kindCatalog:   {"id", "title", "description", "link", "image_link", "availability", "price"},
	kindInventory: {"id", "availability", "inventory_quantity"},
	kindPrices:    {"id", "price"},
}

var valueKinds = map[string]valueKind{
	sdk.FieldID:                  vID,
	sdk.FieldPrice:               vMoney,
	sdk.FieldSalePrice:           vMoney,
	sdk.FieldInventoryNotTracked: vBool,
	sdk.FieldDelete:              vBool,
	sdk.FieldDisableCheckout:     vBool,
	sdk.FieldInventoryQuantity:   vInt,
	"product_review_count":       vInt,
	"age_restriction":            vInt,
	sdk.FieldAvailabilityDate:    vDate,
	"expiration_date":            vDate,
}

func kindOf(column string) valueKind { return valueKinds[column] }

func isFeedColumn(k feedKind, name string) bool {
	for _, c := range kindColumns[k] {
		if c == name {
			return true
		}
	}
	return false
}

// suggestColumn returns the closest feed column to name, or "".
func suggestColumn(k feedKind, name string) string {
	best := sdk.Closest(name, kindColumns[k], 4)
	if best == "" {
		// Common names for feed columns.
		switch name {
		case "sku", "sku_id", "variant_sku":
			return "id"
		case "name", "product_name":
			return "title"
		case "quantity", "qty", "stock", "units_in_stock":
			if k != kindPrices {
				return "inventory_quantity"
			}
		case "url":
			return "link"
		case "image", "image_url":
			if k == kindCatalog {
				return "image_link"
			}
		case "unit_price", "amount", "price_amount":
			return "price"
		}
	}
	return best
}

// checkColumns validates a feed query's result columns: every column must be
// a feed column of its kind (or the cursor column), none may repeat, and the
// required ones must be there. It returns one message per problem.
func checkColumns(k feedKind, cols []string, cursorColumn string, needCursor bool) []string {
	var problems []string
	seen := map[string]bool{}
	for _, c := range cols {
		name := strings.ToLower(c)
		if seen[name] {
			problems = append(problems, "column "+quote(name)+" appears more than once")
			continue
		}
		seen[name] = true
		if cursorColumn != "" && name == cursorColumn {
			continue
		}
		if !isFeedColumn(k, name) {
			msg := "column " + quote(name) + " is not a column of Stripe's " + k.feedName() + " feed"
			if s := suggestColumn(k, name); s != "" {
				msg += " (did you mean " + quote(s) + "?)"
			}
			if cursorColumn == "" && k == kindCatalog && (name == "updated_at" || name == "modified_at") {
				msg += "; to use it as the incremental cursor set cursor_column"
			}
			problems = append(problems, msg)
		}
	}
	required := kindRequired[k]
	if k == kindCatalog && seen[sdk.FieldDelete] {
		required = []string{sdk.FieldID}
	}
	var missing []string
	for _, r := range required {
		if !seen[r] {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		problems = append(problems, "the "+k.feedName()+" feed needs column(s) "+strings.Join(missing, ", ")+" (alias your columns with AS)")
	}
	if needCursor && !seen[cursorColumn] {
		problems = append(problems, "returns no "+quote(cursorColumn)+" column (cursor_column); the incremental cursor comes from it")
	}
	return problems
}

func quote(s string) string { return `"` + s + `"` }
