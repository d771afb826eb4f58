package emulator

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/form"
	"github.com/stripe/stripe-go/v82/rawrequest"
)

const productCSV = `id,title,description,price,availability,inventory_quantity
SKU-1,Mug,A mug,12.00 USD,in_stock,5
SKU-2,Bad,A bad row,oops,in_stock,1
SKU-3,Cup,"A cup, blue",8.00 USD,in_stock,2
`

// priceChecker flags prices that don't look like "12.00 USD".
func priceChecker(kind string, header, row []string) []string {
	for i, h := range header {
		if h == "price" && !strings.HasSuffix(row[i], " USD") {
			return []string{"price must be an amount and a currency, like 15.00 USD"}
		}
	}
	return nil
}

func TestImportSetNeedsPreviewHeader(t *testing.T) {
	h := newHarness(t, Options{})
	f, err := h.uploadCSV(t, "p.csv", "text/csv", productCSV, "")
	if err != nil {
		t.Fatal(err)
	}
	v := &form.Values{}
	v.Add("file", f.ID)
	v.Add("standard_data_format", "product_catalog_feed")
	for _, version := range []string{"", "2025-12-15.preview"} {
		p := &stripe.RawParams{}
		if version != "" {
			p.Headers = http.Header{"Stripe-Version": {version}}
		}
		_, err = h.raw.RawRequest(http.MethodPost, "/v1/data_management/import_sets", v.Encode(), p)
		se := stripeErr(t, err)
		if se.HTTPStatusCode != 400 || !strings.Contains(se.Msg, "Stripe-Version: "+DefaultPreviewVersion) {
			t.Fatalf("version %q: got %d %q", version, se.HTTPStatusCode, se.Msg)
		}
	}
	if n := len(h.emu.ImportSets()); n != 0 {
		t.Fatalf("rejected requests created %d import sets", n)
	}
	// Bad parameters name the param.
	v2 := &form.Values{}
	v2.Add("file", f.ID)
	v2.Add("standard_data_format", "catalog")
	_, err = h.raw.RawRequest(http.MethodPost, "/v1/data_management/import_sets", v2.Encode(), previewParams(""))
	if se := stripeErr(t, err); se.Param != "standard_data_format" {
		t.Fatalf("bad format: %+v", se)
	}
	v3 := &form.Values{}
	v3.Add("file", "file_nope")
	v3.Add("standard_data_format", "inventory_feed")
	_, err = h.raw.RawRequest(http.MethodPost, "/v1/data_management/import_sets", v3.Encode(), previewParams(""))
	if se := stripeErr(t, err); se.Param != "file" || se.Code != stripe.ErrorCodeResourceMissing {
		t.Fatalf("missing file: %+v", se)
	}
}

