package orders

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

// checkGuideFields asserts every row of the seller guide's "Checkout
// session field reference" table landed in the order.
func checkGuideFields(t *testing.T, o *pb.Order, want *pb.Order) {
	t.Helper()
	l, wl := o.GetLines()[0], want.GetLines()[0]
	checks := []struct {
		field     string
		got, want any
	}{
		{"Order date (latest_charge.created)", o.GetCreated(), want.GetCreated()},
		{"Order quantity", l.GetQuantity(), wl.GetQuantity()},
		{"SKU (price.external_reference)", l.GetSku(), wl.GetSku()},
		{"Product description", l.GetDescription(), wl.GetDescription()},
		{"Unit price", l.GetUnitAmount(), wl.GetUnitAmount()},
		{"Tax amount", l.GetTaxes()[0].GetAmount(), wl.GetTaxes()[0].GetAmount()},
		{"Tax type", l.GetTaxes()[0].GetTaxType(), wl.GetTaxes()[0].GetTaxType()},
		{"Tax rate", l.GetTaxes()[0].GetPercentage(), wl.GetTaxes()[0].GetPercentage()},
		{"ShippingAddress", o.GetShippingAddress().String(), want.GetShippingAddress().String()},
		{"BillingAddress", o.GetBillingAddress().String(), want.GetBillingAddress().String()},
		{"Last4", o.GetCard().GetLast4(), want.GetCard().GetLast4()},
		{"ExpMonth", o.GetCard().GetExpMonth(), want.GetCard().GetExpMonth()},
		{"ExpYear", o.GetCard().GetExpYear(), want.GetCard().GetExpYear()},
		{"CreditCardType", o.GetCard().GetBrand(), want.GetCard().GetBrand()},
		{"Final amount", o.GetAmountTotal(), want.GetAmountTotal()},
		{"GTIN", l.GetGtin(), wl.GetGtin()},
		{"MPN", l.GetMpn(), wl.GetMpn()},
		{"Agent details", o.GetAgentDetailsJson(), want.GetAgentDetailsJson()},
		{"OrderNo (receipt_number)", o.GetOrderNumber(), want.GetOrderNumber()},
		{"shipping option id (rate metadata)", o.GetShippingOptionId(), want.GetShippingOptionId()},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.field, c.got, c.want)
		}
		if z, ok := c.want.(string); ok && z == "" && c.field != "Agent details" {
			t.Errorf("%s: the test expects an empty value; every field must be exercised", c.field)
		}
	}
}

