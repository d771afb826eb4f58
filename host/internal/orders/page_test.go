package orders

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/store"
)

func getPage(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

func TestOrderPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	in := mugOrder(2)
	in.Lines[0].Name = `Mug <script>alert("x")</script> & "friends"`
	in.Lines[0].Description = `<img src=x onerror=alert(1)>`
	in.Lines = append(in.Lines, emulator.CheckoutLine{SKU: "TEE-L", Name: "Organic tee", Quantity: 1, UnitAmount: 2500})
	in.ShippingName = "Jenny <b>Rosen</b>"
	in.TaxPercent = 10
	in.ShippingAmount = 500
	in.ShippingDisplayName = "Standard shipping"
	id := e.checkout(in)
	e.waitOrder(id, store.OrderAccepted)

	code, body, h := getPage(t, e.host.URL+"/orders/"+id)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", code, h.Get("Content-Type"))
	}
	for _, want := range []string{
		`<html lang="en">`, "<h1>Your order</h1>", "<caption>Items in this order</caption>",
		`data-order-state="accepted"`, "Confirmed",
		`Mug &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;friends&#34;`, "&lt;img src=x onerror=alert(1)&gt;",
		"Organic tee", "MUG-BLUE", "24.00 USD", "12.00 USD", // line total and unit price
		"Subtotal", "49.00 USD", "Shipping (Standard shipping)", "5.00 USD", "Tax", "4.90 USD", "Total", "58.90 USD",
		"Jenny &lt;b&gt;Rosen&lt;/b&gt;", "1 Main St", "Springfield IL 62701", "US",
		"Paid: 58.90 USD", "Visa card ending in 4242",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "<img", "<b>"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	if strings.Contains(body, "4242424242424242") {
		t.Error("full card number on the page")
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}

	// Unknown and malformed ids: 404 page, never a store lookup with junk.
	for _, path := range []string{"/orders/cs_test_doesnotexist", "/orders/cs_test_%3Cscript%3E", "/orders/pi_123", "/orders/", "/orders/cs_a/b"} {
		code, body, _ := getPage(t, e.host.URL+path)
		if code != 404 || !strings.Contains(body, "Order not found") || !strings.Contains(body, `lang="en"`) || strings.Contains(body, "<script") {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	res, err := http.Post(e.host.URL+"/orders/"+id, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", res.StatusCode)
	}
}

func TestOrderPageBeforeFulfilmentAndAfterRefund(t *testing.T) {
	e := newEnv(t, envOptions{NoStart: true, RefundRejected: true})
	in := mugOrder(1)
	in.Lines[0].SKU = "GONE-1"
	id := e.checkout(in)
	e.waitFor("recorded", func() bool { _, err := e.st.GetOrder(t.Context(), id); return err == nil })
	_, body, _ := getPage(t, e.host.URL+"/orders/"+id)
	for _, want := range []string{`data-order-state="received"`, "Processing", "once the store has processed", "12.00 USD", "1 Main St"} {
		if !strings.Contains(body, want) {
			t.Errorf("before fulfilment, page lacks %q", want)
		}
	}
	if err := e.svc.Fulfil(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	_, body, _ = getPage(t, e.host.URL+"/orders/"+id)
	for _, want := range []string{`data-order-state="rejected"`, "Cancelled", "no longer sold", "Refunded in full: 12.00 USD"} {
		if !strings.Contains(body, want) {
			t.Errorf("after rejection, page lacks %q", want)
		}
	}
}

func TestValidSessionID(t *testing.T) {
	for id, ok := range map[string]bool{
		"cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY": true,
		"cs_live_abc": true, "cs_": false, "cs_a-b": false, "cs_a/../b": false, "pi_123": false, "": false,
		"cs_" + strings.Repeat("a", 253): false,
	} {
		if ValidSessionID(id) != ok {
			t.Errorf("ValidSessionID(%q) = %v", id, !ok)
		}
	}
}
