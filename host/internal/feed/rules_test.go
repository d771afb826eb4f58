package feed

import (
	"strings"
	"testing"
)

// ruleCase overrides fields of the base row of its kind. want lists the
// problem columns, sorted and comma separated ("" = valid); msg, if set, must
// appear in one of the messages.
type ruleCase struct {
	name string
	kind Kind
	kv   []string
	want string
	msg  string
}

var ruleCases = []ruleCase{
	// baseline
	{name: "base product", kv: nil},
	{name: "base inventory", kind: Inventory},
	{name: "base price", kind: Price},

	// required fields, product
	{name: "id missing", kv: []string{"id", ""}, want: "id", msg: "is required"},
	{name: "title missing", kv: []string{"title", ""}, want: "title"},
	{name: "description missing", kv: []string{"description", " "}, want: "description"},
	{name: "link missing", kv: []string{"link", ""}, want: "link"},
	{name: "image_link missing", kv: []string{"image_link", ""}, want: "image_link"},
	{name: "availability missing", kv: []string{"availability", ""}, want: "availability"},
	{name: "price missing", kv: []string{"price", "", "sale_price", "", "sale_price_effective_date", ""}, want: "price"},

	// required fields, inventory and price feeds
	{name: "inventory id missing", kind: Inventory, kv: []string{"id", ""}, want: "id"},
	{name: "inventory availability missing", kind: Inventory, kv: []string{"availability", ""}, want: "availability"},
	{name: "inventory quantity missing", kind: Inventory, kv: []string{"inventory_quantity", ""}, want: "inventory_quantity"},
	{name: "inventory quantity zero ok", kind: Inventory, kv: []string{"inventory_quantity", "0", "availability", "out_of_stock"}},
	{name: "inventory quantity negative", kind: Inventory, kv: []string{"inventory_quantity", "-1"}, want: "inventory_quantity", msg: "negative"},
	{name: "inventory preorder with date", kind: Inventory, kv: []string{"availability", "preorder", "availability_date", "2026-09-01"}},
	{name: "inventory preorder without date", kind: Inventory, kv: []string{"availability", "preorder"}, want: "availability_date"},
	{name: "price id missing", kind: Price, kv: []string{"id", ""}, want: "id"},
	{name: "price price missing", kind: Price, kv: []string{"price", "", "sale_price", "", "sale_price_effective_date", ""}, want: "price"},
	{name: "price sale above price", kind: Price, kv: []string{"sale_price", "59.00 USD"}, want: "sale_price", msg: "above the price"},
	{name: "price sale without dates", kind: Price, kv: []string{"sale_price_effective_date", ""}, want: "sale_price_effective_date"},
	{name: "price only price", kind: Price, kv: []string{"sale_price", "", "sale_price_effective_date", ""}},

	// enums
	{name: "availability backorder", kv: []string{"availability", "backorder"}},
	{name: "availability bad", kv: []string{"availability", "available"}, want: "availability", msg: "in_stock, out_of_stock, preorder, backorder"},
	{name: "availability upper case", kv: []string{"availability", "IN_STOCK"}, want: "availability"},
	{name: "condition refurbished", kv: []string{"condition", "refurbished"}},
	{name: "condition empty ok", kv: []string{"condition", ""}},
	{name: "condition bad", kv: []string{"condition", "mint"}, want: "condition"},
	{name: "age_group kids", kv: []string{"age_group", "kids"}},
	{name: "age_group bad", kv: []string{"age_group", "teen"}, want: "age_group"},
	{name: "gender unisex", kv: []string{"gender", "unisex"}},
	{name: "gender bad", kv: []string{"gender", "men"}, want: "gender"},
	{name: "tax_behavior inclusive", kv: []string{"tax_behavior", "inclusive"}},
	{name: "tax_behavior bad", kv: []string{"tax_behavior", "included"}, want: "tax_behavior"},
	{name: "shipping_cost_basis per_item", kv: []string{"shipping_cost_basis", "per_item"}},
	{name: "shipping_cost_basis bad", kv: []string{"shipping_cost_basis", "per_unit"}, want: "shipping_cost_basis"},

	// booleans
	{name: "disable_checkout true", kv: []string{"disable_checkout", "true"}},
	{name: "disable_checkout TRUE", kv: []string{"disable_checkout", "TRUE"}, want: "disable_checkout", msg: "true or false"},
	{name: "inventory_not_tracked yes", kv: []string{"inventory_not_tracked", "yes"}, want: "inventory_not_tracked"},
	{name: "delete false", kv: []string{"delete", "false"}},
	{name: "delete 1", kv: []string{"delete", "1"}, want: "delete"},

	// lengths
	{name: "id 100", kv: []string{"id", strings.Repeat("a", 100)}},
	{name: "id 101", kv: []string{"id", strings.Repeat("a", 101)}, want: "id", msg: "maximum is 100"},
	{name: "id with newline", kv: []string{"id", "SKU\n1"}, want: "id"},
	{name: "id with dash slash space", kv: []string{"id", "ACME/OX 1001-b_2.x"}},
	{name: "title 150 multibyte", kv: []string{"title", strings.Repeat("é", 150)}},
	{name: "title 151", kv: []string{"title", strings.Repeat("é", 151)}, want: "title", msg: "151 characters"},
	{name: "description 5000", kv: []string{"description", strings.Repeat("x", 5000)}},
	{name: "description 5001", kv: []string{"description", strings.Repeat("x", 5001)}, want: "description"},
	{name: "brand 71", kv: []string{"brand", strings.Repeat("b", 71)}, want: "brand"},
	{name: "mpn 71", kv: []string{"mpn", strings.Repeat("m", 71)}, want: "mpn"},
	{name: "item_group_id 71", kv: []string{"item_group_id", strings.Repeat("g", 71)}, want: "item_group_id"},
	{name: "item_group_title 151", kv: []string{"item_group_title", strings.Repeat("g", 151)}, want: "item_group_title"},
	{name: "color 100", kv: []string{"color", strings.Repeat("c", 100)}},
	{name: "color 101", kv: []string{"color", strings.Repeat("c", 101)}, want: "color"},
	{name: "size 20", kv: []string{"size", strings.Repeat("s", 20)}},
	{name: "size 21", kv: []string{"size", strings.Repeat("s", 21)}, want: "size"},
	{name: "material 101", kv: []string{"material", strings.Repeat("m", 101)}, want: "material"},
	{name: "custom_label 101", kv: []string{"custom_label_3", strings.Repeat("l", 101)}, want: "custom_label_3"},
	{name: "third_party_tax_code 120", kv: []string{"third_party_tax_code", "anrok:" + strings.Repeat("1", 114)}},
	{name: "third_party_tax_code 121", kv: []string{"third_party_tax_code", "anrok:" + strings.Repeat("1", 115)}, want: "third_party_tax_code"},
	{name: "invalid utf8", kv: []string{"title", "Caf\xe9"}, want: "title", msg: "UTF-8"},

	// money
	{name: "price without decimals", kv: []string{"price", "8000 JPY", "sale_price", "", "sale_price_effective_date", ""}},
	{name: "price comma decimal", kv: []string{"price", "49,00 USD"}, want: "price", msg: "period"},
	{name: "price thousands sep", kv: []string{"price", "1,049.00 USD"}, want: "price"},
	{name: "price no currency", kv: []string{"price", "49.00"}, want: "price"},
	{name: "price lower currency", kv: []string{"price", "49.00 usd"}, want: "price", msg: "upper-case"},
	{name: "price currency first", kv: []string{"price", "USD 49.00"}, want: "price"},
	{name: "price negative", kv: []string{"price", "-1.00 USD"}, want: "price", msg: "negative"},
	{name: "price symbol", kv: []string{"price", "$49.00 USD"}, want: "price"},
	{name: "price zero", kv: []string{"price", "0.00 USD", "sale_price", "", "sale_price_effective_date", ""}},

	// sale price rules
	{name: "sale equal price", kv: []string{"sale_price", "49.00 USD"}},
	{name: "sale above price", kv: []string{"sale_price", "49.01 USD"}, want: "sale_price", msg: "above"},
	{name: "sale above price long", kv: []string{"sale_price", "100 USD"}, want: "sale_price"},
	{name: "sale other currency", kv: []string{"sale_price", "39.00 EUR"}, want: "sale_price", msg: "currency"},
	{name: "sale without effective date", kv: []string{"sale_price_effective_date", ""}, want: "sale_price_effective_date", msg: "sale_price is set"},
	{name: "effective date without sale ok", kv: []string{"sale_price", ""}},

	// dimensions and weight
	{name: "dimension cm", kv: []string{"length", "76.2 cm", "width", "50 cm", "height", "3 cm"}},
	{name: "dimension mixed units", kv: []string{"height", "3 cm"}, want: "height", msg: "same unit"},
	{name: "dimension bad unit", kv: []string{"length", "30 ft"}, want: "length"},
	{name: "dimension no unit", kv: []string{"width", "20"}, want: "width"},
	{name: "dimension no space", kv: []string{"width", "20in"}, want: "width"},
	{name: "weight kg", kv: []string{"weight", "1.25 kg"}},
	{name: "weight oz", kv: []string{"weight", "8 oz"}},
	{name: "weight g", kv: []string{"weight", "227 g"}},
	{name: "weight bad unit", kv: []string{"weight", "2 lbs"}, want: "weight"},
	{name: "weight negative", kv: []string{"weight", "-2 lb"}, want: "weight"},

	// dates
	{name: "expiration datetime", kv: []string{"expiration_date", "2027-12-31T23:59:59Z"}},
	{name: "expiration datetime offset", kv: []string{"expiration_date", "2027-12-31T23:59:59.250+01:00"}},
	{name: "expiration bad month", kv: []string{"expiration_date", "2027-13-01"}, want: "expiration_date"},
	{name: "expiration Feb 29 non-leap", kv: []string{"expiration_date", "2027-02-29"}, want: "expiration_date"},
	{name: "expiration Feb 29 leap", kv: []string{"expiration_date", "2028-02-29"}},
	{name: "expiration US format", kv: []string{"expiration_date", "12/31/2027"}, want: "expiration_date"},
	{name: "availability_date bad", kv: []string{"availability_date", "next week"}, want: "availability_date"},
	{name: "range datetimes", kv: []string{"sale_price_effective_date", "2026-06-01T00:00:00-07:00/2026-06-30T23:59:59-07:00"}},
	{name: "range single day", kv: []string{"sale_price_effective_date", "2026-06-01/2026-06-01"}},
	{name: "range reversed", kv: []string{"sale_price_effective_date", "2026-06-30/2026-06-01"}, want: "sale_price_effective_date", msg: "start is after"},
	{name: "range one date", kv: []string{"sale_price_effective_date", "2026-06-01"}, want: "sale_price_effective_date"},
	{name: "range bad date", kv: []string{"sale_price_effective_date", "2026-06-01/2026-06-31"}, want: "sale_price_effective_date"},

	// URLs
	{name: "link http", kv: []string{"link", "http://shop.example.com/p"}},
	{name: "link relative", kv: []string{"link", "/products/oxford"}, want: "link", msg: "absolute"},
	{name: "link ftp", kv: []string{"link", "ftp://shop.example.com/p"}, want: "link"},
	{name: "link space", kv: []string{"link", "https://shop.example.com/oxford shirt"}, want: "link", msg: "%20"},
	{name: "link no host", kv: []string{"link", "https:///p"}, want: "link"},
	{name: "image_link no scheme", kv: []string{"image_link", "cdn.example.com/a.jpg"}, want: "image_link"},
	{name: "video_link ok", kv: []string{"video_link", "https://cdn.example.com/v.mp4"}},
	{name: "model_3d_link bad", kv: []string{"model_3d_link", "model.glb"}, want: "model_3d_link"},
	{name: "additional images 10", kv: []string{"additional_image_link", strings.TrimSuffix(strings.Repeat("https://cdn.example.com/x.jpg,", 10), ",")}},
	{name: "additional images 11", kv: []string{"additional_image_link", strings.TrimSuffix(strings.Repeat("https://cdn.example.com/x.jpg,", 11), ",")}, want: "additional_image_link", msg: "maximum is 10"},
	{name: "additional images trailing comma", kv: []string{"additional_image_link", "https://cdn.example.com/x.jpg, https://cdn.example.com/y.jpg,"}},
	{name: "additional images encoded comma", kv: []string{"additional_image_link", "https://cdn.example.com/w_100%2Ch_100/x.jpg"}},
	{name: "additional images raw comma", kv: []string{"additional_image_link", "https://cdn.example.com/w_100,h_100/x.jpg"}, want: "additional_image_link", msg: "%2C"},

	// gtin and mpn
	{name: "gtin 8", kv: []string{"gtin", "96385074"}},
	{name: "gtin 12", kv: []string{"gtin", "036000291452"}},
	{name: "gtin 14", kv: []string{"gtin", "10012345678902"}},
	{name: "gtin isbn13", kv: []string{"gtin", "9780306406157"}},
	{name: "gtin bad check digit", kv: []string{"gtin", "4006381333932"}, want: "gtin", msg: "check digit"},
	{name: "gtin scientific", kv: []string{"gtin", "3.65275E+11"}, want: "gtin", msg: "scientific"},
	{name: "gtin dashes", kv: []string{"gtin", "400-6381-33393-1"}, want: "gtin", msg: "dashes"},
	{name: "gtin 10 digits", kv: []string{"gtin", "0306406152"}, want: "gtin", msg: "8, 12, 13 or 14"},
	{name: "gtin empty mpn set", kv: []string{"gtin", ""}},
	{name: "mpn empty gtin set", kv: []string{"mpn", ""}},
	{name: "gtin and mpn empty", kv: []string{"gtin", "", "mpn", ""}, want: "mpn", msg: "gtin is empty"},

	// brand and categories
	{name: "brand missing", kv: []string{"brand", ""}, want: "brand"},
	{name: "brand missing book path", kv: []string{"brand", "", "google_product_category", "Media > Books > Print Books"}},
	{name: "brand missing book id", kv: []string{"brand", "", "google_product_category", "784"}},
	{name: "brand missing music id-path", kv: []string{"brand", "", "google_product_category", "855 - Media > Music & Sound Recordings"}},
	{name: "brand missing movies own category", kv: []string{"brand", "", "google_product_category", "", "product_category", "Movies > Drama"}},
	{name: "brand missing musical instruments", kv: []string{"brand", "", "google_product_category", "", "product_category", "Musical Instruments > Guitars"}, want: "brand"},
	{name: "brand missing magazines", kv: []string{"brand", "", "google_product_category", "Media > Magazines & Newspapers"}, want: "brand"},
	{name: "google category only", kv: []string{"product_category", ""}},
	{name: "product category only", kv: []string{"google_product_category", ""}},
	{name: "no category", kv: []string{"google_product_category", "", "product_category", ""}, want: "product_category"},

	// availability and inventory
	{name: "preorder with date", kv: []string{"availability", "preorder", "availability_date", "2026-09-01"}},
	{name: "preorder without date", kv: []string{"availability", "preorder"}, want: "availability_date", msg: "preorder"},
	{name: "quantity missing", kv: []string{"inventory_quantity", ""}, want: "inventory_quantity", msg: "inventory_not_tracked"},
	{name: "quantity missing flag blank", kv: []string{"inventory_quantity", "", "inventory_not_tracked", ""}, want: "inventory_quantity"},
	{name: "not tracked blank quantity", kv: []string{"inventory_not_tracked", "true", "inventory_quantity", ""}},
	{name: "not tracked with quantity", kv: []string{"inventory_not_tracked", "true"}, want: "inventory_quantity", msg: "blank"},
	{name: "quantity decimal", kv: []string{"inventory_quantity", "2.5"}, want: "inventory_quantity"},

	// numbers
	{name: "popularity 0", kv: []string{"popularity_score", "0"}},
	{name: "popularity 5", kv: []string{"popularity_score", "5"}},
	{name: "popularity 5.1", kv: []string{"popularity_score", "5.1"}, want: "popularity_score"},
	{name: "popularity text", kv: []string{"popularity_score", "high"}, want: "popularity_score"},
	{name: "return rate 100", kv: []string{"return_rate", "100"}},
	{name: "return rate 101", kv: []string{"return_rate", "101"}, want: "return_rate"},
	{name: "return rate percent", kv: []string{"return_rate", "3%"}, want: "return_rate", msg: "without %"},
	{name: "return rate negative", kv: []string{"return_rate", "-1"}, want: "return_rate"},
	{name: "rating 1", kv: []string{"product_review_rating", "1"}},
	{name: "rating 0.5", kv: []string{"product_review_rating", "0.5"}, want: "product_review_rating"},
	{name: "rating 5.5", kv: []string{"product_review_rating", "5.5"}, want: "product_review_rating"},
	{name: "review count negative", kv: []string{"product_review_count", "-3"}, want: "product_review_count"},
	{name: "count >0 no rating", kv: []string{"product_review_rating", ""}, want: "product_review_rating", msg: "above 0"},
	{name: "count 0 no rating", kv: []string{"product_review_count", "0", "product_review_rating", ""}},
	{name: "count 0 with rating", kv: []string{"product_review_count", "0"}, want: "product_review_rating", msg: "blank"},
	{name: "rating without count", kv: []string{"product_review_count", ""}},
	{name: "age_restriction 21", kv: []string{"age_restriction", "21"}},
	{name: "age_restriction bad", kv: []string{"age_restriction", "18+"}, want: "age_restriction"},

	// tax codes and country codes
	{name: "tax code bad", kv: []string{"stripe_product_tax_code", "30011000"}, want: "stripe_product_tax_code"},
	{name: "third party tax ok", kv: []string{"third_party_tax_code", "anrok:12345", "stripe_product_tax_code", ""}},
	{name: "third party tax bad", kv: []string{"third_party_tax_code", "12345"}, want: "third_party_tax_code"},
	{name: "size_system GB", kv: []string{"size_system", "GB"}},
	{name: "size_system UK", kv: []string{"size_system", "UK"}, want: "size_system", msg: "GB"},
	{name: "size_system lower", kv: []string{"size_system", "us"}, want: "size_system"},

	// shipping
	{name: "shipping without speed", kv: []string{"shipping", "US:ALL:Standard:5.00 USD"}},
	{name: "shipping subdivision", kv: []string{"shipping", "US:CA:Standard:3-5:5.00 USD,CA:QC:Standard:5-8:12.00 CAD"}},
	{name: "shipping postal codes", kv: []string{"shipping", "US:94012:Standard:1-2:0.00 USD,US:73114-74547:Standard:2-3:4.00 USD,US:94*:Standard:1-2:1.00 USD,US:94*-95*:Standard:1-2:2.00 USD"}},
	{name: "shipping postal outside US", kv: []string{"shipping", "CA:H2X1Y4:Standard:3-5:5.00 CAD"}, want: "shipping", msg: "delivery area"},
	{name: "shipping bad country", kv: []string{"shipping", "USA:ALL:Standard:3-5:5.00 USD"}, want: "shipping", msg: "country"},
	{name: "shipping bad speed", kv: []string{"shipping", "US:ALL:Standard:3 to 5:5.00 USD"}, want: "shipping", msg: "speed"},
	{name: "shipping reversed speed", kv: []string{"shipping", "US:ALL:Standard:5-3:5.00 USD"}, want: "shipping"},
	{name: "shipping bad price", kv: []string{"shipping", "US:ALL:Standard:3-5:5"}, want: "shipping", msg: "price"},
	{name: "shipping too few fields", kv: []string{"shipping", "US:Standard:5.00 USD"}, want: "shipping"},
	{name: "shipping empty service", kv: []string{"shipping", "US:ALL::3-5:5.00 USD"}, want: "shipping"},

	// applicable fees
	{name: "fees ALL", kv: []string{"applicable_fees", "US:ALL:Battery Fee:1.00 USD"}},
	{name: "fees with basis", kv: []string{"applicable_fees", "US:CA:Recycling Fee:0.25 USD:per_item"}},
	{name: "fees two entries", kv: []string{"applicable_fees", "US:CA:Recycling Fee:0.25 USD,US:NY:Bag Fee:0.05 USD"}},
	{name: "fees bad amount", kv: []string{"applicable_fees", "US:CA:Recycling Fee:0.25"}, want: "applicable_fees"},
	{name: "fees missing label", kv: []string{"applicable_fees", "US:CA:0.25 USD"}, want: "applicable_fees"},

	// free shipping threshold
	{name: "free shipping unknown service", kv: []string{"free_shipping_threshold", "US:ALL:Overnight:50.00 USD"}, want: "free_shipping_threshold", msg: "not a service"},
	{name: "free shipping without shipping", kv: []string{"shipping", ""}, want: "free_shipping_threshold"},
	{name: "free shipping bad threshold", kv: []string{"free_shipping_threshold", "US:ALL:Standard:50"}, want: "free_shipping_threshold"},
	{name: "free shipping second service", kv: []string{"free_shipping_threshold", "US:ALL:Express:150.00 USD"}},

	// related products
	{name: "related all types", kv: []string{"related_products", "upsell:A,cross_sell:B,substitute:C,accessory:D"}},
	{name: "related self", kv: []string{"related_products", "upsell:SKU-1001"}, want: "related_products", msg: "itself"},
	{name: "related duplicate", kv: []string{"related_products", "upsell:A,accessory:A"}, want: "related_products", msg: "twice"},
	{name: "related bad type", kv: []string{"related_products", "similar:A"}, want: "related_products"},
	{name: "related no target", kv: []string{"related_products", "upsell"}, want: "related_products"},
	{name: "related 10", kv: []string{"related_products", "upsell:A1,upsell:A2,upsell:A3,upsell:A4,upsell:A5,upsell:A6,upsell:A7,upsell:A8,upsell:A9,upsell:A10"}},
	{name: "related 11", kv: []string{"related_products", "upsell:A1,upsell:A2,upsell:A3,upsell:A4,upsell:A5,upsell:A6,upsell:A7,upsell:A8,upsell:A9,upsell:A10,upsell:A11"}, want: "related_products", msg: "more than 10"},

	// product warnings
	{name: "warning prop65 with colon", kv: []string{"product_warning", "prop_65:WARNING: cancer and reproductive harm - www.P65Warnings.ca.gov,legal_disclaimer:Not for resale"}},
	{name: "warning bad type", kv: []string{"product_warning", "allergy:Contains nuts"}, want: "product_warning"},
	{name: "warning comma in message", kv: []string{"product_warning", "safety_warning:Contains nuts, soy"}, want: "product_warning", msg: "comma"},
	{name: "warning 1000", kv: []string{"product_warning", "safety_warning:" + strings.Repeat("w", 1000)}},
	{name: "warning 1001", kv: []string{"product_warning", "safety_warning:" + strings.Repeat("w", 1001)}, want: "product_warning", msg: "maximum is 1000"},

	// variants
	{name: "variant option name without value", kv: []string{"custom_variant_option_value_1", ""}, want: "custom_variant_option_value_1"},
	{name: "variant option value without name", kv: []string{"custom_variant_option_name_1", "", "custom_variant_option_value_2", "Oak"}, want: "custom_variant_option_name_1,custom_variant_option_name_2"},
	{name: "variant option 3 pair", kv: []string{"custom_variant_option_name_3", "Engraving", "custom_variant_option_value_3", "None"}},
	{name: "variant options need group", kv: []string{"item_group_id", ""}, want: "item_group_id", msg: "variant"},
	{name: "color and size without group ok", kv: []string{"item_group_id", "", "custom_variant_option_name_1", "", "custom_variant_option_value_1", ""}},

	// delete rows need only an id
	{name: "delete with only id", kv: []string{"delete", "true", "title", "", "price", "bogus", "gtin", "1", "brand", "", "availability", ""}},
	{name: "delete without id", kv: []string{"delete", "true", "id", ""}, want: "id"},
	{name: "delete with long id", kv: []string{"delete", "true", "id", strings.Repeat("x", 101)}, want: "id"},

	// whitespace is trimmed before checking
	{name: "padded enum", kv: []string{"availability", " in_stock "}},
}