func TestImportSetLifecycleErrorFileAndWebhook(t *testing.T) {
	h := newHarness(t, Options{RowChecker: priceChecker})
	sink := newHookSink(t, "whsec_test_imports")
	h.emu.SetWebhook(sink.srv.URL, "whsec_test_imports")

	f, err := h.uploadCSV(t, "products.csv", "text/csv", productCSV, "")
	if err != nil {
		t.Fatal(err)
	}
	created := h.createImportSet(t, f.ID, "product_catalog_feed", "")
	id, _ := created["id"].(string)
	if !strings.HasPrefix(id, "impset_test_") || created["object"] != "data_management.import_set" ||
		created["livemode"] != false || created["file"] != f.ID {
		t.Fatalf("create response: %v", created)
	}
	if _, has := created["status"]; has {
		t.Fatalf("create response must omit status like Stripe: %v", created)
	}
	if st := h.getImportSet(t, id)["status"]; st != "pending" && st != "creating_records" {
		t.Fatalf("status right after create: %v", st)
	}

	done := h.waitImportSet(t, id)
	if done["status"] != "succeeded_with_errors" {
		t.Fatalf("status: %v", done)
	}
	res := done["result"].(map[string]any)
	errs := res["errors"].(map[string]any)
	if res["rows_processed"] != 3.0 || errs["row_count"] != 1.0 || res["successes"].(map[string]any)["row_count"] != 2.0 {
		t.Fatalf("result: %v", res)
	}
	errFile, _ := errs["file"].(string)
	up := rawrequest.Client{B: h.backends.Uploads.(stripe.RawRequestBackend), Key: testKey}
	resp, err := up.RawRequest(http.MethodGet, "/v1/files/"+errFile+"/contents", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(resp.RawJSON)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || strings.Join(recs[0], ",") != "stripe_error_message,id,title,description,price,availability,inventory_quantity" ||
		recs[1][1] != "SKU-2" || !strings.Contains(recs[1][0], "15.00 USD") {
		t.Fatalf("error file: %q", recs)
	}

	cat := h.emu.Catalog()
	if len(cat) != 2 || cat["SKU-3"]["description"] != "A cup, blue" || cat["SKU-1"]["price"] != "12.00 USD" {
		t.Fatalf("catalog: %v", cat)
	}

	ev := sink.wait("data_management.import_set.succeeded", id)
	if ev["api_version"] != DefaultEventAPIVersion || ev["object"] != "event" || ev["livemode"] != false {
		t.Fatalf("event envelope: %v", ev)
	}
	obj := ev["data"].(map[string]any)["object"].(map[string]any)
	if obj["status"] != "succeeded_with_errors" || obj["id"] != id {
		t.Fatalf("event object: %v", obj)
	}
	// The event is stored like Stripe's and retrievable through stripe-go.
	got, err := h.sc.V1Events.Retrieve(t.Context(), ev["id"].(string), nil)
	if err != nil || got.Type != "data_management.import_set.succeeded" {
		t.Fatalf("event retrieve: %v %+v", err, got)
	}
}

func TestImportSetIdempotentCreate(t *testing.T) {
	h := newHarness(t, Options{})
	f, err := h.uploadCSV(t, "p.csv", "text/csv", "id,title\nA,x\n", "")
	if err != nil {
		t.Fatal(err)
	}
	key := "impset-" + f.ID
	first := h.createImportSet(t, f.ID, "product_catalog_feed", key)
	second := h.createImportSet(t, f.ID, "product_catalog_feed", key) // a restarted run
	if first["id"] != second["id"] {
		t.Fatalf("same idempotency key created two import sets: %v %v", first["id"], second["id"])
	}
	if n := len(h.emu.ImportSets()); n != 1 {
		t.Fatalf("want exactly one import set, have %d", n)
	}
	v := &form.Values{}
	v.Add("file", f.ID)
	v.Add("standard_data_format", "inventory_feed")
	_, err = h.raw.RawRequest(http.MethodPost, "/v1/data_management/import_sets", v.Encode(), previewParams(key))
	if se := stripeErr(t, err); se.Type != stripe.ErrorTypeIdempotency {
		t.Fatalf("reused key with other params: %+v", se)
	}
	// Without a key every call creates a new import set.
	h.createImportSet(t, f.ID, "product_catalog_feed", "")
	if n := len(h.emu.ImportSets()); n != 2 {
		t.Fatalf("want 2 import sets, have %d", n)
	}
	// Concurrent requests with one key still create one object.
	f2, _ := h.uploadCSV(t, "q.csv", "text/csv", "id\nB\n", "")
	ids := make(chan any, 8)
	for range 8 {
		go func() { ids <- h.createImportSet(t, f2.ID, "product_catalog_feed", "k-"+f2.ID)["id"] }()
	}
	want := <-ids
	for range 7 {
		if got := <-ids; got != want {
			t.Fatalf("concurrent same-key creates differ: %v %v", want, got)
		}
	}
	if n := len(h.emu.ImportSets()); n != 3 {
		t.Fatalf("want 3 import sets, have %d", n)
	}
}

func TestImportsFinishOutOfOrder(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delays    map[int]time.Duration
		wantPrice string
	}{
		{"later import finishes first, earlier wins", map[int]time.Duration{1: 300 * time.Millisecond, 2: 20 * time.Millisecond}, "10.00 USD"},
		{"creation order", map[int]time.Duration{1: 20 * time.Millisecond, 2: 150 * time.Millisecond}, "20.00 USD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{ProcessingDelay: func(kind string, seq int) time.Duration {
				if kind != KindProduct {
					t.Errorf("kind %q", kind)
				}
				return tc.delays[seq]
			}})
			a, _ := h.uploadCSV(t, "a.csv", "text/csv", "id,title,price\nSKU-1,Mug,10.00 USD\n", "")
			b, _ := h.uploadCSV(t, "b.csv", "text/csv", "id,title,price\nSKU-1,Mug,20.00 USD\n", "")
			ia := h.createImportSet(t, a.ID, "product_catalog_feed", "")["id"].(string)
			ib := h.createImportSet(t, b.ID, "product_catalog_feed", "")["id"].(string)
			h.waitImportSet(t, ia)
			h.waitImportSet(t, ib)
			if got := h.emu.Catalog()["SKU-1"]["price"]; got != tc.wantPrice {
				t.Fatalf("price = %q, want %q", got, tc.wantPrice)
			}
			sets := h.emu.ImportSets()
			if sets[0].ID != ia || sets[0].CreatedOrder != 1 || sets[1].CreatedOrder != 2 || sets[0].FileName != "a.csv" {
				t.Fatalf("import sets: %+v", sets)
			}
			if first := tc.delays[1] < tc.delays[2]; (sets[0].FinishedOrder == 1) != first {
				t.Fatalf("finished order: %+v", sets)
			}
		})
	}
}

