package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/acs-connector/acs-connector/sdk"
)

// productColumns are the columns of Stripe's product feed in the order of the
// spec (shared/docs/stripe-acs.md §1.2). Records are emitted in this order.
var productColumns = []string{
	"id", "title", "description", "link", "brand", "gtin", "mpn", "image_link",
	"additional_image_link", "video_link", "model_3d_link", "condition",
	"google_product_category", "product_category", "age_group", "material",
	"length", "width", "height", "weight", "item_group_id", "item_group_title",
	"color", "size", "size_system", "gender",
	"custom_variant_option_name_1", "custom_variant_option_value_1",
	"custom_variant_option_name_2", "custom_variant_option_value_2",
	"custom_variant_option_name_3", "custom_variant_option_value_3",
	"availability", "availability_date", "expiration_date",
	"inventory_not_tracked", "inventory_quantity",
	"price", "sale_price", "sale_price_effective_date",
	"stripe_product_tax_code", "third_party_tax_code", "tax_behavior",
	"applicable_fees", "shipping", "shipping_cost_basis", "free_shipping_threshold",
	"popularity_score", "return_rate", "product_review_count", "product_review_rating",
	"related_products", "product_warning", "age_restriction",
	"custom_label_0", "custom_label_1", "custom_label_2", "custom_label_3", "custom_label_4",
	"delete", "disable_checkout",
}

// inventoryColumns are the inventory feed's columns (§1.3).
var inventoryColumns = []string{sdk.FieldID, sdk.FieldAvailability, sdk.FieldAvailabilityDate, sdk.FieldInventoryQuantity}

// priceColumns are the price feed's columns (§1.4).
var priceColumns = []string{sdk.FieldID, sdk.FieldPrice, sdk.FieldSalePrice, sdk.FieldSalePriceDates}

// inventoryMappable are the keys inventory_columns accepts: the inventory
// feed plus inventory_not_tracked, which inventory.csv may carry for the
// availability check (rows with it set to true have no stock to report).
var inventoryMappable = append(slices.Clone(inventoryColumns), sdk.FieldInventoryNotTracked)

// transform says how a column's value is normalised on the way out.
type transform uint8

const (
	tfText         transform = iota // trimmed
	tfMoney                         // 19.99 -> "19.99 USD"; "19.99 usd" -> "19.99 USD"
	tfBool                          // TRUE/yes/1 -> "true"
	tfAvailability                  // "In Stock" -> "in_stock"
)

func transformOf(col string) transform {
	switch col {
	case sdk.FieldPrice, sdk.FieldSalePrice:
		return tfMoney
	case sdk.FieldInventoryNotTracked, sdk.FieldDelete, sdk.FieldDisableCheckout:
		return tfBool
	case sdk.FieldAvailability:
		return tfAvailability
	}
	return tfText
}

// normHeader is how header cells and mapping values are compared: trimmed,
// without a UTF-8 byte order mark, case-insensitive.
func normHeader(s string) string {
	s = strings.TrimPrefix(s, "\uFEFF")
	return strings.ToLower(strings.TrimSpace(s))
}

// mapping is a validated feed column -> source column map. A feed column
// mapped to "" is switched off even when the file has a column of that name.
type mapping map[string]string

// checkMapping validates a mapping from the config: keys must be in allowed
// (case-insensitive). Problems are reported under key.<feed column>.
func checkMapping(key string, in map[string]string, allowed []string, resp *sdk.ConfigureResponse) mapping {
	out := make(mapping, len(in))
	for feedCol, src := range in {
		k := normHeader(feedCol)
		if !slices.Contains(allowed, k) {
			msg := fmt.Sprintf("unknown feed column %q", feedCol)
			if s := suggestColumn(k, allowed); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += fmt.Sprintf("; this mapping accepts %s", strings.Join(allowed, ", "))
			}
			resp.AddError(key+"."+feedCol, "%s", msg)
			continue
		}
		out[k] = normHeader(src)
	}
	return out
}

// suggestColumn finds an allowed column close to name: the same letters
// without separators, or a small edit distance.
func suggestColumn(name string, allowed []string) string {
	return sdk.Closest(name, allowed, 3)
}

// outCol is one feed column of a read plan and where its value comes from.
type outCol struct {
	name string
	idx  int // index in the source row
	tf   transform
}

// plan says how rows of one file become records of one feed.
type plan struct {
	cols  []string // emitted feed column names, aligned with outs
	outs  []outCol
	idPos int // position of id in outs
	// aux columns: read from the source, not emitted; -1 when absent.
	notTracked int // inventory_not_tracked
	deleted    int // delete
	used       []bool
}

// resolve matches a file header against the wanted feed columns. Feed columns
// map by identity unless m maps them to another source column; an explicitly
// mapped column that the header lacks is an error, as is a missing id.
func resolve(file string, header []string, m mapping, want []string, aux ...string) (*plan, error) {
	pos := make(map[string]int, len(header))
	dup := map[string]bool{}
	for i, h := range header {
		h = normHeader(h)
		if h == "" {
			continue
		}
		if _, ok := pos[h]; ok {
			dup[h] = true
			continue
		}
		pos[h] = i
	}
	p := &plan{idPos: -1, notTracked: -1, deleted: -1, used: make([]bool, len(header))}
	find := func(col string) (int, error) {
		src, explicit := m[col]
		if explicit && src == "" {
			return -1, nil
		}
		if !explicit {
			src = col
		}
		i, ok := pos[src]
		switch {
		case !ok && explicit:
			return -1, fmt.Errorf("%s: column %q (mapped to feed column %s) is not in the header; the header has %s", file, src, col, quoteList(header))
		case !ok:
			return -1, nil
		case dup[src]:
			return -1, fmt.Errorf("%s: column %q (feed column %s) appears more than once in the header", file, src, col)
		}
		p.used[i] = true
		return i, nil
	}
	for _, col := range want {
		i, err := find(col)
		if err != nil {
			return nil, err
		}
		if i < 0 {
			continue
		}
		if col == sdk.FieldID {
			p.idPos = len(p.outs)
		}
		p.outs = append(p.outs, outCol{name: col, idx: i, tf: transformOf(col)})
		p.cols = append(p.cols, col)
	}
	for _, col := range aux {
		i, err := find(col)
		if err != nil {
			return nil, err
		}
		switch col {
		case sdk.FieldInventoryNotTracked:
			p.notTracked = i
		case sdk.FieldDelete:
			p.deleted = i
		}
	}
	if p.idPos < 0 {
		if src, ok := m[sdk.FieldID]; ok && src == "" {
			return nil, fmt.Errorf("%s: the id column cannot be switched off", file)
		}
		return nil, fmt.Errorf("%s: no id column (map one, e.g. columns: {id: SKU}); the header has %s", file, quoteList(header))
	}
	return p, nil
}

// unused lists header columns no feed column reads.
func (p *plan) unused(header []string) []string {
	var out []string
	for i, h := range header {
		if !p.used[i] && strings.TrimSpace(h) != "" {
			out = append(out, strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")))
		}
	}
	return out
}

func quoteList(s []string) string {
	const show = 20
	var b strings.Builder
	for i, v := range s {
		if i == show {
			fmt.Fprintf(&b, " and %d more", len(s)-show)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", strings.TrimSpace(strings.TrimPrefix(v, "\uFEFF")))
	}
	if len(s) == 0 {
		return "no columns"
	}
	return b.String()
}
