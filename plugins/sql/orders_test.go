package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
)

const injection = "x'; DROP TABLE products; --"

func testOrder(session string, lines ...sdk.OrderLine) sdk.Order {
	var total int64
	for _, l := range lines {
		total += l.AmountTotal
	}
	return sdk.Order{
		CheckoutSessionID: session, PaymentIntentID: "pi_" + session, Currency: "usd",
		AmountTotal: total, AmountSubtotal: total, Created: time.Date(2024, 6, 1, 12, 30, 0, 0, time.UTC),
		Email: "buyer@example.com", ShippingName: "Grace Hopper",
		ShippingAddress: &sdk.Address{Line1: "1 Navy Yard", City: "Arlington", PostalCode: "22202", Country: "US"},
		Lines:           lines,
	}
}

func line(sku string, qty, unit int64) sdk.OrderLine {
	return sdk.OrderLine{SKU: sku, Name: sku, Quantity: qty, UnitAmount: unit, AmountTotal: qty * unit}
}

// TestPushOrderConcurrentIdempotent pushes the same order from 16
// goroutines at once, then again: one order row, its lines once, and every
// push answers Accepted with the same reference. Both examples cover the two
// idempotency paths (saleor: ON CONFLICT DO NOTHING; northwind: a plain
// INSERT ... RETURNING hitting the unique constraint).
func TestPushOrderConcurrentIdempotent(t *testing.T) {
	for _, ex := range []struct{ name, sku, lineTable, linesBySession string }{
		{"saleor", "MONO-TEE-S", "acs_order_line", "SELECT count(*) FROM acs_order_line l JOIN acs_order o ON o.id = l.order_id WHERE o.session_id = "},
		{"northwind", "NW-1", "acs_order_line", "SELECT count(*) FROM acs_order_line l JOIN acs_order o ON o.id = l.order_id WHERE o.session_id = "},
	} {
		t.Run(ex.name, func(t *testing.T) {
			forEachDriver(t, func(t *testing.T, driver string) {
				t.Parallel()
				d, cfg := loadExample(t, ex.name, driver)
				c := start(t, cfg)
				ctx := context.Background()
				key := "cs_test_concurrent_" + driver
				o := testOrder(key, line(ex.sku, 2, 1800), line(ex.sku, 1, 1800))
				const n = 16
				refs := make([]string, n)
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: key, Order: o})
						if err == nil && r.Status != sdk.Accepted {
							err = fmt.Errorf("status %v reason %q", r.Status, r.Reason)
						}
						if err == nil {
							refs[i] = r.BackendReference
						}
						errs[i] = err
					}()
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("push %d: %v", i, err)
					}
					if refs[i] == "" || refs[i] != refs[0] {
						t.Fatalf("push %d answered reference %q, push 0 %q", i, refs[i], refs[0])
					}
				}
				again, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: key, Order: o})
				if err != nil || again.Status != sdk.Accepted || again.BackendReference != refs[0] {
					t.Fatalf("a later retry must give the first answer: %+v %v", again, err)
				}
				if got := d.count(t, "SELECT count(*) FROM acs_order WHERE session_id = '"+key+"'"); got != 1 {
					t.Errorf("%d order rows for the session, want 1", got)
				}
				if got := d.count(t, ex.linesBySession+"'"+key+"'"); got != 2 {
					t.Errorf("%d order lines, want 2", got)
				}
				if refs[0] != uuid5(key) {
					t.Errorf("reference %q, want the order's uuid %q", refs[0], uuid5(key))
				}
				// The seeded order answers with its own reference.
				seeded := map[string]string{"saleor": "cs_test_seed_1", "northwind": "cs_test_nw_seed_1"}[ex.name]
				r, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: seeded, Order: testOrder(seeded, line(ex.sku, 1, 100))})
				if err != nil || r.Status != sdk.Accepted || r.BackendReference == uuid5(seeded) || r.BackendReference == "" {
					t.Errorf("pushing an existing order must return its reference: %+v %v", r, err)
				}
			})
		})
	}
}