func TestImportSetFailsWithoutIDColumn(t *testing.T) {
	h := newHarness(t, Options{ProcessingDelay: func(string, int) time.Duration { return 10 * time.Millisecond }})
	sink := newHookSink(t, "whsec_f")
	h.emu.SetWebhook(sink.srv.URL, "whsec_f")
	f, _ := h.uploadCSV(t, "inv.csv", "text/csv", "sku_id,inventory_quantity\nA,3\n", "")
	id := h.createImportSet(t, f.ID, "inventory_feed", "")["id"].(string)
	done := h.waitImportSet(t, id)
	if done["status"] != "failed" || !strings.Contains(done["failed_reason"].(string), "no id column") {
		t.Fatalf("got %v", done)
	}
	ev := sink.wait("data_management.import_set.failed", id)
	if ev["data"].(map[string]any)["object"].(map[string]any)["failed_reason"] == nil {
		t.Fatalf("event: %v", ev)
	}
}

func TestInventoryAndPriceUpdateExistingProducts(t *testing.T) {
	var delays = map[int]time.Duration{1: 10 * time.Millisecond, 2: 30 * time.Millisecond, 3: 50 * time.Millisecond}
	h := newHarness(t, Options{ProcessingDelay: func(_ string, seq int) time.Duration { return delays[seq] }})
	p, _ := h.uploadCSV(t, "p.csv", "text/csv", "id,title,price,sale_price,inventory_quantity\nA,Mug,10.00 USD,8.00 USD,5\nB,Cup,4.00 USD,,1\n", "")
	inv, _ := h.uploadCSV(t, "i.tsv", "text/tab-separated-values", "id\tavailability\tinventory_quantity\nA\tin_stock\t7\nZ\tin_stock\t1\n", "")
	pr, _ := h.uploadCSV(t, "pr.csv", "text/csv", "id,price,sale_price\nB,5.00 USD,\nA,11.00 USD,\n", "")
	ids := []string{
		h.createImportSet(t, p.ID, "product_catalog_feed", "")["id"].(string),
		h.createImportSet(t, inv.ID, "inventory_feed", "")["id"].(string),
		h.createImportSet(t, pr.ID, "price_feed", "")["id"].(string),
	}
	for _, id := range ids {
		h.waitImportSet(t, id)
	}
	cat := h.emu.Catalog()
	if cat["A"]["inventory_quantity"] != "7" || cat["A"]["title"] != "Mug" || cat["A"]["price"] != "11.00 USD" {
		t.Fatalf("A: %v", cat["A"])
	}
	if _, has := cat["A"]["sale_price"]; has {
		t.Fatalf("an empty sale_price cell must clear it: %v", cat["A"])
	}
	if _, has := cat["Z"]; has {
		t.Fatal("inventory for an unknown id must not create a product")
	}
	inf := h.emu.ImportSets()[1]
	if inf.Status != "succeeded_with_errors" || inf.Errors != 1 || inf.Format != "inventory_feed" || inf.Kind != KindInventory {
		t.Fatalf("inventory import: %+v", inf)
	}

	// delete=true removes a product.
	d, _ := h.uploadCSV(t, "d.csv", "text/csv", "id,title,delete\nB,,true\n", "")
	h.waitImportSet(t, h.createImportSet(t, d.ID, "product_catalog_feed", "")["id"].(string))
	if _, has := h.emu.Catalog()["B"]; has {
		t.Fatal("B should be deleted")
	}
}

