package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/sdktest"
)

var ctx = context.Background()

// copyDir copies a testdata case into a fresh temp dir and returns its path.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// start serves a fresh plugin in-process and configures it; the config must
// be valid.
func start(t testing.TB, cfg map[string]any) *sdktest.Client {
	t.Helper()
	c := sdktest.Start(t, New())
	errs, err := c.Configure(ctx, cfg)
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if len(errs) > 0 {
		t.Fatalf("Configure reported errors: %v", errs)
	}
	return c
}

// acceptanceDir is the basic case plus an outbox and an inbox holding one
// update.
func acceptanceDir(t *testing.T) string {
	dir := copyDir(t, "testdata/basic")
	writeFile(t, filepath.Join(dir, "outbox", ".gitkeep"), "")
	writeFile(t, filepath.Join(dir, "inbox", "upd-1.json"), `{"checkout_session_id": "cs_test_1", "kind": "shipped", "tracking_number": "1Z999", "carrier": "UPS"}`)
	return dir
}

func fullConfig(dir string) map[string]any {
	return map[string]any{
		"dir":    dir,
		"outbox": filepath.Join(dir, "outbox"),
		"inbox":  filepath.Join(dir, "inbox"),
		"shipping_options": []map[string]any{
			{"id": "standard", "name": "Standard", "amount": "5.00", "countries": []string{"US"}, "min_days": 3, "max_days": 5},
			{"id": "world", "name": "International", "amount": 25, "currency": "usd"},
			{"id": "eu", "name": "EU standard", "amount": "9.90", "currency": "EUR", "countries": []string{"DE", "FR"}},
		},
		"tax_rates": []map[string]any{
			{"country": "US", "state": "CA", "name": "CA sales tax", "percentage": 7.25},
			{"country": "US", "state": "US-NY", "name": "NY sales tax", "percentage": 4},
			{"country": "DE", "name": "MwSt", "percentage": 19, "inclusive": true},
		},
	}
}

func TestAcceptance(t *testing.T) {
	dir := acceptanceDir(t)
	sdktest.Run(t, sdktest.Acceptance{
		New:        func(*testing.T) sdk.Plugin { return New() },
		Config:     fullConfig(dir),
		InStockSKU: "MUG-BLUE",
	})
}

func TestSampleConfigIsEmbedded(t *testing.T) {
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if New().Info().SampleConfig != string(data) {
		t.Error("Info().SampleConfig is not sample.yaml")
	}
}