// TestPushOrderAllOrNothing: a line that fails (unknown SKU, or a CHECK
// constraint) rolls back the whole order, and the order is rejected with
// the database's reason. A later valid push of the same session succeeds.
func TestPushOrderAllOrNothing(t *testing.T) {
	for _, ex := range []struct{ name, sku string }{{"saleor", "MONO-TEE-S"}, {"northwind", "NW-1"}} {
		t.Run(ex.name, func(t *testing.T) {
			forEachDriver(t, func(t *testing.T, driver string) {
				t.Parallel()
				d, cfg := loadExample(t, ex.name, driver)
				c := start(t, cfg)
				ctx := context.Background()
				orders := d.count(t, "SELECT count(*) FROM acs_order")
				lines := d.count(t, "SELECT count(*) FROM acs_order_line")
				for i, bad := range []sdk.OrderLine{line("NO-SUCH-SKU", 1, 100), line(ex.sku, 0, 100)} {
					key := fmt.Sprintf("cs_test_fail_%d", i)
					r, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: key, Order: testOrder(key, line(ex.sku, 1, 1800), bad)})
					if err != nil {
						t.Fatalf("a constraint violation is a rejection, not an error: %v", err)
					}
					if r.Status != sdk.Rejected || !strings.Contains(r.Reason, "line 2") {
						t.Errorf("want Rejected naming line 2, got %+v", r)
					}
					if got := d.count(t, "SELECT count(*) FROM acs_order WHERE session_id = '"+key+"'"); got != 0 {
						t.Errorf("a failed line left %d order rows", got)
					}
				}
				if got := d.count(t, "SELECT count(*) FROM acs_order"); got != orders {
					t.Errorf("orders: %d, want %d", got, orders)
				}
				if got := d.count(t, "SELECT count(*) FROM acs_order_line"); got != lines {
					t.Errorf("order lines: %d, want %d (the good first line must be rolled back too)", got, lines)
				}
				r, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "cs_test_fail_0", Order: testOrder("cs_test_fail_0", line(ex.sku, 1, 1800))})
				if err != nil || r.Status != sdk.Accepted {
					t.Errorf("the corrected order must go through: %+v %v", r, err)
				}
			})
		})
	}
}

// TestInjectionInOrdersAndAvailability: SQL-looking values are data. A SKU
// like x'; DROP TABLE products; -- is just an unknown SKU; names and emails
// are stored verbatim; every table survives.
func TestInjectionInOrdersAndAvailability(t *testing.T) {
	for _, ex := range []struct{ name, sku, productTable string }{
		{"saleor", "MONO-TEE-S", "product_productvariant"},
		{"northwind", "NW-1", "products"},
	} {
		t.Run(ex.name, func(t *testing.T) {
			forEachDriver(t, func(t *testing.T, driver string) {
				t.Parallel()
				d, cfg := loadExample(t, ex.name, driver)
				c := start(t, cfg)
				ctx := context.Background()
				products := d.count(t, "SELECT count(*) FROM "+ex.productTable)
				orders := d.count(t, "SELECT count(*) FROM acs_order")

				for _, sku := range []string{injection, "x' OR '1'='1", `"; DELETE FROM acs_order; --`, ex.sku + "' --"} {
					a, err := c.CheckAvailability(ctx, &sdk.AvailabilityRequest{Items: []sdk.LineItem{{SKU: sku, Quantity: 1}}})
					if err != nil {
						t.Fatalf("availability %q: %v", sku, err)
					}
					if len(a.Items) != 1 || a.Items[0].Available || a.Items[0].Reason == "" {
						t.Errorf("availability %q: want unavailable with a reason, got %+v", sku, a.Items)
					}
				}

				key := "cs_test_inject_sku"
				r, err := c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: key, Order: testOrder(key, line(injection, 1, 100))})
				if err != nil || r.Status != sdk.Rejected {
					t.Errorf("an order for an unknown SKU is rejected: %+v %v", r, err)
				}

				key = "cs_test_inject_'); DROP TABLE acs_order; --"
				o := testOrder(key, line(ex.sku, 1, 1800))
				o.Email = "robert'); DROP TABLE products; --@example.com"
				o.ShippingName = injection
				r, err = c.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: key, Order: o})
				if err != nil || r.Status != sdk.Accepted {
					t.Fatalf("an order with odd text is an order: %+v %v", r, err)
				}
				var email string
				if err := d.db.QueryRow(rebind(d, "SELECT email FROM acs_order WHERE session_id = ?", "SELECT user_email FROM acs_order WHERE session_id = ?", ex.name), key).Scan(&email); err != nil {
					t.Fatal(err)
				}
				if email != o.Email {
					t.Errorf("stored email %q, want it verbatim", email)
				}

				if got := d.count(t, "SELECT count(*) FROM "+ex.productTable); got != products {
					t.Errorf("%s has %d rows, had %d", ex.productTable, got, products)
				}
				if got := d.count(t, "SELECT count(*) FROM acs_order"); got != orders+1 {
					t.Errorf("acs_order has %d rows, want %d", got, orders+1)
				}
			})
		})
	}
}

// rebind picks the example's query and adapts ? to $1 for PostgreSQL.
func rebind(d *testDB, northwind, saleor, example string) string {
	q := northwind
	if example == "saleor" {
		q = saleor
	}
	if d.pg() {
		q = strings.Replace(q, "?", "$1", 1)
	}
	return q
}