func TestV2ProductCatalogImport(t *testing.T) {
	h := newHarness(t, Options{RowChecker: priceChecker, ProcessingDelay: func(string, int) time.Duration { return 20 * time.Millisecond }})
	sink := newHookSink(t, "whsec_v2")
	h.emu.SetWebhook(sink.srv.URL, "whsec_v2")

	create := func(body string, key string) map[string]any {
		t.Helper()
		p := &stripe.RawParams{}
		if key != "" {
			p.IdempotencyKey = stripe.String(key)
		}
		resp, err := h.raw.RawRequest(http.MethodPost, "/v2/commerce/product_catalog/imports", body, p)
		if err != nil {
			t.Fatalf("create v2 import: %v", err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var m map[string]any
		if err := json.Unmarshal(resp.RawJSON, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	get := func(id string) map[string]any {
		resp, err := h.raw.RawRequest(http.MethodGet, "/v2/commerce/product_catalog/imports/"+id, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(resp.RawJSON, &m)
		return m
	}
	upload := func(m map[string]any, csvBody string) {
		t.Helper()
		url := m["status_details"].(map[string]any)["awaiting_upload"].(map[string]any)["upload_url"].(map[string]any)["url"].(string)
		req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(csvBody))
		req.Header.Set("Content-Type", "text/csv")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("upload: %d", res.StatusCode)
		}
	}
	wait := func(id string) map[string]any {
		var m map[string]any
		eventually(t, "v2 import", func() bool {
			m = get(id)
			return m["status"] != "awaiting_upload" && m["status"] != "processing"
		})
		return m
	}

	m := create(`{"feed_type":"product","mode":"upsert","metadata":{"run":"1"}}`, "v2-key-1")
	if !strings.HasPrefix(m["id"].(string), "pcimprt_") || m["object"] != "v2.commerce.product_catalog_import" ||
		m["status"] != "awaiting_upload" || m["livemode"] != false || m["metadata"].(map[string]any)["run"] != "1" {
		t.Fatalf("create: %v", m)
	}
	if again := create(`{"feed_type":"product","mode":"upsert","metadata":{"run":"1"}}`, "v2-key-1"); again["id"] != m["id"] {
		t.Fatal("v2 create is not idempotent")
	}
	if _, err := time.Parse(time.RFC3339, m["created"].(string)); err != nil {
		t.Fatalf("created: %v", err)
	}
	upload(m, productCSV)
	done := wait(m["id"].(string))
	if done["status"] != "succeeded_with_errors" {
		t.Fatalf("done: %v", done)
	}
	swe := done["status_details"].(map[string]any)["succeeded_with_errors"].(map[string]any)
	if swe["error_count"] != "1" || swe["success_count"] != "2" {
		t.Fatalf("details: %v", swe)
	}
	dl := swe["error_file"].(map[string]any)["download_url"].(map[string]any)["url"].(string)
	res, err := http.Get(dl)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	res.Body.Close()
	if !strings.HasPrefix(buf.String(), "stripe_error_message,id,") || !strings.Contains(buf.String(), "SKU-2") {
		t.Fatalf("error file: %q", buf.String())
	}
	sample := swe["samples"].([]any)[0].(map[string]any)
	if sample["id"] != "SKU-2" || sample["field"] != "price" || sample["row"] != "3" {
		t.Fatalf("sample: %v", sample)
	}

	// Thin events: processing, then the terminal status.
	ev, body, sig := sink.waitRaw("v2.commerce.product_catalog.imports.succeeded_with_errors", m["id"].(string))
	te, err := h.sc.ParseThinEvent(body, sig, "whsec_v2")
	if err != nil || te.RelatedObject == nil || te.RelatedObject.ID != m["id"] || te.Created.IsZero() {
		t.Fatalf("ParseThinEvent: %v %+v", err, te)
	}
	ro := ev["related_object"].(map[string]any)
	if ev["object"] != "v2.core.event" || ro["type"] != "v2.commerce.product_catalog_import" ||
		ro["url"] != "/v2/commerce/product_catalog/imports/"+m["id"].(string) {
		t.Fatalf("thin event: %v", ev)
	}
	sink.wait("v2.commerce.product_catalog.imports.processing", m["id"].(string))
	thin, err := h.sc.V2CoreEvents.Retrieve(t.Context(), ev["id"].(string), nil)
	if err != nil {
		t.Fatalf("retrieve thin event: %v", err)
	}
	if raw, ok := thin.(*stripe.V2RawEvent); !ok || raw.RelatedObject.URL != ro["url"] {
		t.Fatalf("retrieved thin event: %#v", thin)
	}

	// replace mode deletes what the file doesn't list.
	r := create(`{"feed_type":"product","mode":"replace"}`, "")
	upload(r, "id,title,price\nSKU-3,Cup,9.00 USD\n")
	if st := wait(r["id"].(string))["status"]; st != "succeeded" {
		t.Fatalf("replace: %v", st)
	}
	cat := h.emu.Catalog()
	if len(cat) != 1 || cat["SKU-3"]["price"] != "9.00 USD" {
		t.Fatalf("catalog after replace: %v", cat)
	}

	// Errors.
	for _, body := range []string{`{"feed_type":"inventory","mode":"replace"}`, `{"feed_type":"nope"}`, `{"mode":"upsert"}`, `{"feed_type":"product","extra":1}`} {
		_, err := h.raw.RawRequest(http.MethodPost, "/v2/commerce/product_catalog/imports", body, nil)
		if se := stripeErr(t, err); se.HTTPStatusCode != 400 {
			t.Fatalf("%s: %+v", body, se)
		}
	}
	// Uploading twice, or with a bad token, is refused.
	req, _ := http.NewRequest(http.MethodPut, strings.Replace(
		m["status_details"].(map[string]any)["awaiting_upload"].(map[string]any)["upload_url"].(map[string]any)["url"].(string),
		"token=", "token=x", 1), strings.NewReader("id\n"))
	req.Header.Set("Content-Type", "text/csv")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("bad token: %d", res.StatusCode)
	}
	if n := h.emu.CountRequests(http.MethodPost, "/v2/commerce/product_catalog/imports"); n != 7 {
		t.Fatalf("CountRequests = %d", n)
	}
}
