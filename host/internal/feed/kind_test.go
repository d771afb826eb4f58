package feed

import (
	"slices"
	"strings"
	"testing"
)

func TestKinds(t *testing.T) {
	cases := []struct {
		in             []string
		k              Kind
		str, sdf, v2ft string
	}{
		{[]string{"product", "catalog", " Product "}, Product, "product", "product_catalog_feed", "product"},
		{[]string{"inventory", "INVENTORY"}, Inventory, "inventory", "inventory_feed", "inventory"},
		{[]string{"price", "pricing"}, Price, "price", "price_feed", "pricing"},
	}
	for _, tc := range cases {
		for _, in := range tc.in {
			k, err := ParseKind(in)
			if err != nil || k != tc.k {
				t.Errorf("ParseKind(%q) = %v, %v", in, k, err)
			}
		}
		if tc.k.String() != tc.str || tc.k.StandardDataFormat() != tc.sdf || tc.k.V2FeedType() != tc.v2ft {
			t.Errorf("%v: %q %q %q", tc.k, tc.k.String(), tc.k.StandardDataFormat(), tc.k.V2FeedType())
		}
	}
	if _, err := ParseKind("promotion"); err == nil {
		t.Error("promotion accepted")
	}
	if Kind(0).String() != "Kind(0)" || Kind(9).V2FeedType() != "" || Columns(Kind(9)) != nil {
		t.Error("invalid kind")
	}
}

func TestColumns(t *testing.T) {
	p := Columns(Product)
	if len(p) != 61 || p[0] != "id" || p[len(p)-1] != "disable_checkout" {
		t.Fatalf("product columns: %d %q…%q", len(p), p[0], p[len(p)-1])
	}
	for _, want := range []string{"custom_variant_option_name_1", "custom_variant_option_value_3", "custom_label_0", "custom_label_4",
		"delete", "related_products", "product_warning", "free_shipping_threshold", "model_3d_link", "third_party_tax_code"} {
		if !slices.Contains(p, want) {
			t.Errorf("product feed lacks %s", want)
		}
	}
	seen := map[string]bool{}
	for _, c := range p {
		if seen[c] || c != strings.ToLower(c) {
			t.Errorf("column %q duplicated or not lower case", c)
		}
		seen[c] = true
	}
	if got := strings.Join(Columns(Inventory), ","); got != "id,availability,availability_date,inventory_quantity" {
		t.Errorf("inventory columns %s", got)
	}
	if got := strings.Join(Columns(Price), ","); got != "id,price,sale_price,sale_price_effective_date" {
		t.Errorf("price columns %s", got)
	}
	p[0] = "changed"
	if Columns(Product)[0] != "id" {
		t.Error("Columns returns shared storage")
	}
	if got := strings.Join(RequiredColumns(Inventory), ","); got != "id,availability,inventory_quantity" {
		t.Errorf("required inventory columns %s", got)
	}
}

func TestValuePrimitives(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"1", "1.0", 0}, {"010", "10", 0}, {"9.99", "10", -1}, {"10.01", "10", 1}, {"0.5", "0.49", 1}, {"100", "99.999", 1}} {
		if got := compareDecimal(tc.a, tc.b); got != tc.want {
			t.Errorf("compareDecimal(%s, %s) = %d", tc.a, tc.b, got)
		}
	}
	// time zones are honoured when ordering a range
	a, _ := parseISO8601("2026-06-01T10:00:00+02:00")
	b, _ := parseISO8601("2026-06-01T09:00:00Z")
	if a >= b {
		t.Errorf("10:00+02:00 should be before 09:00Z")
	}
	for _, bad := range []string{"2026-6-1", "2026-06-01T25:00", "2026-06-01T10:00+2", "2026-06-01T10:00:00ZZ", "2026-00-10", "20260601"} {
		if _, ok := parseISO8601(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, good := range []string{"2026-06-01", "2026-06-01T10:00", "2026-06-01 10:00:00", "2026-06-01T10:00:00.123456-0700", "2026-06-01T10:00+05"} {
		if _, ok := parseISO8601(good); !ok {
			t.Errorf("%q rejected", good)
		}
	}
	if p := (Problem{Row: 3, Column: "gtin", Message: "bad"}); p.String() != "row 3: gtin: bad" {
		t.Error(p.String())
	}
}
