package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/sdktest"
)

// TestIncrementalCursor: a full read returns the largest updated_at as the
// cursor; the incremental query gets it as a bound parameter and returns
// only rows changed since; an empty incremental read keeps the cursor.
func TestIncrementalCursor(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		t.Parallel()
		d, cfg := loadExample(t, "saleor", driver)
		c := start(t, cfg)
		ctx := context.Background()
		read := func(cursor string) *sdktest.ReadResult {
			t.Helper()
			res, err := c.Read(ctx, sdktest.Catalog, cursor)
			if err != nil {
				t.Fatalf("read with cursor %q: %v", cursor, err)
			}
			return res
		}
		full := read("")
		if len(full.Records) != 6 || full.Cursor == "" {
			t.Fatalf("full read: %d records, cursor %q", len(full.Records), full.Cursor)
		}
		for _, r := range full.Records {
			if _, ok := r.Fields["updated_at"]; ok {
				t.Fatal("the cursor column must not reach the feed")
			}
		}
		c1 := full.Cursor
		if none := read(c1); len(none.Records) != 0 || none.Cursor != c1 {
			t.Fatalf("nothing changed: want 0 records and cursor %q, got %d records, cursor %q", c1, len(none.Records), none.Cursor)
		}

		upd := func(q string) {
			if d.pg() {
				q = strings.ReplaceAll(q, "?", "$1")
			}
			d.exec(t, q)
		}
		upd(`UPDATE product_product SET name = 'Apple Juice (fresh)', updated_at = '2024-06-01 12:00:00' WHERE id = 2`)
		r2 := read(c1)
		if got := ids(r2.Records); !slices.Equal(got, []string{"JUICE-APPLE-1L"}) {
			t.Fatalf("after changing product 2: %v", got)
		}
		if r2.Records[0].Fields["title"] != "Apple Juice (fresh)" || r2.Cursor == c1 || r2.Cursor == "" {
			t.Fatalf("changed record %v, cursor %q", r2.Records[0].Fields, r2.Cursor)
		}
		upd(`UPDATE product_productvariant SET updated_at = '2024-06-02 08:30:00' WHERE id IN (1, 3)`)
		r3 := read(r2.Cursor)
		if got := ids(r3.Records); !slices.Equal(got, []string{"MONO-TEE-S", "variant-3"}) {
			t.Fatalf("after changing variants 1 and 3: %v", got)
		}
		if r4 := read(r3.Cursor); len(r4.Records) != 0 {
			t.Fatalf("the cursor %q must exclude what was read: %v", r3.Cursor, ids(r4.Records))
		}
		// A full read still returns everything, with the newest cursor.
		if again := read(""); len(again.Records) != 6 || again.Cursor != r3.Cursor {
			t.Fatalf("full read after changes: %d records, cursor %q (want %q)", len(again.Records), again.Cursor, r3.Cursor)
		}
		// The cursor is a parameter, not SQL: a hostile one matches
		// nothing (SQLite) or is refused as a bad timestamp (PostgreSQL).
		res, err := c.Read(ctx, sdktest.Catalog, "x' OR '1'='1")
		if err == nil && len(res.Records) != 0 {
			t.Errorf("a cursor like x' OR '1'='1 returned %d records", len(res.Records))
		}
		if n := d.count(t, "SELECT count(*) FROM product_productvariant"); n != 7 {
			t.Errorf("variants: %d", n)
		}
	})
}