func TestRules(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range ruleCases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			k := tc.kind
			if k == 0 {
				k = Product
			}
			header := Columns(k)
			row := rowFor(header, with(base(k), tc.kv...))
			ps := Check(k, header, row)
			if got := problemCols(ps); got != tc.want {
				t.Fatalf("problem columns = %q, want %q; problems: %v", got, tc.want, ps)
			}
			if tc.msg != "" {
				found := false
				for _, p := range ps {
					found = found || strings.Contains(p.Message, tc.msg)
				}
				if !found {
					t.Errorf("no message contains %q: %v", tc.msg, ps)
				}
			}
			// The Schema form must agree with Check.
			s, err := NewSchema(k, header)
			if err != nil {
				t.Fatal(err)
			}
			if got := problemCols(s.Check(row, nil)); got != tc.want {
				t.Errorf("Schema.Check columns = %q, want %q", got, tc.want)
			}
			for _, p := range ps {
				if p.Row != 0 {
					t.Errorf("Check set Row = %d, want 0", p.Row)
				}
			}
		})
	}
}

func TestCheckHeaderProblems(t *testing.T) {
	header := []string{"id", "Title", "price"}
	ps := Check(Product, header, []string{"A", "x", "1.00 USD"})
	got := map[string]string{}
	for _, p := range ps {
		got[p.Column] += p.Message + ";"
	}
	if !strings.Contains(got["Title"], `did you mean "title"`) {
		t.Errorf("Title: %q", got["Title"])
	}
	for _, c := range []string{"title", "description", "link", "image_link", "availability"} {
		if !strings.Contains(got[c], "missing from the header") {
			t.Errorf("%s: %q", c, got[c])
		}
		if strings.Contains(got[c], "is required") {
			t.Errorf("%s reported twice: %q", c, got[c])
		}
	}
	// a column of another feed kind
	ps = Check(Inventory, []string{"id", "availability", "inventory_quantity", "price"}, []string{"A", "in_stock", "1", "1.00 USD"})
	if problemCols(ps) != "price" {
		t.Errorf("inventory with price column: %v", ps)
	}
	// row length mismatch
	ps = Check(Inventory, []string{"id", "availability", "inventory_quantity"}, []string{"A", "in_stock"})
	if len(ps) != 1 || ps[0].Column != "" || !strings.Contains(ps[0].Message, "2 fields") {
		t.Errorf("short row: %v", ps)
	}
	if ps := Check(Kind(9), nil, nil); len(ps) != 1 {
		t.Errorf("invalid kind: %v", ps)
	}
}

