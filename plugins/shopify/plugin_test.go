package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/sdktest"
)

// TestAcceptance runs the SDK's acceptance suite against a copy of the
// shared sample exports (all six files in one directory), or against the
// synthetic edge.csv when the samples are not there.
func TestAcceptance(t *testing.T) {
	dir := t.TempDir()
	inStock := "TheBandTShirt-SG"
	entries, err := os.ReadDir(samplesDir)
	if err != nil {
		t.Logf("samples not found (%v); running against testdata/edge.csv", err)
		copyFile(t, filepath.Join("testdata", "edge.csv"), filepath.Join(dir, "edge.csv"))
		inStock = "MUG-1"
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".csv") {
			copyFile(t, filepath.Join(samplesDir, e.Name()), filepath.Join(dir, e.Name()))
		}
	}
	cfg := testConfig(dir)
	cfg["outbox"] = t.TempDir()
	sdktest.Run(t, sdktest.Acceptance{
		New:        func(*testing.T) sdk.Plugin { return newPlugin() },
		Config:     cfg,
		InStockSKU: inStock,
	})
}

func edgeConfig() map[string]any {
	cfg := testConfig(filepath.Join("testdata", "edge.csv"))
	cfg["default_shipping"] = "US:ALL:Standard:3-5:5.00 USD"
	return cfg
}

// TestEdgeCases maps the synthetic export that holds one of each awkward
// case (see the golden) and checks the decisions that matter one by one.
func TestEdgeCases(t *testing.T) {
	res := read(t, edgeConfig(), sdktest.Catalog)
	golden(t, "edge.csv.records.json", recordsJSON(res.Records))
	golden(t, "edge.csv.rejects.json", rejectsJSON(res.Rejects))

	recs := idsOf(res.Records)
	if len(res.Records) != 7 || len(res.Rejects) != 9 {
		t.Errorf("want 7 records and 9 rejects (plus 2 drafts = 18 variant rows), got %d and %d", len(res.Records), len(res.Rejects))
	}
	check := func(id, field, want string) {
		t.Helper()
		r, ok := recs[id]
		if !ok {
			t.Errorf("no record %q", id)
			return
		}
		if got := r[field]; got != want {
			t.Errorf("%s.%s = %q, want %q", id, field, got, want)
		}
	}
	check("MUG-1", "gtin", "4006381333931")
	check("MUG-1", "weight", "350.5 g")
	check("MUG-1", "description", "A mug that says hello & means it.")
	check("MUG-1", "inventory_quantity", "3")
	check("MUG-1", "availability", "in_stock")
	check("MUG-1", "shipping", "US:ALL:Standard:3-5:5.00 USD")
	check("MUG-1", "title", "Hello Mug")
	check("MUG-1", "mpn", "")
	check("TEE-S-RED", "availability", "backorder")
	check("TEE-S-RED", "price", "25.00 USD")
	check("TEE-S-RED", "sale_price", "20.00 USD")
	check("TEE-S-RED", "sale_price_effective_date", "2026-01-15/2027-01-15")
	check("TEE-S-RED", "color", "Red")
	check("TEE-S-RED", "size", "S")
	check("TEE-S-RED", "title", "Tee - S / Red")
	check("TEE-S-RED", "item_group_id", "tee")
	check("TEE-S-RED", "image_link", "https://cdn.example.com/tee-front.jpg")
	check("TEE-S-RED", "additional_image_link", "https://cdn.example.com/tee-back.jpg,https://cdn.example.com/tee-detail.jpg")
	check("TEE-S-RED", "description", "- Cotton\n- Fair\u2011trade")
	check("TEE-M-RED", "availability", "out_of_stock")
	check("TEE-M-RED", "inventory_quantity", "0")
	check("TEE-M-RED", "image_link", "https://cdn.example.com/tee-red.jpg")
	check("TEE-M-RED", "sale_price", "")
	check("excel", "gtin", "")
	check("excel", "mpn", "excel")
	check("excel", "description", "Spreadsheet Survivor")
	check("excel", "weight", "")
	check("excel", "inventory_not_tracked", "true")
	check("DIGI-1", "shipping", "")
	check("DIGI-1", "price", "7.50 USD")
	var jp []string
	for id, f := range recs {
		if f["item_group_id"] == "tシャツ" {
			jp = append(jp, id)
			if f["link"] != "https://shop.example.com/products/t%E3%82%B7%E3%83%A3%E3%83%84" {
				t.Errorf("non-ASCII handle link = %q", f["link"])
			}
			if f["size"] == "" {
				t.Errorf("Größe should map to size: %v", f)
			}
		}
	}
	if len(jp) != 2 || jp[0] == jp[1] {
		t.Errorf("the two variants of a non-ASCII handle need two distinct ids, got %v", jp)
	}
	for _, id := range jp {
		if !validDerivedID(id) {
			t.Errorf("derived id %q is not made of letters, digits, '-' and '_'", id)
		}
	}

	want := map[string]string{ // origin -> field of the reject
		"edge.csv:8":  "gift_card",
		"edge.csv:9":  "price",
		"edge.csv:10": "price",
		"edge.csv:11": "image_link",
		"edge.csv:16": "id",
		"edge.csv:17": "handle",
		"edge.csv:18": "handle",
		"edge.csv:19": "brand",
		"edge.csv:21": "product_category",
	}
	for _, r := range res.Rejects {
		if want[r.Origin] != r.Field {
			t.Errorf("reject %s: field %q (%s), want %q", r.Origin, r.Field, r.Message, want[r.Origin])
		}
		delete(want, r.Origin)
	}
	for o, f := range want {
		t.Errorf("no reject for %s (%s)", o, f)
	}
}