// TestRowRejects: a NULL id or an unconvertible value rejects that row with
// its origin and column; the other rows flow.
func TestRowRejects(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		t.Parallel()
		d := newTestDB(t, driver)
		d.exec(t,
			`CREATE TABLE items (pos INTEGER PRIMARY KEY, sku VARCHAR(20), price VARCHAR(20), qty VARCHAR(10), hidden VARCHAR(10))`,
			`INSERT INTO items VALUES (1, 'A', '10.50', '3', 'no'), (2, NULL, '1.00', '1', 'no'), (3, 'C', 'ten', '1', 'no'),
			 (4, 'D', '4', 'lots', 'no'), (5, 'E', '15.00 EUR', '0', 'maybe'), (6, 'F', '0.125', '2', 'yes')`)
		cfg := map[string]any{"driver": driver, "dsn": d.dsn, "queries": map[string]any{
			"catalog": `SELECT sku AS id, sku AS title, 'd' AS description, 'https://x.example/' || sku AS link,
			                   'https://x.example/i.png' AS image_link, 'in_stock' AS availability,
			                   qty AS inventory_quantity, price, hidden AS disable_checkout
			              FROM items ORDER BY pos`}}
		p := mustConfigure(t, cfg)
		var s sink
		if err := p.read(context.Background(), kindCatalog, "", &s); err != nil {
			t.Fatal(err)
		}
		if got := ids(s.records()); !slices.Equal(got, []string{"A", "F"}) {
			t.Errorf("records %v, want A and F", got)
		}
		if got := s.records()[1].Fields; got["price"] != "0.13 USD" || got["disable_checkout"] != "true" || got["inventory_quantity"] != "2" {
			t.Errorf("F: %v", got)
		}
		want := []struct{ origin, field string }{
			{"query catalog row 2", "id"}, {"query catalog row 3", "price"}, {"query catalog row 4", "inventory_quantity"}, {"query catalog row 5", "disable_checkout"},
		}
		if len(s.rejects) != len(want) {
			t.Fatalf("rejects: %+v", s.rejects)
		}
		for i, w := range want {
			r := s.rejects[i]
			if r.Origin != w.origin || r.Field != w.field || !strings.HasPrefix(r.Message, w.field+" ") {
				t.Errorf("reject %d: %+v, want %s %s", i, r, w.origin, w.field)
			}
		}
		if s.rejects[1].Partial["id"] != "C" {
			t.Errorf("a reject carries the fields that converted: %v", s.rejects[1].Partial)
		}
	})
}

// TestParamsAreBound: config params are bound, never spliced: quotes and
// SQL in them end up as text in the feed (or match nothing) and leave the
// tables intact.
func TestParamsAreBound(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		t.Parallel()
		d, cfg := loadExample(t, "northwind", driver)
		paramsOf(cfg)["base_url"] = "https://evil.example/'); DROP TABLE products; --"
		c := start(t, cfg)
		res, err := c.Read(context.Background(), sdktest.Catalog, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) != 13 || res.Records[0].Fields["link"] != "https://evil.example/'); DROP TABLE products; --/products/1" {
			t.Fatalf("%d records, first link %q", len(res.Records), res.Records[0].Fields["link"])
		}
		if n := d.count(t, "SELECT count(*) FROM products"); n != 13 {
			t.Errorf("products: %d", n)
		}

		d2, cfg2 := loadExample(t, "saleor", driver)
		paramsOf(cfg2)["channel"] = "default-channel' OR '1'='1"
		c2 := start(t, cfg2)
		res, err = c2.Read(context.Background(), sdktest.Catalog, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) != 0 {
			t.Errorf("a channel param with SQL in it must match no channel, got %d records", len(res.Records))
		}
		if n := d2.count(t, "SELECT count(*) FROM channel_channel"); n != 2 {
			t.Errorf("channels: %d", n)
		}
	})
}

