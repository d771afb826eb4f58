package orders

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/hooks"
	"github.com/acs-connector/acs-connector/host/internal/store"
	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

// ValidSessionID reports whether id looks like a Checkout Session id:
// "cs_" then letters, digits and underscores, at most 255 bytes.
func ValidSessionID(id string) bool {
	if len(id) < 4 || len(id) > 255 || !strings.HasPrefix(id, "cs_") {
		return false
	}
	for i := 3; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

type pageLine struct {
	Name, Description, SKU string
	Quantity               int64
	Unit, Total            string
}

type pageData struct {
	Title       string
	Status      int
	Message     string
	SessionID   string
	State       string // machine-readable ledger state (data-order-state)
	StateText   string
	Reason      string
	OrderNumber string
	Date        string
	Lines       []pageLine
	Subtotal    string
	Discount    string
	Shipping    string
	ShipMethod  string
	Tax         string
	Total       string
	ShipName    string
	ShipAddress []string
	Payment     string
	Refund      string
	Card        string
}

var pageTmpl = template.Must(template.New("order").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#111}
table{border-collapse:collapse;width:100%;margin:1rem 0}
caption{text-align:left;font-weight:600;padding-bottom:.5rem}
th,td{border-bottom:1px solid #ccc;padding:.4rem;text-align:left;vertical-align:top}
td.num,th.num{text-align:right}
.status{font-size:1.15rem;font-weight:600}
</style>
</head>
<body>
<main>
{{- if .Message}}
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{- else}}
<h1>Your order</h1>
<p class="status" id="order-status" data-order-state="{{.State}}" role="status">{{.StateText}}</p>
{{- if .Reason}}<p>Reason: {{.Reason}}</p>{{end}}
<dl>
<dt>Order reference</dt><dd>{{if .OrderNumber}}{{.OrderNumber}}{{else}}{{.SessionID}}{{end}}</dd>
{{- if .Date}}<dt>Date</dt><dd>{{.Date}}</dd>{{end}}
</dl>
<h2>Items</h2>
{{- if .Lines}}
<table>
<caption>Items in this order</caption>
<thead><tr><th scope="col">Item</th><th scope="col" class="num">Quantity</th><th scope="col" class="num">Unit price</th><th scope="col" class="num">Amount</th></tr></thead>
<tbody>
{{- range .Lines}}
<tr><th scope="row">{{.Name}}{{if .Description}}<br><small>{{.Description}}</small>{{end}}{{if .SKU}}<br><small>Item number: {{.SKU}}</small>{{end}}</th><td class="num">{{.Quantity}}</td><td class="num">{{.Unit}}</td><td class="num">{{.Total}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p>The items appear here once the store has processed the order.</p>
{{- end}}
<h2>Totals</h2>
<table>
<caption>Order totals</caption>
<tbody>
{{- if .Subtotal}}<tr><th scope="row">Subtotal</th><td class="num">{{.Subtotal}}</td></tr>{{end}}
{{- if .Discount}}<tr><th scope="row">Discount</th><td class="num">-{{.Discount}}</td></tr>{{end}}
{{- if .Shipping}}<tr><th scope="row">Shipping{{if .ShipMethod}} ({{.ShipMethod}}){{end}}</th><td class="num">{{.Shipping}}</td></tr>{{end}}
{{- if .Tax}}<tr><th scope="row">Tax</th><td class="num">{{.Tax}}</td></tr>{{end}}
<tr><th scope="row">Total</th><td class="num"><strong>{{.Total}}</strong></td></tr>
</tbody>
</table>
<h2>Shipping address</h2>
{{- if .ShipAddress}}
<address>{{if .ShipName}}{{.ShipName}}<br>{{end}}{{range $i, $l := .ShipAddress}}{{if $i}}<br>{{end}}{{$l}}{{end}}</address>
{{- else}}
<p>No shipping address on this order.</p>
{{- end}}
<h2>Payment</h2>
<ul>
<li>{{.Payment}}</li>
{{- if .Refund}}<li>{{.Refund}}</li>{{end}}
{{- if .Card}}<li>Paid with {{.Card}}</li>{{end}}
</ul>
{{- end}}
</main>
</body>
</html>
`))

// OrderPage serves GET /orders/{CHECKOUT_SESSION_ID}: the custom order page
// Stripe links shoppers to. Plain HTML (html/template escapes everything),
// no scripts; a 404 page for unknown or malformed ids. Mount it at
// "/orders/".
func (s *Service) OrderPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			s.renderPage(w, r, pageData{Title: "Method not allowed", Status: http.StatusMethodNotAllowed, Message: "Use GET to view an order."})
			return
		}
		id := r.PathValue("id")
		if id == "" {
			id = strings.TrimPrefix(r.URL.Path, "/orders/")
		}
		notFound := pageData{Title: "Order not found", Status: http.StatusNotFound,
			Message: "We couldn't find this order. If you just paid, wait a moment and reload this page."}
		if !ValidSessionID(id) {
			s.renderPage(w, r, notFound)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		o, err := s.st.GetOrder(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			s.renderPage(w, r, notFound)
			return
		}
		if err != nil {
			s.log.Error("order page: store", "session", id, "err", err)
			s.renderPage(w, r, pageData{Title: "Temporarily unavailable", Status: http.StatusServiceUnavailable,
				Message: "We can't show this order right now. Please try again in a minute."})
			return
		}
		d, err := s.details(ctx, o)
		if err != nil {
			s.log.Warn("order page: order details", "session", id, "err", err)
		}
		s.renderPage(w, r, s.pageFor(o, d))
	})
}

func (s *Service) renderPage(w http.ResponseWriter, r *http.Request, d pageData) {
	if d.Status == 0 {
		d.Status = http.StatusOK
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, d); err != nil {
		s.log.Error("order page: template", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(d.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// pageFor builds the page from the ledger row and, once mapped, the order.
func (s *Service) pageFor(o *store.Order, d *pb.Order) pageData {
	p := pageData{Title: "Your order", SessionID: o.SessionID, State: o.State}
	cur := o.Currency
	money := func(v int64) string { return hooks.FormatAmount(v, cur) }
	switch o.State {
	case store.OrderAccepted:
		p.StateText = "Confirmed: the store has your order."
	case store.OrderRejected:
		p.StateText = "Cancelled: the store could not accept this order."
		p.Reason = o.Reason
	case store.OrderFailed:
		if o.Attempts >= store.MaxOrderAttempts {
			p.StateText = "Delayed: we are looking into this order. You don't need to do anything."
		} else {
			p.StateText = "Processing: the store is receiving your order."
		}
	default:
		p.StateText = "Processing: the store is receiving your order."
	}

	if d != nil {
		cur = d.GetCurrency()
		p.OrderNumber = d.GetOrderNumber()
		if d.GetCreated() > 0 {
			p.Date = time.Unix(d.GetCreated(), 0).UTC().Format("2 January 2006, 15:04 UTC")
		}
		for _, l := range d.GetLines() {
			name := l.GetName()
			if name == "" {
				name = l.GetSku()
			}
			p.Lines = append(p.Lines, pageLine{Name: name, Description: l.GetDescription(), SKU: l.GetSku(),
				Quantity: l.GetQuantity(), Unit: money(l.GetUnitAmount()), Total: money(l.GetUnitAmount() * l.GetQuantity())})
		}
		p.Subtotal = money(d.GetAmountSubtotal())
		if d.GetAmountDiscount() > 0 {
			p.Discount = money(d.GetAmountDiscount())
		}
		p.Shipping = money(d.GetAmountShipping())
		p.ShipMethod = d.GetShippingOptionName()
		p.Tax = money(d.GetAmountTax())
		p.Total = money(d.GetAmountTotal())
		p.ShipName = d.GetShippingName()
		p.ShipAddress = addressLines(d.GetShippingAddress())
		if c := d.GetCard(); c != nil && c.GetLast4() != "" {
			p.Card = strings.TrimSpace(brandName(c.GetBrand()) + " card ending in " + c.GetLast4())
		}
	} else {
		// Not mapped yet: what the webhook's snapshot says.
		p.Total = money(o.AmountTotal)
		var snap sessionJSON
		if json.Unmarshal(o.OrderJSON, &snap) == nil {
			if sd := snap.CollectedInformation.ShippingDetails; sd != nil {
				p.ShipName = sd.Name
				p.ShipAddress = addressLines(sd.Address.proto())
			}
			if snap.AmountSubtotal > 0 {
				p.Subtotal = money(snap.AmountSubtotal)
			}
		}
	}

	switch o.Capture {
	case store.CaptureCaptured:
		p.Payment = "Paid: " + money(o.AmountTotal) + "."
	case store.CapturePending, store.CaptureFailed:
		when := "confirms"
		if s.opt.CaptureOn == CaptureOnShipped {
			when = "ships"
		}
		p.Payment = "Authorized: " + money(o.AmountTotal) + " will be charged when the store " + when + " your order."
	case store.CaptureNotRequired:
		p.Payment = "Not charged: the payment authorization was released."
	default:
		p.Payment = "Payment: " + money(o.AmountTotal) + "."
	}
	switch {
	case o.AmountRefunded > 0 && o.AmountRefunded >= o.AmountTotal:
		p.Refund = "Refunded in full: " + money(o.AmountRefunded) + "."
	case o.AmountRefunded > 0:
		p.Refund = "Refunded: " + money(o.AmountRefunded) + " of " + money(o.AmountTotal) + "."
	case o.Refund == store.RefundPending || o.Refund == store.RefundFailed:
		p.Refund = "A refund is being processed."
	}
	return p
}

func addressLines(a *pb.Address) []string {
	if a == nil {
		return nil
	}
	var out []string
	for _, l := range []string{a.GetLine1(), a.GetLine2()} {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	city := strings.TrimSpace(strings.Join(nonEmpty(a.GetPostalCode(), a.GetCity()), " "))
	if st := a.GetState(); st != "" {
		city = strings.TrimSpace(strings.Join(nonEmpty(a.GetCity(), st, a.GetPostalCode()), " "))
	}
	if city != "" {
		out = append(out, city)
	}
	if c := a.GetCountry(); c != "" {
		out = append(out, c)
	}
	return out
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

func brandName(b string) string {
	switch b {
	case "amex":
		return "American Express"
	case "mastercard", "master_card":
		return "Mastercard"
	case "visa":
		return "Visa"
	case "":
		return ""
	}
	return strings.ToUpper(b[:1]) + b[1:]
}
