package main

import (
	"path/filepath"
	"testing"

	"github.com/acs-connector/acs-connector/sdk/sdktest"
)

// samples lists the shared exports with what a reader of the file (not this
// code) counts in it: rows that are variants, image-only rows, and variant
// rows of draft/archived/unpublished products.
var samples = []struct {
	file                           string
	variantRows, imageOnly, drafts int
}{
	{"apparel.csv", 22, 0, 0},
	{"home-and-garden.csv", 21, 0, 0},
	{"jewelery.csv", 23, 18, 0},
	{"product_template.csv", 15, 0, 0},
	// example-pants (draft, Published=FALSE, 3 variants) and example-hat
	// (archived) are left out; the pants' image-only row is not a variant.
	{"product_template_2023.csv", 16, 1, 4},
	{"products_export_1.csv", 21, 0, 0},
}

// goldenConfig is the config the goldens are made with. Only apparel.csv
// needs the category fallback: it has no Type and no Product Category.
func goldenConfig(export string) map[string]any {
	cfg := testConfig(export)
	cfg["product_category_fallback"] = "Apparel & Accessories > Clothing"
	return cfg
}

// TestGolden maps each real Shopify export and compares the records and the
// rejects with reviewed goldens. Every variant row must end up as a record
// or a reject; image-only rows never become variants.
func TestGolden(t *testing.T) {
	needSamples(t)
	for _, s := range samples {
		t.Run(s.file, func(t *testing.T) {
			cfg := goldenConfig(filepath.Join(samplesDir, s.file))
			res := read(t, cfg, sdktest.Catalog)
			golden(t, s.file+".records.json", recordsJSON(res.Records))
			golden(t, s.file+".rejects.json", rejectsJSON(res.Rejects))

			if got := len(res.Records) + len(res.Rejects) + s.drafts; got != s.variantRows {
				t.Errorf("records %d + rejects %d + drafts %d = %d, want %d variant rows", len(res.Records), len(res.Rejects), s.drafts, got, s.variantRows)
			}
			// With drafts included every variant row is a record or a reject.
			cfg["include_drafts"] = true
			all := read(t, cfg, sdktest.Catalog)
			if got := len(all.Records) + len(all.Rejects); got != s.variantRows {
				t.Errorf("include_drafts: records %d + rejects %d = %d, want %d variant rows", len(all.Records), len(all.Rejects), got, s.variantRows)
			}
		})
	}
}