// TestConfigureChecksQueries: problems are reported at Configure time as
// field errors naming the query: a result column that is no feed column
// (found by running the query with LIMIT 0), a missing required column, an
// unknown placeholder, SQL the database refuses.
func TestConfigureChecksQueries(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		t.Parallel()
		_, base := loadExample(t, "northwind", driver)
		cases := []struct {
			name, key, query, field, want string
		}{
			{"unknown column", "prices", `SELECT 'NW-' || CAST(product_id AS VARCHAR(10)) AS id, unit_price AS price, units_in_stock FROM products`, "queries.prices", `"units_in_stock" is not a column of Stripe's price feed`},
			{"typo", "inventory", `SELECT 'x' AS id, 'in_stock' AS availabilty, 1 AS inventory_quantity FROM products`, "queries.inventory", `"availabilty" is not a column of Stripe's inventory feed (did you mean "availability"?)`},
			{"missing required", "prices", `SELECT 'x' AS id FROM products`, "queries.prices", "needs column(s) price"},
			{"duplicate", "prices", `SELECT 'x' AS id, unit_price AS price, unit_price AS price FROM products`, "queries.prices", "more than once"},
			{"unknown placeholder", "prices", `SELECT 'x' AS id, unit_price AS price FROM products WHERE product_id = :pid`, "queries.prices", "unknown placeholder(s) :pid"},
			{"bad sql", "prices", `SELECT id, price FROM no_such_table`, "queries.prices", "no_such_table"},
			{"availability column", "availability", `SELECT units_in_stock AS stock FROM products WHERE 'NW-' || CAST(product_id AS VARCHAR(10)) = :sku`, "queries.availability", `must return a "available_quantity" column`},
			{"availability needs sku", "availability", `SELECT units_in_stock AS available_quantity FROM products`, "queries.availability", "must use the placeholder :sku"},
			{"insert refused", "order_line_insert", `INSERT INTO acs_order_line (nope) VALUES (:sku)`, "queries.order_line_insert", "nope"},
			{"unterminated", "prices", `SELECT 'x AS id FROM products`, "queries.prices", "unterminated"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				cfg := cloneConfig(base)
				queriesOf(cfg)[tc.key] = tc.query
				_, errs := configure(t, cfg)
				found := false
				for _, e := range errs {
					if e.Field == tc.field && strings.Contains(e.Message, tc.want) {
						found = true
					}
				}
				if !found {
					t.Errorf("want a %s error containing %q, got:%s", tc.field, tc.want, fieldErrors(errs))
				}
			})
		}
	})
}

func cloneConfig(cfg map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range cfg {
		if m, ok := v.(map[string]any); ok {
			v = cloneConfig(m)
		}
		out[k] = v
	}
	return out
}

func TestConfigureValidation(t *testing.T) {
	cases := []struct {
		cfg   map[string]any
		field string
	}{
		{map[string]any{"dsn": "x.db", "queries": map[string]any{"prices": "SELECT 1"}}, "driver"},
		{map[string]any{"driver": "mysql", "dsn": "x", "queries": map[string]any{"prices": "SELECT 1"}}, "driver"},
		{map[string]any{"driver": "sqlite", "queries": map[string]any{"prices": "SELECT 1"}}, "dsn"},
		{map[string]any{"driver": "sqlite", "dsn": "/nonexistent/acs/x.db", "queries": map[string]any{"prices": "SELECT 1"}}, "dsn"},
		{map[string]any{"driver": "sqlite", "dsn": ":memory:"}, "queries"},
		{map[string]any{"driver": "sqlite", "dsn": ":memory:", "currency": "dollars", "queries": map[string]any{"prices": "SELECT 1"}}, "currency"},
		{map[string]any{"driver": "sqlite", "dsn": ":memory:", "money_units": "cents", "queries": map[string]any{"prices": "SELECT 1"}}, "money_units"},
		{map[string]any{"driver": "sqlite", "dsn": ":memory:", "query_timeout": "soon", "queries": map[string]any{"prices": "SELECT 1"}}, "query_timeout"},
		{map[string]any{"driver": "sqlite", "dsn": ":memory:", "queries": map[string]any{"prices": "SELECT 1", "prices_incremental": "SELECT 1 WHERE 1 > :cursor"}}, "cursor_column"},
		{map[string]any{"driver": "sqlite", "dsn": ":memory:", "queries": map[string]any{"order_insert": "INSERT INTO t VALUES (:session_id)"}}, "queries.order_lookup"},
		{map[string]any{"driver": "sqlite", "dsn": ":memory:", "queries": map[string]any{"order_updates": "SELECT 1"}}, "queries.order_updates_ack"},
		{map[string]any{"driver": "sqlite", "dsn": ":memory:", "params": map[string]any{"sku": "x"}, "queries": map[string]any{"prices": "SELECT 1"}}, "params.sku"},
		{map[string]any{"driver": "sqlite", "dsn": ":memory:", "queries": map[string]any{"pricez": "SELECT 1"}}, "pricez"},
	}
	for _, tc := range cases {
		_, errs := configure(t, tc.cfg)
		if !slices.ContainsFunc(errs, func(e sdk.FieldError) bool { return e.Field == tc.field }) {
			t.Errorf("%v: want an error on %s, got:%s", tc.cfg, tc.field, fieldErrors(errs))
		}
	}
}