func TestMapEmulatorSession(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	sc, err := stripeapi.New(stripeapi.Config{Key: "sk_test_map", URL: url})
	if err != nil {
		t.Fatal(err)
	}
	id, err := emu.CompleteCheckout(emulator.CheckoutInput{
		Lines: []emulator.CheckoutLine{
			{SKU: "MUG-BLUE", Name: "Blue enamel mug", Description: "A 350 ml enamel mug.", Quantity: 2, UnitAmount: 1200, GTIN: "00012345678905", MPN: "HP-MUG-BLU"},
			{SKU: "TEE-L", Name: "Organic tee", Quantity: 1, UnitAmount: 2500},
		},
		ShippingName:         "Jenny Rosen",
		Shipping:             emulator.Address{Line1: "1 Main St", Line2: "Apt 2", City: "Springfield", State: "IL", PostalCode: "62701", Country: "US"},
		Email:                "jenny@example.com",
		Phone:                "+15555550100",
		ShippingAmount:       500,
		ShippingDisplayName:  "Express shipping",
		ShippingRateMetadata: map[string]string{"acs_shipping_option_id": "express"},
		TaxPercent:           10,
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sc.RetrieveSession(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	m, err := MapSession(raw)
	if err != nil {
		t.Fatal(err)
	}
	o := m.Order
	if len(m.Warnings) != 0 {
		t.Errorf("warnings: %v", m.Warnings)
	}
	// What the emulator's objects hold, read independently.
	var s struct {
		AmountTotal   int64 `json:"amount_total"`
		PaymentIntent struct {
			ID           string `json:"id"`
			LatestCharge struct {
				Created              int64  `json:"created"`
				ReceiptNumber        string `json:"receipt_number"`
				PaymentMethodDetails struct {
					Card struct {
						ExpYear int64 `json:"exp_year"`
					} `json:"card"`
				} `json:"payment_method_details"`
			} `json:"latest_charge"`
		} `json:"payment_intent"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	addr := &pb.Address{Line1: "1 Main St", Line2: "Apt 2", City: "Springfield", State: "IL", PostalCode: "62701", Country: "US"}
	want := &pb.Order{
		Created: s.PaymentIntent.LatestCharge.Created, OrderNumber: s.PaymentIntent.LatestCharge.ReceiptNumber,
		AmountTotal: 2400 + 2500 + 240 + 250 + 500, ShippingAddress: addr, BillingAddress: addr,
		Card:             &pb.Card{Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: s.PaymentIntent.LatestCharge.PaymentMethodDetails.Card.ExpYear},
		ShippingOptionId: "express",
		Lines: []*pb.OrderLine{{Sku: "MUG-BLUE", Quantity: 2, UnitAmount: 1200, Description: "A 350 ml enamel mug.",
			Gtin: "00012345678905", Mpn: "HP-MUG-BLU", Taxes: []*pb.LineTax{{Amount: 240, TaxType: "sales_tax", Percentage: 10}}}},
	}
	checkGuideFields(t, o, want)
	if s.AmountTotal != o.GetAmountTotal() || o.GetPaymentIntentId() != s.PaymentIntent.ID || o.GetCreated() == 0 || o.GetOrderNumber() == "" {
		t.Errorf("totals/ids: %+v", o)
	}
	if o.GetShippingName() != "Jenny Rosen" || o.GetBillingName() != "Jenny Rosen" || o.GetEmail() != "jenny@example.com" ||
		o.GetPhone() != "+15555550100" || o.GetShippingOptionName() != "Express shipping" || o.GetAmountShipping() != 500 ||
		o.GetAmountTax() != 490 || o.GetAmountSubtotal() != 4900 || o.GetCurrency() != "usd" || o.GetLivemode() {
		t.Errorf("order: %+v", o)
	}
	if len(o.GetLines()) != 2 || o.GetLines()[1].GetSku() != "TEE-L" || o.GetLines()[0].GetName() != "Blue enamel mug" ||
		o.GetLines()[0].GetAmountTotal() != 2640 {
		t.Errorf("lines: %+v", o.GetLines())
	}
	if m.Status != "complete" || m.PIStatus != "succeeded" {
		t.Errorf("statuses: %+v", m)
	}
}

// fixtureSession composes the checkout.session.with_line_items fixture
// with the product, payment_intent and charge fixtures (as the expansions
// return them) and adds the preview fields the fixtures lack.
func fixtureSession(t *testing.T) []byte {
	t.Helper()
	read := func(name string) map[string]any {
		b, err := os.ReadFile("/work/shared/testdata/stripe/" + name)
		if err != nil {
			t.Skipf("fixture: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	sess := read("checkout.session.with_line_items.json")
	item := sess["line_items"].(map[string]any)["data"].([]any)[0].(map[string]any)
	price := item["price"].(map[string]any)
	prod := read("product.json")
	// Test-local: the preview fields.
	price["external_reference"] = "TSHIRT-GRAY-M"
	prod["identifiers"] = map[string]any{"gtin": "04006381333931", "mpn": "TS-GRY-M"}
	price["product"] = prod
	item["taxes"] = []any{map[string]any{"amount": 80, "taxability_reason": "standard_rated", "taxable_amount": 1000,
		"rate": map[string]any{"id": "txr_1", "object": "tax_rate", "display_name": "Sales tax", "percentage": 8.0, "tax_type": "sales_tax", "inclusive": false}}}
	pi := read("payment_intent.json")
	ch := read("charge.json")
	ch["receipt_number"] = "1234-5678"
	ch["billing_details"].(map[string]any)["address"] = map[string]any{"line1": "354 Oyster Point Blvd", "line2": nil,
		"city": "South San Francisco", "state": "CA", "postal_code": "94080", "country": "US"}
	pi["latest_charge"] = ch
	pi["agent_details"] = map[string]any{"name": "Example Agent", "platform": "chatgpt"}
	sess["payment_intent"] = pi
	sess["collected_information"].(map[string]any)["shipping_details"] = map[string]any{"name": "Jenny Rosen",
		"address": map[string]any{"line1": "1 Main St", "line2": nil, "city": "Springfield", "state": "IL", "postal_code": "62701", "country": "US"}}
	sess["shipping_cost"].(map[string]any)["shipping_rate"] = map[string]any{"id": "shr_1", "object": "shipping_rate",
		"display_name": "Standard shipping", "metadata": map[string]any{"acs_shipping_option_id": "standard"}}
	sess["amount_total"] = 1580
	b, _ := json.Marshal(sess)
	return b
}

func TestMapFixtureSession(t *testing.T) {
	raw := fixtureSession(t)
	m, err := MapSession(raw)
	if err != nil {
		t.Fatal(err)
	}
	o := m.Order
	want := &pb.Order{
		Created: 1234567890, OrderNumber: "1234-5678", AmountTotal: 1580,
		ShippingAddress:  &pb.Address{Line1: "1 Main St", City: "Springfield", State: "IL", PostalCode: "62701", Country: "US"},
		BillingAddress:   &pb.Address{Line1: "354 Oyster Point Blvd", City: "South San Francisco", State: "CA", PostalCode: "94080", Country: "US"},
		Card:             &pb.Card{Brand: "visa", Last4: "4242", ExpMonth: 8, ExpYear: 2030},
		AgentDetailsJson: `{"name":"Example Agent","platform":"chatgpt"}`,
		ShippingOptionId: "standard",
		Lines: []*pb.OrderLine{{Sku: "TSHIRT-GRAY-M", Quantity: 1, UnitAmount: 1000, Description: "Comfortable gray cotton t-shirt",
			Gtin: "04006381333931", Mpn: "TS-GRY-M", Taxes: []*pb.LineTax{{Amount: 80, TaxType: "sales_tax", Percentage: 8}}}},
	}
	checkGuideFields(t, o, want)
	if o.GetBillingName() != "Jenny Rosen" || o.GetShippingName() != "Jenny Rosen" || o.GetEmail() != "example@example.com" ||
		o.GetPaymentIntentId() != "pi_1PgafyB7WZ01zgkWSjxsAJo3" || o.GetLines()[0].GetName() != "T-shirt" {
		t.Errorf("order: %+v", o)
	}
	if len(m.Warnings) != 0 {
		t.Errorf("warnings: %v", m.Warnings)
	}
}

func TestMapSKUFallbacksAreReported(t *testing.T) {
	var sess map[string]any
	if err := json.Unmarshal(fixtureSession(t), &sess); err != nil {
		t.Fatal(err)
	}
	price := sess["line_items"].(map[string]any)["data"].([]any)[0].(map[string]any)["price"].(map[string]any)
	delete(price, "external_reference")
	b, _ := json.Marshal(sess)
	m, err := MapSession(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Order.GetLines()[0].GetSku() != "price_1PgafmB7WZ01zgkW02Hf9z6c" || len(m.Warnings) != 1 {
		t.Fatalf("price id fallback: %q %v", m.Order.GetLines()[0].GetSku(), m.Warnings)
	}
	price["metadata"] = map[string]any{"sku": "META-SKU"}
	b, _ = json.Marshal(sess)
	if m, _ := MapSession(b); m.Order.GetLines()[0].GetSku() != "META-SKU" || len(m.Warnings) != 1 {
		t.Fatalf("metadata fallback: %+v", m)
	}
	// Unexpanded payment intent: mapped with warnings, nothing invented.
	sess["payment_intent"] = "pi_123"
	b, _ = json.Marshal(sess)
	m, err = MapSession(b)
	if err != nil || m.Order.GetPaymentIntentId() != "pi_123" || m.Order.GetCard() != nil || m.Order.GetCreated() != 1234567890 {
		t.Fatalf("unexpanded: %+v %v", m, err)
	}
	// Garbage is an error.
	if _, err := MapSession([]byte(`{"object":"payment_intent","id":"pi_1"}`)); err == nil {
		t.Fatal("not a session")
	}
}

func TestPartialAmount(t *testing.T) {
	o := &pb.Order{Lines: []*pb.OrderLine{
		{Sku: "A", Quantity: 3, UnitAmount: 1200, AmountTotal: 3600 + 297, Taxes: []*pb.LineTax{{Amount: 297}}},
		{Sku: "B", Quantity: 2, UnitAmount: 1000, AmountTotal: 2000 - 200 + 150, Taxes: []*pb.LineTax{{Amount: 150}}},
		{Sku: "A", Quantity: 1, UnitAmount: 1200, AmountTotal: 1299, Taxes: []*pb.LineTax{{Amount: 99}}},
	}}
	for _, tc := range []struct {
		lines []*pb.LineItem
		want  int64
		bad   bool
	}{
		{[]*pb.LineItem{{Sku: "A", Quantity: 1}}, 1299, false},
		{[]*pb.LineItem{{Sku: "A", Quantity: 3}}, 3897, false},            // a whole line: exactly what it cost
		{[]*pb.LineItem{{Sku: "A", Quantity: 4}}, 3897 + 1299, false},     // spills into the second A line
		{[]*pb.LineItem{{Sku: "B", Quantity: 1}}, 1000 + 75 - 100, false}, // discount shared too
		{[]*pb.LineItem{{Sku: "A", Quantity: 5}}, 0, true},                // more than ordered
		{[]*pb.LineItem{{Sku: "C", Quantity: 1}}, 0, true},                // not in the order
		{nil, 0, true},
	} {
		got, err := PartialAmount(o, tc.lines)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("%v: got %d %v, want %d (error %v)", tc.lines, got, err, tc.want, tc.bad)
		}
	}
}
