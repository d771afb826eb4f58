package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"gopkg.in/yaml.v3"

	"github.com/acs-connector/acs-connector/sdk"
)

// Acceptance describes a plugin under test.
type Acceptance struct {
	// New returns a fresh, unconfigured plugin.
	New func(t *testing.T) sdk.Plugin
	// Config is the plugin's config block for the tests (marshalled to JSON).
	Config any
	// InStockSKU is a SKU the configured backend can sell one unit of; it
	// enables the positive availability and fulfilment checks.
	InStockSKU string
}

// Run runs the acceptance suite: the rules every plugin must keep for the
// host to rely on it. Each rule is a subtest, so a failure names the rule.
func Run(t *testing.T, a Acceptance) {
	t.Helper()
	ctx := context.Background()
	start := func(t *testing.T) *Client {
		c := Start(t, a.New(t))
		errs, err := c.Configure(ctx, a.Config)
		if err != nil {
			t.Fatalf("Configure: %v", err)
		}
		if len(errs) > 0 {
			t.Fatalf("Configure with the test config reported errors: %v", errs)
		}
		return c
	}

	t.Run("Describe", func(t *testing.T) {
		c := Start(t, a.New(t))
		info, err := c.Describe(ctx)
		if err != nil {
			t.Fatalf("Describe: %v", err)
		}
		if info.Name == "" || info.Version == "" {
			t.Errorf("Describe must return a name and a version, got %q %q", info.Name, info.Version)
		}
		if len(info.Capabilities) == 0 {
			t.Errorf("plugin declares no capabilities")
		}
	})

	t.Run("SampleConfigMatchesConfigStruct", func(t *testing.T) {
		c := Start(t, a.New(t))
		info, err := c.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(info.SampleConfig) == "" {
			t.Fatal("Info.SampleConfig is empty; ship a commented example")
		}
		var block map[string]any
		if err := yaml.Unmarshal([]byte(info.SampleConfig), &block); err != nil {
			t.Fatalf("sample config is not YAML: %v", err)
		}
		raw, err := json.Marshal(block)
		if err != nil {
			t.Fatalf("sample config cannot become JSON: %v", err)
		}
		errs, err := c.Configure(ctx, raw)
		if err != nil {
			t.Fatalf("Configure(sample): %v", err)
		}
		for _, e := range errs {
			if strings.Contains(e.Message, "unknown key") {
				t.Errorf("sample config has a key the plugin does not know: %s", e.Field)
			}
		}
	})

	t.Run("ConfigureNamesUnknownKeys", func(t *testing.T) {
		c := Start(t, a.New(t))
		cfg := map[string]any{}
		raw, _ := json.Marshal(a.Config)
		_ = json.Unmarshal(raw, &cfg)
		cfg["acs_sdktest_no_such_key"] = 1
		errs, err := c.Configure(ctx, cfg)
		if err != nil {
			t.Fatalf("Configure: %v", err)
		}
		if !slices.ContainsFunc(errs, func(e sdk.FieldError) bool { return strings.Contains(e.Field, "acs_sdktest_no_such_key") }) {
			t.Errorf("an unknown key must be reported as a field error naming it; got %v", errs)
		}
	})

	t.Run("ConfigureRejectsWrongTypes", func(t *testing.T) {
		c := Start(t, a.New(t))
		errs, err := c.Configure(ctx, []byte(`[1,2,3]`))
		if err != nil {
			t.Fatalf("Configure must report bad config as field errors, not fail the call: %v", err)
		}
		if len(errs) == 0 {
			t.Error("a JSON array as config must be rejected")
		}
	})

	c := start(t)
	info, err := c.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	has := func(capability string) bool { return slices.Contains(info.Capabilities, capability) }

	t.Run("MissingCapabilitiesAnswerUnimplemented", func(t *testing.T) {
		checks := map[string]func() error{
			sdk.CapCatalog:   func() error { _, err := c.Read(ctx, Catalog, ""); return err },
			sdk.CapInventory: func() error { _, err := c.Read(ctx, Inventory, ""); return err },
			sdk.CapPrices:    func() error { _, err := c.Read(ctx, Prices, ""); return err },
			sdk.CapAvailability: func() error {
				_, err := c.CheckAvailability(ctx, &sdk.AvailabilityRequest{Items: []sdk.LineItem{{SKU: "x", Quantity: 1}}})
				return err
			},
			sdk.CapCustomizeCheckout: func() error { _, err := c.CustomizeCheckout(ctx, &sdk.CustomizeRequest{}); return err },
			sdk.CapOrderUpdates:      func() error { _, err := c.ReadOrderUpdates(ctx, 1); return err },
		}
		for capability, call := range checks {
			if has(capability) {
				continue
			}
			if err := call(); !IsUnimplemented(err) {
				t.Errorf("%s is not declared, so it must answer Unimplemented; got %v", capability, err)
			}
		}
	})

	for _, rk := range []struct {
		capability string
		kind       Kind
		required   []string
	}{
		{sdk.CapCatalog, Catalog, []string{sdk.FieldID}},
		{sdk.CapInventory, Inventory, []string{sdk.FieldID, sdk.FieldAvailability}},
		{sdk.CapPrices, Prices, []string{sdk.FieldID, sdk.FieldPrice}},
	} {
		if !has(rk.capability) {
			continue
		}
		t.Run("Read_"+rk.capability, func(t *testing.T) {
			first, err := c.Read(ctx, rk.kind, "")
			if err != nil {
				t.Fatalf("full read: %v", err)
			}
			if len(first.Records)+len(first.Rejects) == 0 {
				t.Fatal("full read returned nothing; the test config should point at data")
			}
			seen := map[string]bool{}
			for _, r := range first.Records {
				for _, f := range rk.required {
					if r.Fields[f] == "" && r.Fields[sdk.FieldDelete] != "true" {
						t.Errorf("record from %q has no %s", r.Origin, f)
					}
				}
				if r.Origin == "" {
					t.Errorf("record %q has no origin; error reports need it", r.Fields[sdk.FieldID])
				}
				if seen[r.Fields[sdk.FieldID]] {
					t.Errorf("id %q appears twice in one read", r.Fields[sdk.FieldID])
				}
				seen[r.Fields[sdk.FieldID]] = true
			}
			for _, e := range first.Rejects {
				if e.Origin == "" || e.Message == "" {
					t.Errorf("rejected rows need an origin and a message: %+v", e)
				}
			}
			// The second read is an older host's, which takes every value
			// in full: the same records must arrive either way.
			second, err := c.ReadLiteral(ctx, rk.kind, "")
			if err != nil {
				t.Fatalf("second full read: %v", err)
			}
			if got, want := idsOf(second.Records), idsOf(first.Records); !slices.Equal(got, want) {
				t.Errorf("two full reads of unchanged data differ: %d vs %d ids", len(got), len(want))
			} else if !reflect.DeepEqual(second.Records, first.Records) {
				t.Errorf("a read with repeated values as markers differs from one with every value in full")
			}
			if first.Cursor != "" {
				if _, err := c.Read(ctx, rk.kind, first.Cursor); err != nil {
					t.Errorf("incremental read with the returned cursor: %v", err)
				}
			}
		})
		t.Run("ReadCancels_"+rk.capability, func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			done := make(chan error, 1)
			go func() { _, err := c.Read(cctx, rk.kind, ""); done <- err }()
			select {
			case err := <-done:
				if status.Code(err) != codes.Canceled {
					t.Errorf("read with a cancelled context: want Canceled, got %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("read ignored a cancelled context for 5s")
			}
		})
	}

	if has(sdk.CapAvailability) {
		t.Run("AvailabilityUnknownSKU", func(t *testing.T) {
			resp, err := c.CheckAvailability(ctx, &sdk.AvailabilityRequest{Items: []sdk.LineItem{{SKU: "acs-sdktest-no-such-sku", Quantity: 1}}, Currency: "usd"})
			if err != nil {
				t.Fatalf("an unknown SKU is an answer, not an error: %v", err)
			}
			for _, it := range resp.Items {
				if it.SKU == "acs-sdktest-no-such-sku" && (it.Available || it.Reason == "") {
					t.Errorf("unknown SKU must be unavailable with a reason: %+v", it)
				}
			}
		})
		if a.InStockSKU != "" {
			t.Run("AvailabilityInStock", func(t *testing.T) {
				resp, err := c.CheckAvailability(ctx, &sdk.AvailabilityRequest{Items: []sdk.LineItem{{SKU: a.InStockSKU, Quantity: 1}}, Currency: "usd"})
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.Items) != 1 || !resp.Items[0].Available {
					t.Errorf("%s should be available: %+v", a.InStockSKU, resp.Items)
				}
			})
		}
		t.Run("AvailabilityConcurrent", func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for i := 0; i < 16; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					_, err := c.CheckAvailability(ctx, &sdk.AvailabilityRequest{Items: []sdk.LineItem{{SKU: fmt.Sprintf("sku-%d", i), Quantity: 1}}})
					errs <- err
				}(i)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
		})
	}

	if has(sdk.CapCustomizeCheckout) {
		t.Run("CustomizeCheckout", func(t *testing.T) {
			sku := a.InStockSKU
			if sku == "" {
				sku = "acs-sdktest-sku"
			}
			resp, err := c.CustomizeCheckout(ctx, &sdk.CustomizeRequest{Currency: "usd",
				Items:           []sdk.LineItem{{LineID: "li_1", SKU: sku, Quantity: 1, UnitAmount: 1000}},
				ShippingAddress: &sdk.Address{Country: "US", PostalCode: "94107", State: "CA", City: "San Francisco", Line1: "1 Main St"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range resp.ShippingOptions {
				if o.ID == "" || o.DisplayName == "" || o.Amount < 0 || o.Currency == "" {
					t.Errorf("shipping options need id, name, currency and a non-negative amount: %+v", o)
				}
			}
		})
	}

	if has(sdk.CapFulfillment) {
		t.Run("PushOrderIsIdempotent", func(t *testing.T) {
			sku := a.InStockSKU
			if sku == "" {
				sku = "acs-sdktest-sku"
			}
			key := fmt.Sprintf("cs_test_sdktest_%d", time.Now().UnixNano())
			o := sdk.Order{CheckoutSessionID: key, Currency: "usd", AmountTotal: 1000, Created: time.Now(),
				Lines: []sdk.OrderLine{{SKU: sku, Quantity: 1, UnitAmount: 1000, AmountTotal: 1000}}}
			first, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: key, Order: o})
			if err != nil {
				t.Fatal(err)
			}
			if first.Status == 0 {
				t.Fatal("PushOrder returned no status")
			}
			again, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: key, Order: o})
			if err != nil {
				t.Fatal(err)
			}
			if again.Status != first.Status || again.BackendReference != first.BackendReference {
				t.Errorf("the same idempotency key must return the first answer: %+v then %+v", first, again)
			}
			if _, err := c.PushOrder(ctx, &sdk.PushOrderRequest{Order: o}); status.Code(err) != codes.InvalidArgument {
				t.Errorf("a push without idempotency key must be refused, got %v", err)
			}
		})
	}

	if has(sdk.CapOrderUpdates) {
		t.Run("OrderUpdatesAckedOnce", func(t *testing.T) {
			first, err := c.ReadOrderUpdates(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, u := range first.Updates {
				if u.ID == "" || u.SessionID == "" || u.Kind == 0 {
					t.Errorf("updates need an id, a session and a kind: %+v", u)
				}
				ids = append(ids, u.ID)
			}
			if err := c.AckOrderUpdates(ctx, ids); err != nil {
				t.Fatal(err)
			}
			again, err := c.ReadOrderUpdates(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range again.Updates {
				if slices.Contains(ids, u.ID) {
					t.Errorf("update %s was acknowledged but returned again", u.ID)
				}
			}
		})
	}
}

func idsOf(recs []sdk.Record) []string {
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.Fields[sdk.FieldID])
	}
	slices.Sort(ids)
	return ids
}