func validDerivedID(id string) bool {
	if id == "" || len(id) > 100 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func TestFallbacksAndDrafts(t *testing.T) {
	cfg := edgeConfig()
	cfg["brand_fallback"] = "House Brand"
	cfg["product_category_fallback"] = "Home & Garden"
	cfg["include_drafts"] = true
	res := read(t, cfg, sdktest.Catalog)
	recs := idsOf(res.Records)
	if recs["BRANDLESS-1"]["brand"] != "House Brand" {
		t.Errorf("brand_fallback not used: %v", recs["BRANDLESS-1"])
	}
	if recs["NOCAT-1"]["product_category"] != "Home & Garden" {
		t.Errorf("product_category_fallback not used: %v", recs["NOCAT-1"])
	}
	if got := recs["NOCAT-1"]["image_link"]; got != "https://cdn.example.com/with%20space%2Ccomma.jpg" {
		t.Errorf("image URL not made feed-safe: %q", got)
	}
	if recs["DRAFT-1"] == nil || recs["HIDDEN-1"] == nil {
		t.Errorf("include_drafts: draft and unpublished products should be records")
	}
	if len(res.Records)+len(res.Rejects) != 18 {
		t.Errorf("include_drafts: %d records + %d rejects, want 18 variant rows", len(res.Records), len(res.Rejects))
	}
}

func TestInventoryAndPriceStreams(t *testing.T) {
	c := start(t, edgeConfig())
	ctx := context.Background()
	inv, err := c.Read(ctx, sdktest.Inventory, "")
	if err != nil {
		t.Fatal(err)
	}
	got := idsOf(inv.Records)
	// Only tracked variants: the inventory feed cannot say "not tracked".
	if len(got) != 3 || got["MUG-1"]["inventory_quantity"] != "3" || got["TEE-S-RED"]["availability"] != "backorder" || got["TEE-M-RED"]["availability"] != "out_of_stock" {
		t.Errorf("inventory records: %v", got)
	}
	for id, f := range got {
		for k := range f {
			if k != "id" && k != "availability" && k != "inventory_quantity" {
				t.Errorf("inventory record %s has column %s", id, k)
			}
		}
	}
	if len(inv.Rejects) != 9 {
		t.Errorf("inventory rejects = %d, want the catalog's 9", len(inv.Rejects))
	}

	pr, err := c.Read(ctx, sdktest.Prices, "")
	if err != nil {
		t.Fatal(err)
	}
	prices := idsOf(pr.Records)
	if len(prices) != 7 {
		t.Errorf("price records = %d, want 7", len(prices))
	}
	want := map[string]string{"id": "TEE-S-RED", "price": "25.00 USD", "sale_price": "20.00 USD", "sale_price_effective_date": "2026-01-15/2027-01-15"}
	if f := prices["TEE-S-RED"]; len(f) != len(want) {
		t.Errorf("price record = %v, want %v", f, want)
	} else {
		for k, v := range want {
			if f[k] != v {
				t.Errorf("price record %s = %q, want %q", k, f[k], v)
			}
		}
	}
}

func TestCursor(t *testing.T) {
	dir := t.TempDir()
	export := filepath.Join(dir, "products.csv")
	copyFile(t, filepath.Join("testdata", "edge.csv"), export)
	c := start(t, testConfig(dir))
	ctx := context.Background()
	first, err := c.Read(ctx, sdktest.Catalog, "")
	if err != nil {
		t.Fatal(err)
	}
	if first.Cursor == "" || len(first.Records) == 0 {
		t.Fatalf("full read: cursor %q, %d records", first.Cursor, len(first.Records))
	}
	again, err := c.Read(ctx, sdktest.Catalog, first.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Records)+len(again.Rejects) != 0 || again.Cursor != first.Cursor {
		t.Errorf("unchanged export: %d records, %d rejects, cursor %q (want nothing, same cursor)", len(again.Records), len(again.Rejects), again.Cursor)
	}
	data, _ := os.ReadFile(export)
	if err := os.WriteFile(export, []byte(strings.Replace(string(data), "MUG-1,350.50,shopify,3,", "MUG-1,350.50,shopify,2,", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := c.Read(ctx, sdktest.Catalog, first.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Cursor == first.Cursor || len(changed.Records) != len(first.Records) {
		t.Errorf("changed export: cursor %q (old %q), %d records (want all %d)", changed.Cursor, first.Cursor, len(changed.Records), len(first.Records))
	}
	if idsOf(changed.Records)["MUG-1"]["inventory_quantity"] != "2" {
		t.Errorf("changed quantity not read")
	}
}

func TestNotUTF8(t *testing.T) {
	dir := t.TempDir()
	// "Café" saved as Windows-1252 by a spreadsheet.
	data := "Handle,Title,Variant Price,Image Src\ncafe,Caf\xe9,4,https://cdn.example.com/c.jpg\n"
	if err := os.WriteFile(filepath.Join(dir, "export.csv"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := start(t, testConfig(dir)).Read(context.Background(), sdktest.Catalog, "")
	if err == nil || !strings.Contains(err.Error(), "export.csv:2") || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("want an error naming export.csv:2 and UTF-8, got %v", err)
	}
}

func TestMissingHandleColumnNamesFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "orders.csv"), []byte("Name,Email\n#1001,a@example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := start(t, testConfig(dir)).Read(context.Background(), sdktest.Catalog, "")
	if err == nil || !strings.Contains(err.Error(), "orders.csv") || !strings.Contains(err.Error(), "Handle") {
		t.Errorf("want an error naming orders.csv and the Handle column, got %v", err)
	}
}

// A 2024-25 export of a multi-location store: Option1 Linked To, a metafield
// named in the shop's language, unit price and market columns, and no
// quantity column, so tracked variants are sent as not tracked.
func TestMultiLocation2024Export(t *testing.T) {
	cfg := testConfig(filepath.Join("testdata", "multilocation-2024.csv"))
	cfg["currency"] = "PLN"
	c := start(t, cfg)
	res, err := c.Read(context.Background(), sdktest.Catalog, "")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "multilocation-2024.csv.records.json", recordsJSON(res.Records))
	if len(res.Rejects) != 0 || len(res.Records) != 2 {
		t.Fatalf("records %d, rejects %+v", len(res.Records), res.Rejects)
	}
	recs := idsOf(res.Records)
	cz := recs["KUBEK-CZ"]
	for k, want := range map[string]string{
		"inventory_not_tracked": "true", "inventory_quantity": "", "availability": "in_stock",
		"price": "39.90 PLN", "color": "Czerwony", "gtin": "5901234123457", "description": "Kubek z uchem.",
		"product_category": "Home & Garden > Kitchen & Dining > Tableware > Drinkware > Mugs", "title": "Kubek - Czerwony",
	} {
		if cz[k] != want {
			t.Errorf("KUBEK-CZ %s = %q, want %q", k, cz[k], want)
		}
	}
	if recs["KUBEK-NB"]["mpn"] != "KUBEK-NB" || recs["KUBEK-NB"]["gtin"] != "" {
		t.Errorf("no barcode: mpn should be the SKU: %v", recs["KUBEK-NB"])
	}
	inv, err := c.Read(context.Background(), sdktest.Inventory, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Records) != 0 || len(inv.Rejects) != 0 {
		t.Errorf("untracked variants have no inventory records: %+v", inv.Records)
	}
}

func TestConfigureErrors(t *testing.T) {
	c := sdktest.Start(t, newPlugin())
	errs, err := c.Configure(context.Background(), map[string]any{
		"export": "/nonexistent/products.csv", "store_url": "shop.example.com", "currency": "dollars",
		"description_max": 9000, "default_shipping": "everywhere",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range errs {
		got[e.Field] = e.Message
	}
	if !strings.Contains(got["export"], "/nonexistent/products.csv") {
		t.Errorf("export error should name the path: %q", got["export"])
	}
	for _, f := range []string{"store_url", "currency", "description_max", "default_shipping"} {
		if got[f] == "" {
			t.Errorf("no error for %s; errors: %v", f, errs)
		}
	}
	errs, _ = c.Configure(context.Background(), map[string]any{})
	fields := map[string]bool{}
	for _, e := range errs {
		fields[e.Field] = true
	}
	if !fields["export"] || !fields["store_url"] {
		t.Errorf("empty config must name export and store_url: %v", errs)
	}
}

func TestRelativePathsFollowHostConfig(t *testing.T) {
	if got := baseDir("/etc/acs/config.yaml:14"); got != "/etc/acs" {
		t.Errorf("baseDir = %q", got)
	}
	if got := baseDir("sdktest"); got != "" {
		t.Errorf("baseDir(sdktest) = %q", got)
	}
	if got := resolvePath("/etc/acs", "exports/p.csv"); got != "/etc/acs/exports/p.csv" {
		t.Errorf("resolvePath = %q", got)
	}
	if got := resolvePath("/etc/acs", "/data/p.csv"); got != "/data/p.csv" {
		t.Errorf("resolvePath(abs) = %q", got)
	}
}

// The host passes the block's location ("/etc/acs/config.yaml:14");
// relative export and outbox paths then mean the same as the host's own
// relative paths: relative to the config file. JSON nulls (an unset
// ${VAR}) are accepted as empty.
func TestConfigureResolvesAgainstHostConfig(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join("testdata", "edge.csv"), filepath.Join(root, "data", "products.csv"))
	p := newPlugin()
	var resp sdk.ConfigureResponse
	err := p.Configure(context.Background(), &sdk.ConfigureRequest{
		Config: []byte(`{"export":"../data","store_url":"https://shop.example.com/","brand_fallback":null,"outbox":"../var/outbox"}`),
		Source: filepath.Join(root, "configs", "acs.yaml") + ":12",
	}, &resp)
	if err != nil || len(resp.Errors) > 0 {
		t.Fatalf("Configure: %v %v", err, resp.Errors)
	}
	cfg, _ := p.config()
	if cfg.Export != filepath.Join(root, "data") || cfg.Outbox != filepath.Join(root, "var", "outbox") || cfg.StoreURL != "https://shop.example.com" || cfg.Currency != "USD" || cfg.DescriptionMax != 5000 {
		t.Errorf("config: %+v", cfg)
	}
	if st, err := os.Stat(cfg.Outbox); err != nil || !st.IsDir() {
		t.Errorf("outbox directory not created: %v", err)
	}
}
