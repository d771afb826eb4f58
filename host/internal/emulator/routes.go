package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
)

func (e *Emulator) routes() *http.ServeMux {
	m := http.NewServeMux()
	// Files (files.stripe.com in production; one origin here).
	m.HandleFunc("POST /v1/files", e.createFile)
	m.HandleFunc("GET /v1/files", e.listFiles)
	m.HandleFunc("GET /v1/files/{id}", e.getFile)
	m.HandleFunc("GET /v1/files/{id}/contents", e.getFileContents)
	// Legacy ImportSets (preview Stripe-Version required).
	m.HandleFunc("POST /v1/data_management/import_sets", e.createImportSet)
	m.HandleFunc("GET /v1/data_management/import_sets/{id}", e.getImportSet)
	// v2 Product Catalog Import.
	m.HandleFunc("POST /v2/commerce/product_catalog/imports", e.createV2Import)
	m.HandleFunc("GET /v2/commerce/product_catalog/imports", e.listV2Imports)
	m.HandleFunc("GET /v2/commerce/product_catalog/imports/{id}", e.getV2Import)
	m.HandleFunc("GET /v2/core/events/{id}", e.getThinEvent)
	// Checkout and payments.
	m.HandleFunc("GET /v1/checkout/sessions", e.listSessions)
	m.HandleFunc("GET /v1/checkout/sessions/{id}", e.getSession)
	m.HandleFunc("GET /v1/checkout/sessions/{id}/line_items", e.listSessionLineItems)
	m.HandleFunc("GET /v1/payment_intents/{id}", e.getObject("payment_intent", "payment_intent"))
	m.HandleFunc("POST /v1/payment_intents/{id}/capture", e.capturePaymentIntent)
	m.HandleFunc("POST /v1/payment_intents/{id}/cancel", e.cancelPaymentIntent)
	m.HandleFunc("GET /v1/charges/{id}", e.getObject("charge", "charge"))
	m.HandleFunc("GET /v1/payment_methods/{id}", e.getObject("payment_method", "PaymentMethod"))
	m.HandleFunc("GET /v1/products/{id}", e.getObject("product", "product"))
	m.HandleFunc("GET /v1/prices/{id}", e.getObject("price", "price"))
	m.HandleFunc("GET /v1/shipping_rates/{id}", e.getObject("shipping_rate", "shipping rate"))
	m.HandleFunc("GET /v1/tax_rates/{id}", e.getObject("tax_rate", "tax rate"))
	m.HandleFunc("POST /v1/refunds", e.createRefund)
	m.HandleFunc("GET /v1/refunds", e.listRefunds)
	m.HandleFunc("GET /v1/refunds/{id}", e.getObject("refund", "refund"))
	// Events.
	m.HandleFunc("GET /v1/events", e.listEvents)
	m.HandleFunc("GET /v1/events/{id}", e.getEvent)
	return m
}

// serveInternal serves /_emulator/...: the presigned-style upload and
// download URLs of the v2 import API (authorised by their token, like
// presigned URLs) and two helpers for local use (authorised by the API key):
//
//	GET  /_emulator/catalog   the catalog state (Catalog) as JSON
//	POST /_emulator/checkout  complete a checkout from a JSON CheckoutInput
func (e *Emulator) serveInternal(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/_emulator/")
	switch {
	case strings.HasPrefix(rest, "uploads/"):
		e.uploadV2(w, r, strings.TrimPrefix(rest, "uploads/"))
		return
	case strings.HasPrefix(rest, "downloads/"):
		e.serveDownload(w, r, strings.TrimPrefix(rest, "downloads/"))
		return
	}
	if a := e.authenticate(r); a != nil {
		writeErr(w, a)
		return
	}
	switch {
	case rest == "catalog" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, e.Catalog())
	case rest == "checkout" && r.Method == http.MethodPost:
		var in CheckoutInput
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			writeErr(w, badParam("", "Invalid CheckoutInput JSON: %v", err))
			return
		}
		id, err := e.CompleteCheckout(in)
		if err != nil {
			writeErr(w, badParam("", "%v", err))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id})
	default:
		writeErr(w, unrecognizedURL(r))
	}
}
