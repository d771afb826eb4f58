package main

import (
	"strings"
	"testing"
)

func TestNormalizeGTIN(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"4006381333931", "4006381333931", true}, // EAN-13
		{"036000291452", "036000291452", true},   // UPC-A
		{"96385074", "96385074", true},           // GTIN-8
		{"10036000291459", "10036000291459", true},
		{"978-0-306-40615-7", "9780306406157", true}, // hyphenated ISBN-13
		{"777979207524", "777979207524", true},       // product_template_2023.csv
		{"3.65275E+11", "", false},                   // Excel scientific notation
		{"365275101829", "", false},                  // check digit wrong
		{"4006381333932", "", false},
		{"36000291452", "", false}, // UPC that lost its leading zero
		{"5784397765", "", false},  // 10 digits (product_template.csv)
		{"0306406152", "", false},  // ISBN-10
		{"978-1-98765-432-1", "", false},
		{"00000000", "", false},
		{"40063813339a1", "", false},
		{"", "", false},
		{"'036000291452", "", false},
	} {
		got, ok := normalizeGTIN(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("normalizeGTIN(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		max            int
	}{
		{"plain", "Plain text.", "Plain text.", 0},
		{"paragraph", "<p>Classic blown clay pot for plants</p>", "Classic blown clay pot for plants", 0},
		{"entities", "Fish &amp; chips&nbsp;&#8211;&#x20AC;5 &lt;hot&gt; &quot;q&quot; &#39;s", "Fish & chips –€5 <hot> \"q\" 's", 0},
		{"nbsp and unicode spaces", "wide\u00a0 sleeves\u2028and\u3000cuffs ", "wide sleeves and cuffs", 0},
		{"list", "Intro.<ul>\n<li>One</li>\n<li>Two</li>\n</ul>", "Intro.\n- One\n- Two", 0},
		{"headings and spans", "<h6><span>Description</span></h6>\n<p><span>Lorem   ipsum.</span></p>", "Description\nLorem ipsum.", 0},
		{"br and div", "a<br>b<br/>c<div>d</div>e", "a\nb\nc\nd\ne", 0},
		{"inline tags", "A <b>bold</b> <a href=\"https://x.example\">link</a>.", "A bold link.", 0},
		{"script and style dropped", "<style>p{color:red}</style>Text<script>alert(1)</script> end", "Text end", 0},
		{"comment dropped", "a<!-- hidden -->b", "ab", 0},
		{"empty", "", "", 0},
		{"only tags", "<p> </p><p>&nbsp;</p>", "", 0},
		{"truncate on rune boundary", "héllo wörld", "héllo", 6},
		{"truncate multibyte", "日本製のシャツ", "日本製", 3},
		{"table cells", "<table><tr><td>a</td><td>b</td></tr></table>", "a b", 0},
	} {
		if got := htmlToText(tc.in, tc.max); got != tc.want {
			t.Errorf("%s: htmlToText(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestDerivedID(t *testing.T) {
	for _, tc := range []struct {
		handle string
		values []string
		want   string
	}{
		{"ocean-blue-shirt", nil, "ocean-blue-shirt"},
		{"classic-varsity-top", []string{"Medium"}, "classic-varsity-top-medium"},
		{"tee", []string{"S", "Dark Blue"}, "tee-s-dark-blue"},
		{"tee", []string{"XL/XXL", "50% wool"}, "tee-xl-xxl-50-wool"},
	} {
		if got := derivedID(tc.handle, tc.values); got != tc.want {
			t.Errorf("derivedID(%q, %q) = %q, want %q", tc.handle, tc.values, got, tc.want)
		}
	}
	a, b := derivedID("tシャツ", []string{"赤"}), derivedID("tシャツ", []string{"青"})
	if a == b || !validDerivedID(a) || !validDerivedID(b) {
		t.Errorf("non-ASCII values need distinct, valid ids: %q %q", a, b)
	}
	if derivedID("tシャツ", []string{"赤"}) != a {
		t.Error("derived ids must be stable")
	}
	long := derivedID(strings.Repeat("very-long-handle-", 10), []string{"Size"})
	if len(long) > 100 || !validDerivedID(long) {
		t.Errorf("long derived id %q (%d chars)", long, len(long))
	}
	if g := groupID(strings.Repeat("h", 80)); len(g) > 70 {
		t.Errorf("groupID too long: %q", g)
	}
}

func TestGramsToWeight(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"145", "145 g", true},
		{"226.796185", "226.796185 g", true},
		{"28.0", "28 g", true},
		{"0.50", "0.5 g", true},
		{"0", "", true},
		{"0.0", "", true},
		{"-5", "", false},
		{"1,5", "", false},
		{"abc", "", false},
		{".", "", false},
	} {
		got, ok := gramsToWeight(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("gramsToWeight(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestGoogleShoppingValues(t *testing.T) {
	for in, want := range map[string]string{"male": "male", "Male": "male", "Unisex": "unisex", "FEMALE": "female", "Women": "female", "kids": ""} {
		if got := mapGender(in); got != want {
			t.Errorf("mapGender(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"adult": "adult", "Adult (13+ years old)": "adult", "Kids (5–13 years old)": "kids", "Newborn (0–3 months old)": "newborn", "teen": ""} {
		if got := mapAgeGroup(in); got != want {
			t.Errorf("mapAgeGroup(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"new": "new", "New": "new", "refurbished": "refurbished", "Used": "used", "mint": ""} {
		if got := mapCondition(in); got != want {
			t.Errorf("mapCondition(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"Color": "color", "Colour": "color", "COLOR": "color", "Farbe": "color", "Size": "size", "Größe": "size", "Taille": "size", "Material": "material", "Format": ""} {
		if got := optionKind(in); got != want {
			t.Errorf("optionKind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveHeaderDialects(t *testing.T) {
	for _, tc := range []struct {
		header  string
		dialect string
	}{
		{"Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Variant SKU,Variant Price", "classic"},
		{"Handle,Title,Body (HTML),Vendor,Product Category,Type,Variant SKU,Variant Price,Price / United States,Status", "2023-24"},
		{"Handle,Title,Option1 Name,Option1 Value,Option1 Linked To,Variant SKU,Variant Price,Kolor (product.metafields.shopify.color-pattern)", "2024-25"},
		{"Title,URL handle,Description,Vendor,Product category,Type,SKU,Barcode,Option1 name,Option1 value,Price,Compare-at price", "2025"},
	} {
		h := resolveHeader(strings.Split(tc.header, ","))
		if h.dialect != tc.dialect {
			t.Errorf("%s: dialect %q, want %q", tc.header, h.dialect, tc.dialect)
		}
		if !h.has(fHandle) || !h.has(fSKU) || !h.has(fPrice) {
			t.Errorf("%s: handle, SKU and price must resolve: %v", tc.header, h.idx)
		}
	}
	// Market and metafield columns never shadow the base ones.
	h := resolveHeader(strings.Split("Handle,Price / United States,Variant Price,Compare At Price / International,Variant Compare At Price", ","))
	if h.idx[fPrice] != 2 || h.idx[fCompareAt] != 4 {
		t.Errorf("market columns taken for base prices: %v", h.idx)
	}
	// Case, padding, BOM and NBSP in header cells.
	h = resolveHeader([]string{"\uFEFFHANDLE", "  variant\u00a0sku ", "VARIANT PRICE"})
	if h.idx[fHandle] != 0 || h.idx[fSKU] != 1 || h.idx[fPrice] != 2 {
		t.Errorf("header matching is not case/space-insensitive: %v", h.idx)
	}
}
