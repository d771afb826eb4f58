package stripeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"unicode/utf8"

	stripe "github.com/stripe/stripe-go/v82"
)

// SessionExpand is what RetrieveSession expands: everything the seller
// guide's "Checkout session field reference" needs in one call, plus the
// chosen shipping rate (its metadata carries our shipping option id).
var SessionExpand = []string{
	"line_items.data.price.product",
	"line_items.data.taxes",
	"payment_intent.latest_charge",
	"shipping_cost.shipping_rate",
}

// lineItemExpand is SessionExpand relative to one line-items page.
var lineItemExpand = []string{"data.price.product", "data.taxes"}

// RetrieveSession fetches a Checkout Session with SessionExpand applied,
// under the preview Stripe-Version (Config.CheckoutVersion), and returns
// Stripe's JSON as received: stripe-go's typed structs lack preview fields
// such as price.external_reference. When the embedded line_items list has
// more pages, the rest are fetched from /v1/checkout/sessions/{id}/line_items
// (same preview version, same expansions) and appended, so the returned
// session carries every line item and line_items.has_more is false.
func (c *Client) RetrieveSession(ctx context.Context, id string) (json.RawMessage, error) {
	if id == "" {
		return nil, errors.New("retrieve checkout session: empty id")
	}
	params := &stripe.CheckoutSessionRetrieveParams{}
	params.Context = ctx
	for _, e := range SessionExpand {
		params.AddExpand(e)
	}
	params.Headers = http.Header{"Stripe-Version": []string{c.cfg.CheckoutVersion}}
	sess, err := c.SC.V1CheckoutSessions.Retrieve(ctx, id, params)
	if err != nil {
		return nil, fmt.Errorf("retrieve checkout session %s: %w", id, err)
	}
	if sess.LastResponse == nil || len(sess.LastResponse.RawJSON) == 0 {
		return nil, fmt.Errorf("retrieve checkout session %s: empty response", id)
	}
	raw := sess.LastResponse.RawJSON

	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("retrieve checkout session %s: decode: %w", id, err)
	}
	var items lineItemList
	if li, ok := top["line_items"]; ok && string(li) != "null" {
		if err := json.Unmarshal(li, &items); err != nil {
			return nil, fmt.Errorf("retrieve checkout session %s: decode line_items: %w", id, err)
		}
	}
	if !items.HasMore {
		return json.RawMessage(raw), nil
	}
	for pages := 0; items.HasMore; pages++ {
		if pages > 1000 {
			return nil, fmt.Errorf("retrieve checkout session %s: line items do not end after 1000 pages", id)
		}
		last, err := lastID(items.Data)
		if err != nil {
			return nil, fmt.Errorf("retrieve checkout session %s: %w", id, err)
		}
		page, err := c.lineItemsPage(ctx, id, last)
		if err != nil {
			return nil, err
		}
		items.Data = append(items.Data, page.Data...)
		items.HasMore = page.HasMore && len(page.Data) > 0
	}
	items.Object = "list"
	b, err := json.Marshal(items)
	if err != nil {
		return nil, fmt.Errorf("retrieve checkout session %s: %w", id, err)
	}
	top["line_items"] = b
	out, err := json.Marshal(top)
	if err != nil {
		return nil, fmt.Errorf("retrieve checkout session %s: %w", id, err)
	}
	return out, nil
}

type lineItemList struct {
	Object  string            `json:"object"`
	Data    []json.RawMessage `json:"data"`
	HasMore bool              `json:"has_more"`
	URL     string            `json:"url,omitempty"`
}

func lastID(data []json.RawMessage) (string, error) {
	if len(data) == 0 {
		return "", errors.New("line_items.has_more is true on an empty page")
	}
	var it struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data[len(data)-1], &it); err != nil || it.ID == "" {
		return "", errors.New("line item without an id: cannot page on")
	}
	return it.ID, nil
}