// TestOrderUpdates: multi-row partial cancellations become one update with
// lines, bad rows are reported with their origin and held back (not
// returned, so never acknowledged), acknowledged updates don't come back.
func TestOrderUpdates(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		t.Parallel()
		d, cfg := loadExample(t, "saleor", driver)
		d.exec(t,
			`INSERT INTO acs_order_update (id, line_no, session_id, kind, sku, quantity, refund_amount, reason) VALUES
			 (10, 1, 'cs_test_multi', 'partially_cancelled', 'MONO-TEE-S', 1, 25.000, 'damaged'),
			 (10, 2, 'cs_test_multi', 'partially_cancelled', 'MONO-TEE-M', 2, NULL, NULL),
			 (11, 1, 'cs_test_bad', 'exploded', NULL, NULL, NULL, NULL),
			 (12, 1, 'cs_test_half_bad', 'partially_cancelled', 'MONO-TEE-S', 1, NULL, NULL),
			 (12, 2, 'cs_test_half_bad', 'imploded', 'MONO-TEE-M', 1, NULL, NULL),
			 (13, 1, 'cs_test_ship', 'shipped', NULL, NULL, NULL, NULL),
			 (14, 1, 'cs_test_cancel', 'canceled', NULL, NULL, 12.345, 'fraud')`)
		p := mustConfigure(t, cfg)
		ctx := context.Background()
		var resp sdk.OrderUpdatesResponse
		if err := p.ReadOrderUpdates(ctx, &sdk.OrderUpdatesRequest{Limit: 100}, &resp); err != nil {
			t.Fatal(err)
		}
		byID := map[string]sdk.OrderUpdate{}
		var got []string
		for _, u := range resp.Updates {
			byID[u.ID] = u
			got = append(got, u.ID)
		}
		if strings.Join(got, ",") != "1,2,10,13,14" {
			t.Errorf("updates %v, want 1,2,10,13,14", got)
		}
		if u := byID["1"]; u.Kind != sdk.Shipped || u.TrackingNumber != "1Z999AA10123456784" || u.Carrier != "UPS" || u.SessionID != "cs_test_seed_1" || u.OccurredAt.IsZero() {
			t.Errorf("update 1: %+v", u)
		}
		if u := byID["2"]; u.Kind != sdk.PartiallyCancelled || u.RefundAmount != 2750 || len(u.Lines) != 1 || u.Lines[0].SKU != "variant-3" {
			t.Errorf("update 2: %+v", u)
		}
		if u := byID["10"]; u.Kind != sdk.PartiallyCancelled || len(u.Lines) != 2 || u.Lines[1].SKU != "MONO-TEE-M" || u.Lines[1].Quantity != 2 || u.RefundAmount != 2500 || u.Reason != "damaged" {
			t.Errorf("update 10 (two rows): %+v", u)
		}
		if u := byID["14"]; u.Kind != sdk.Cancelled || u.RefundAmount != 1235 || u.Reason != "fraud" {
			t.Errorf("update 14 (12.345 USD rounds to 1235 cents): %+v", u)
		}
		if len(resp.Errors) != 2 {
			t.Fatalf("errors: %+v", resp.Errors)
		}
		for _, e := range resp.Errors {
			if e.Field != "kind" || !strings.HasPrefix(e.Origin, "query order_updates row ") || !strings.Contains(e.Message, "not an update kind") {
				t.Errorf("error: %+v", e)
			}
		}
		if err := p.AckOrderUpdates(ctx, []string{"1", "2", "10"}); err != nil {
			t.Fatal(err)
		}
		// An id that is not one (PostgreSQL: not an integer) fails or
		// matches nothing; either way it changes nothing.
		_ = p.AckOrderUpdates(ctx, []string{injection, "0 OR 1=1"})
		var again sdk.OrderUpdatesResponse
		if err := p.ReadOrderUpdates(ctx, &sdk.OrderUpdatesRequest{Limit: 1}, &again); err != nil {
			t.Fatal(err)
		}
		if len(again.Updates) != 1 || again.Updates[0].ID != "13" {
			t.Errorf("after ack, limit 1: %+v", again.Updates)
		}
		if n := d.count(t, "SELECT count(*) FROM acs_order_update WHERE acked_at IS NOT NULL"); n != 5 {
			t.Errorf("%d acknowledged rows, want 5 (3, and 1, 2, 10 with its two rows)", n)
		}
		if n := d.count(t, "SELECT count(*) FROM acs_order_update"); n != 10 {
			t.Errorf("acs_order_update has %d rows, want 10", n)
		}
	})
}