func TestNewSchemaErrors(t *testing.T) {
	cases := []struct {
		kind   Kind
		header []string
		want   []string // substrings of the error; nil = no error
	}{
		{Product, Columns(Product), nil},
		{Inventory, Columns(Inventory), nil},
		{Price, Columns(Price), nil},
		{Product, []string{"\uFEFFid", " title ", "description", "link", "image_link", "availability", "price"}, nil},
		{Product, []string{"id", "delete"}, nil},
		{Inventory, []string{"id", "delete"}, []string{`unknown columns "delete"`, "missing required columns availability, inventory_quantity"}},
		{Product, []string{"id", "title", "title"}, []string{"duplicate columns title", "missing required columns description"}},
		{Inventory, []string{"sku_id", "inventory_quantity"}, []string{`"sku_id" (did you mean "id"?)`, "missing required columns id, availability"}},
		{Price, []string{"id", "Price"}, []string{`"Price" (did you mean "price"?)`}},
		{Product, nil, []string{"no columns"}},
	}
	for _, tc := range cases {
		_, err := NewSchema(tc.kind, tc.header)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%v %q: %v", tc.kind, tc.header, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%v %q: no error", tc.kind, tc.header)
			continue
		}
		var he *HeaderError
		if !asHeaderError(err, &he) {
			t.Errorf("error %T is not *HeaderError", err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v %q: error %q lacks %q", tc.kind, tc.header, err, w)
			}
		}
	}
}

func asHeaderError(err error, he **HeaderError) bool {
	h, ok := err.(*HeaderError)
	*he = h
	return ok
}

func TestDetectKind(t *testing.T) {
	cases := []struct {
		header []string
		want   Kind
	}{
		{Columns(Product), Product},
		{Columns(Inventory), Inventory},
		{[]string{"id", "inventory_quantity"}, Inventory},
		{[]string{"sku_id", "inventory_quantity"}, Inventory},
		{Columns(Price), Price},
		{[]string{"id", "price"}, Price},
		{[]string{"id", "price", "availability"}, Product},
		{[]string{"id", "title"}, Product},
		{[]string{"id"}, Product},
		{[]string{"Handle", "Title"}, Product},
	}
	for _, tc := range cases {
		if got := DetectKind(tc.header); got != tc.want {
			t.Errorf("DetectKind(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}