// TestSampleConfigAgainstSampleCatalog configures the plugin with
// sample.yaml as shipped, from a directory laid out like the repository
// root (configs/sample-catalog, where its dir points), so the outbox and
// inbox it creates land in a temp dir, not in the checkout.
func TestSampleConfigAgainstSampleCatalog(t *testing.T) {
	catalog, _ := filepath.Abs("../../configs/sample-catalog")
	if _, err := os.Stat(filepath.Join(catalog, "products.csv")); err != nil {
		t.Skip("no configs/sample-catalog")
	}
	work := t.TempDir()
	if err := os.Mkdir(filepath.Join(work, "configs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(catalog, filepath.Join(work, "configs", "sample-catalog")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)
	raw := yamlToJSON(t, New().Info().SampleConfig)
	c := sdktest.Start(t, New())
	errs, err := c.Configure(ctx, raw)
	if err != nil || len(errs) > 0 {
		t.Fatalf("sample.yaml against configs/sample-catalog: %v %v", errs, err)
	}
	res, err := c.Read(ctx, sdktest.Catalog, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) < 20 {
		t.Errorf("sample catalog: %d records", len(res.Records))
	}
}

func TestConfigureErrors(t *testing.T) {
	basic, _ := filepath.Abs("testdata/basic")
	empty := t.TempDir()
	tests := []struct {
		name  string
		cfg   map[string]any
		field string
		msg   string
	}{
		{"dir required", map[string]any{}, "dir", "required"},
		{"dir missing", map[string]any{"dir": "/no/such/dir"}, "dir", "/no/such/dir does not exist"},
		{"no products", map[string]any{"dir": empty}, "products_file", "products.csv does not exist"},
		{"inventory named but missing", map[string]any{"dir": basic, "inventory_file": "stock.csv"}, "inventory_file", "stock.csv does not exist"},
		{"unknown feed column", map[string]any{"dir": basic, "columns": map[string]string{"titel": "Name"}}, "columns.titel", `did you mean "title"`},
		{"unknown inventory column", map[string]any{"dir": basic, "inventory_columns": map[string]string{"price": "x"}}, "inventory_columns.price", "unknown feed column"},
		{"mapped column not in header", map[string]any{"dir": basic, "columns": map[string]string{"id": "SKU"}}, "columns", `"sku"`},
		{"currency", map[string]any{"dir": basic, "currency": "dollars"}, "currency", "ISO 4217"},
		{"delimiter", map[string]any{"dir": basic, "delimiter": "::"}, "delimiter", "not a usable delimiter"},
		{"outbox missing", map[string]any{"dir": basic, "outbox": "/no/such/outbox"}, "outbox", "does not exist"},
		{"inbox missing", map[string]any{"dir": basic, "inbox": "/no/inbox"}, "inbox", "/no/inbox does not exist"},
		{"shipping id", map[string]any{"dir": basic, "shipping_options": []map[string]any{{"name": "x", "amount": "1"}}}, "shipping_options[0].id", "required"},
		{"shipping amount", map[string]any{"dir": basic, "shipping_options": []map[string]any{{"id": "a", "name": "x", "amount": "five"}}}, "shipping_options[0].amount", "not a number"},
		{"shipping country", map[string]any{"dir": basic, "shipping_options": []map[string]any{{"id": "a", "name": "x", "amount": "1", "countries": []string{"USA"}}}}, "shipping_options[0].countries[0]", "alpha-2"},
		{"shipping days", map[string]any{"dir": basic, "shipping_options": []map[string]any{{"id": "a", "name": "x", "amount": "1", "min_days": 5, "max_days": 2}}}, "shipping_options[0].max_days", "at least"},
		{"tax country", map[string]any{"dir": basic, "tax_rates": []map[string]any{{"country": "USA", "name": "t", "percentage": 5}}}, "tax_rates[0].country", "alpha-2"},
		{"tax percentage", map[string]any{"dir": basic, "tax_rates": []map[string]any{{"country": "US", "name": "t", "percentage": 150}}}, "tax_rates[0].percentage", "percentage"},
		{"unknown key", map[string]any{"dir": basic, "dirr": "x"}, "dirr", "unknown key"},
		{"wrong type", map[string]any{"dir": basic, "reject_unknown_skus": "yes"}, "reject_unknown_skus", "expected bool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sdktest.Start(t, New())
			errs, err := c.Configure(ctx, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(errs, func(e sdk.FieldError) bool {
				return e.Field == tt.field && strings.Contains(e.Message, tt.msg)
			}) {
				t.Errorf("want an error on %q containing %q; got %+v", tt.field, tt.msg, errs)
			}
		})
	}
}

func TestNotConfigured(t *testing.T) {
	c := sdktest.Start(t, New())
	if _, err := c.Read(ctx, sdktest.Catalog, ""); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("read before Configure: %v", err)
	}
}

// TestReconfigureKeepsOldOnError: a bad reload must not take down a working
// configuration.
func TestReconfigureKeepsOldOnError(t *testing.T) {
	c := start(t, map[string]any{"dir": "testdata/basic"})
	errs, err := c.Configure(ctx, map[string]any{"dir": "/no/such/dir"})
	if err != nil || len(errs) == 0 {
		t.Fatalf("bad config accepted: %v %v", errs, err)
	}
	res, err := c.Read(ctx, sdktest.Catalog, "")
	if err != nil || len(res.Records) == 0 {
		t.Fatalf("read after a rejected reload: %v, %d records", err, len(res.Records))
	}
}

func yamlToJSON(t testing.TB, y string) []byte {
	t.Helper()
	var block map[string]any
	if err := yaml.Unmarshal([]byte(y), &block); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(block)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Relative outbox and inbox paths resolve against the working directory
// (the host runs plugins in its config file's directory), and a missing last
// element is created so a fresh state directory works.
func TestOutboxInboxResolveAgainstWorkingDirAndAreCreated(t *testing.T) {
	catalog := copyDir(t, "testdata/basic")
	work := t.TempDir()
	t.Chdir(work)
	if err := os.MkdirAll("state", 0o755); err != nil {
		t.Fatal(err)
	}
	c := sdktest.Start(t, New())
	errs, err := c.Configure(context.Background(), map[string]any{"dir": catalog, "outbox": "state/outbox", "inbox": "state/inbox"})
	if err != nil || len(errs) > 0 {
		t.Fatalf("configure: %v %v", errs, err)
	}
	for _, d := range []string{"state/outbox", "state/inbox"} {
		if fi, err := os.Stat(filepath.Join(work, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s should have been created under the working directory: %v", d, err)
		}
	}
	errs, _ = c.Configure(context.Background(), map[string]any{"dir": catalog, "outbox": "missing/parent/outbox"})
	if len(errs) != 1 || errs[0].Field != "outbox" {
		t.Errorf("a path whose parent is missing must not be created: %v", errs)
	}
}
