package feed

import (
	"slices"
	"sort"
	"strings"
)

// baseProduct is a realistic, valid product row.
func baseProduct() map[string]string {
	return map[string]string{
		"id":                            "SKU-1001",
		"title":                         "Classic Oxford Shirt",
		"description":                   "A long-sleeve cotton Oxford shirt with a button-down collar, a chest pocket and a curved hem. Machine washable at 40 °C; tumble dry low.\nMade in Portugal.",
		"link":                          "https://shop.example.com/products/oxford-shirt?variant=1001",
		"brand":                         "Acme Apparel",
		"gtin":                          "4006381333931",
		"mpn":                           "OX-1001",
		"image_link":                    "https://cdn.example.com/img/oxford.jpg",
		"additional_image_link":         "https://cdn.example.com/img/oxford-2.jpg,https://cdn.example.com/img/oxford-3.jpg",
		"condition":                     "new",
		"google_product_category":       "Apparel & Accessories > Clothing > Shirts & Tops",
		"product_category":              "Apparel > Shirts",
		"age_group":                     "adult",
		"material":                      "Cotton",
		"length":                        "30 in",
		"width":                         "20 in",
		"height":                        "1.5 in",
		"weight":                        "0.5 lb",
		"item_group_id":                 "OX",
		"item_group_title":              "Classic Oxford Shirt",
		"color":                         "Blue",
		"size":                          "M",
		"size_system":                   "US",
		"gender":                        "male",
		"custom_variant_option_name_1":  "Fit",
		"custom_variant_option_value_1": "Slim",
		"availability":                  "in_stock",
		"expiration_date":               "2027-12-31",
		"inventory_not_tracked":         "false",
		"inventory_quantity":            "25",
		"price":                         "49.00 USD",
		"sale_price":                    "39.00 USD",
		"sale_price_effective_date":     "2026-06-01/2026-06-30",
		"stripe_product_tax_code":       "txcd_30011000",
		"tax_behavior":                  "exclusive",
		"applicable_fees":               "US:CA:Recycling Fee:0.25 USD",
		"shipping":                      "US:ALL:Standard:3-5:5.00 USD,US:ALL:Express:1-2:15.00 USD",
		"shipping_cost_basis":           "per_order",
		"free_shipping_threshold":       "US:ALL:Standard:50.00 USD",
		"popularity_score":              "4.2",
		"return_rate":                   "3.5",
		"product_review_count":          "12",
		"product_review_rating":         "4.5",
		"related_products":              "cross_sell:SKU-2001,accessory:SKU-3001",
		"product_warning":               "safety_warning:Keep away from open flame",
		"custom_label_0":                "summer",
		"disable_checkout":              "false",
	}
}

func baseInventory() map[string]string {
	return map[string]string{"id": "SKU-1001", "availability": "in_stock", "inventory_quantity": "7"}
}

func basePrice() map[string]string {
	return map[string]string{"id": "SKU-1001", "price": "49.00 USD", "sale_price": "39.00 USD", "sale_price_effective_date": "2026-06-01/2026-06-30"}
}

func base(k Kind) map[string]string {
	switch k {
	case Inventory:
		return baseInventory()
	case Price:
		return basePrice()
	}
	return baseProduct()
}

// rowFor renders values over header; missing columns are empty.
func rowFor(header []string, vals map[string]string) []string {
	row := make([]string, len(header))
	for i, h := range header {
		row[i] = vals[h]
	}
	return row
}

// with returns a copy of m with overrides applied; the value "\x00" deletes.
func with(m map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "\x00" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

func problemCols(ps []Problem) string {
	var cs []string
	for _, p := range ps {
		c := p.Column
		if c == "" {
			c = "(row)"
		}
		if !slices.Contains(cs, c) {
			cs = append(cs, c)
		}
	}
	sort.Strings(cs)
	return strings.Join(cs, ",")
}