// TestDSNNeverLeaks: a connection failure is reported without the DSN or
// its password.
func TestDSNNeverLeaks(t *testing.T) {
	for _, dsn := range []string{
		"postgres://shopuser:S3cr3t-pw@127.0.0.1:1/shop?sslmode=disable&connect_timeout=2",
		"host=127.0.0.1 port=1 user=shopuser password=S3cr3t-pw dbname=shop sslmode=disable connect_timeout=2",
	} {
		_, errs := configure(t, map[string]any{"driver": "postgres", "dsn": dsn, "queries": map[string]any{"prices": "SELECT 'a' AS id, 1 AS price"}})
		if len(errs) == 0 {
			t.Fatal("connecting to port 1 must fail")
		}
		for _, e := range errs {
			if strings.Contains(e.Message, "S3cr3t-pw") || strings.Contains(e.Message, dsn) {
				t.Errorf("error leaks the DSN: %s", e.Message)
			}
		}
	}
	if got := redact("dial postgres://u:pw123@h/db failed; password=pw123", dsnSecrets("postgres://u:pw123@h/db")); strings.Contains(got, "pw123") {
		t.Errorf("redact: %s", got)
	}
}

// TestFirstRowTimeout: query_timeout bounds the wait for the first row.
func TestFirstRowTimeout(t *testing.T) {
	d := newPostgresDB(t)
	cfg := map[string]any{"driver": "postgres", "dsn": d.dsn, "query_timeout": "300ms", "queries": map[string]any{
		"prices": `SELECT 'a' AS id, 1 AS price FROM (SELECT pg_sleep(3)) s`,
	}}
	p := mustConfigure(t, cfg)
	start := time.Now()
	err := p.read(context.Background(), kindPrices, "", &sink{})
	if err == nil || !strings.Contains(err.Error(), "query_timeout") {
		t.Fatalf("want a query_timeout error, got %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("timed out after %s", el)
	}
}

func TestUnconfiguredQueriesAreUnimplemented(t *testing.T) {
	d := newTestDB(t, driverSQLite)
	d.exec(t, `CREATE TABLE p (sku TEXT, price REAL)`)
	p := mustConfigure(t, map[string]any{"driver": "sqlite", "dsn": d.dsn, "queries": map[string]any{"prices": "SELECT sku AS id, price FROM p"}})
	ctx := context.Background()
	for name, err := range map[string]error{
		"catalog":      p.read(ctx, kindCatalog, "", &sink{}),
		"availability": p.CheckAvailability(ctx, &sdk.AvailabilityRequest{}, &sdk.AvailabilityResponse{}),
		"push":         p.PushOrder(ctx, &sdk.PushOrderRequest{IdempotencyKey: "k"}, &sdk.PushOrderResponse{}),
		"updates":      p.ReadOrderUpdates(ctx, &sdk.OrderUpdatesRequest{}, &sdk.OrderUpdatesResponse{}),
		"ack":          p.AckOrderUpdates(ctx, []string{"1"}),
	} {
		if !errors.Is(err, sdk.ErrUnimplemented) {
			t.Errorf("%s: want ErrUnimplemented, got %v", name, err)
		}
	}
	if err := p.read(ctx, kindPrices, "", &sink{}); err != nil {
		t.Errorf("prices: %v", err)
	}
}