// lineItemsPage fetches one page of a session's line items after
// startingAfter. It goes through stripe-go's rawrequest client because the
// typed ListLineItems cannot carry a Stripe-Version header (ListParams has
// no Headers), and without the preview version Stripe leaves out
// price.external_reference, the SKU.
func (c *Client) lineItemsPage(ctx context.Context, id, startingAfter string) (*lineItemList, error) {
	q := url.Values{}
	q.Set("limit", "100")
	q.Set("starting_after", startingAfter)
	for _, e := range lineItemExpand {
		q.Add("expand[]", e)
	}
	params := &stripe.RawParams{}
	params.Context = ctx
	params.Headers = http.Header{"Stripe-Version": []string{c.cfg.CheckoutVersion}}
	path := "/v1/checkout/sessions/" + url.PathEscape(id) + "/line_items?" + q.Encode()
	resp, err := c.rawAPI().RawRequest(http.MethodGet, path, "", params)
	if err != nil {
		return nil, fmt.Errorf("list line items of checkout session %s after %s: %w", id, startingAfter, err)
	}
	var page lineItemList
	if err := json.Unmarshal(resp.RawJSON, &page); err != nil {
		return nil, fmt.Errorf("list line items of checkout session %s: decode: %w", id, err)
	}
	return &page, nil
}

// ListCompleteSessions calls fn for every complete Checkout Session created
// after createdAfter (unix seconds), paging with starting_after, 100 per
// page. Stripe lists newest first, so fn sees descending creation times
// (ties in any order). An error from fn stops the listing and is returned as
// is.
func (c *Client) ListCompleteSessions(ctx context.Context, createdAfter int64, fn func(id string, created int64) error) error {
	params := &stripe.CheckoutSessionListParams{
		CreatedRange: &stripe.RangeQueryParams{GreaterThan: createdAfter},
		Status:       stripe.String(string(stripe.CheckoutSessionStatusComplete)),
	}
	params.Limit = stripe.Int64(100)
	for s, err := range c.SC.V1CheckoutSessions.List(ctx, params) {
		if err != nil {
			return fmt.Errorf("list complete checkout sessions created after %d: %w", createdAfter, err)
		}
		if err := fn(s.ID, s.Created); err != nil {
			return err
		}
	}
	return nil
}

// CapturePaymentIntent captures pi: amount > 0 captures that much, 0 the
// whole capturable amount. idemKey is required (derive it from the order,
// e.g. "capture:<session id>"), so that a retry after a crash cannot capture
// twice. A PaymentIntent that is already captured (status succeeded) counts
// as success.
func (c *Client) CapturePaymentIntent(ctx context.Context, pi string, amount int64, idemKey string) error {
	if pi == "" || idemKey == "" {
		return fmt.Errorf("capture payment intent %q: payment intent and idempotency key are required", pi)
	}
	params := &stripe.PaymentIntentCaptureParams{}
	params.Context = ctx
	params.IdempotencyKey = stripe.String(idemKey)
	if amount > 0 {
		params.AmountToCapture = stripe.Int64(amount)
	}
	_, err := c.SC.V1PaymentIntents.Capture(ctx, pi, params)
	if err == nil {
		return nil
	}
	if stripeCode(err) == stripe.ErrorCodePaymentIntentUnexpectedState {
		if st, _, _, serr := c.PaymentIntentStatus(ctx, pi); serr == nil && st == string(stripe.PaymentIntentStatusSucceeded) {
			return nil
		}
	}
	return fmt.Errorf("capture payment intent %s: %w", pi, err)
}

// CancelPaymentIntent cancels an uncaptured PaymentIntent (releasing the
// authorization). reason must be one of Stripe's cancellation reasons
// (duplicate, fraudulent, requested_by_customer, abandoned) or empty. An
// already canceled PaymentIntent counts as success.
func (c *Client) CancelPaymentIntent(ctx context.Context, pi, reason, idemKey string) error {
	if pi == "" || idemKey == "" {
		return fmt.Errorf("cancel payment intent %q: payment intent and idempotency key are required", pi)
	}
	params := &stripe.PaymentIntentCancelParams{}
	params.Context = ctx
	params.IdempotencyKey = stripe.String(idemKey)
	if reason != "" {
		params.CancellationReason = stripe.String(reason)
	}
	_, err := c.SC.V1PaymentIntents.Cancel(ctx, pi, params)
	if err == nil {
		return nil
	}
	if stripeCode(err) == stripe.ErrorCodePaymentIntentUnexpectedState {
		if st, _, _, serr := c.PaymentIntentStatus(ctx, pi); serr == nil && st == string(stripe.PaymentIntentStatusCanceled) {
			return nil
		}
	}
	return fmt.Errorf("cancel payment intent %s: %w", pi, err)
}

// RefundReasons are the values Stripe accepts as a refund's reason; other
// reasons belong in metadata.
var RefundReasons = map[string]bool{"duplicate": true, "fraudulent": true, "requested_by_customer": true}

// RefundKeyMetadata is the refund metadata key CreateRefund stores the
// idempotency key under, so FindRefund can recognise a refund after
// Stripe's idempotency keys have expired (24 hours).
const RefundKeyMetadata = "acs_idempotency_key"

// CreateRefund refunds amount (> 0; 0 refunds whatever is left) of pi.
// reason must be empty or one of RefundReasons. idemKey is required and
// must be derived deterministically from what is being refunded (e.g.
// "refund:update:<update id>"): Stripe then answers a retry with the first
// refund instead of refunding twice. The key is also stored in the
// refund's metadata (RefundKeyMetadata) for FindRefund.
func (c *Client) CreateRefund(ctx context.Context, pi string, amount int64, reason string, idemKey string, metadata map[string]string) (string, error) {
	if pi == "" || idemKey == "" {
		return "", fmt.Errorf("refund payment intent %q: payment intent and idempotency key are required", pi)
	}
	if amount < 0 {
		return "", fmt.Errorf("refund payment intent %s: negative amount %d", pi, amount)
	}
	if reason != "" && !RefundReasons[reason] {
		return "", fmt.Errorf("refund payment intent %s: reason %q is not one of duplicate, fraudulent, requested_by_customer (put free text in metadata)", pi, reason)
	}
	params := &stripe.RefundCreateParams{PaymentIntent: stripe.String(pi)}
	params.Context = ctx
	params.IdempotencyKey = stripe.String(idemKey)
	if amount > 0 {
		params.Amount = stripe.Int64(amount)
	}
	if reason != "" {
		params.Reason = stripe.String(reason)
	}
	for k, v := range metadata {
		params.AddMetadata(k, truncate(v, 500))
	}
	params.AddMetadata(RefundKeyMetadata, truncate(idemKey, 500))
	r, err := c.SC.V1Refunds.Create(ctx, params)
	if err != nil {
		return "", fmt.Errorf("refund payment intent %s: %w", pi, err)
	}
	return r.ID, nil
}

// FindRefund looks among pi's refunds for one CreateRefund made with
// idemKey (by its metadata). Callers check it before refunding again after
// a crash whose retry may come later than Stripe keeps idempotency keys.
func (c *Client) FindRefund(ctx context.Context, pi, idemKey string) (refundID string, found bool, err error) {
	params := &stripe.RefundListParams{PaymentIntent: stripe.String(pi)}
	params.Context = ctx
	params.Limit = stripe.Int64(100)
	for r, err := range c.SC.V1Refunds.List(ctx, params) {
		if err != nil {
			return "", false, fmt.Errorf("list refunds of %s: %w", pi, err)
		}
		if r.Metadata[RefundKeyMetadata] == truncate(idemKey, 500) {
			return r.ID, true, nil
		}
	}
	return "", false, nil
}

// PaymentIntentStatus returns a PaymentIntent's status and the captured and
// refunded amounts of its latest charge: the source of truth the order
// ledger copies after capturing or refunding.
func (c *Client) PaymentIntentStatus(ctx context.Context, pi string) (status string, captured, refunded int64, err error) {
	params := &stripe.PaymentIntentRetrieveParams{}
	params.Context = ctx
	params.AddExpand("latest_charge")
	p, err := c.SC.V1PaymentIntents.Retrieve(ctx, pi, params)
	if err != nil {
		return "", 0, 0, fmt.Errorf("retrieve payment intent %s: %w", pi, err)
	}
	if ch := p.LatestCharge; ch != nil {
		captured, refunded = ch.AmountCaptured, ch.AmountRefunded
	}
	return string(p.Status), captured, refunded, nil
}

// StripeErrorCode returns the Stripe error code carried by err ("" if none).
func StripeErrorCode(err error) string { return string(stripeCode(err)) }

func stripeCode(err error) stripe.ErrorCode {
	var se *stripe.Error
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

// IsPermanent reports whether err is a Stripe answer that a retry with the
// same parameters cannot change (a 4xx other than 409 and 429).
func IsPermanent(err error) bool {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return false
	}
	s := se.HTTPStatusCode
	return s >= 400 && s < 500 && s != http.StatusConflict && s != http.StatusTooManyRequests
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
