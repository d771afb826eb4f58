// Package sdk is what a backend plugin author programs against. A plugin is a
// value implementing Plugin plus any of the optional capability interfaces
// (CatalogReader, AvailabilityChecker, OrderPusher, ...); sdk.Serve runs it as
// an acs-connector plugin process. Nothing here exposes gRPC or protobuf
// types, so the wire protocol can evolve without breaking plugins.
//
// Methods follow the Method(ctx, *Request, *Response) shape: both structs can
// grow fields in later releases without breaking existing plugins.
package sdk

import (
	"context"
	"errors"
	"time"
)

// Info describes a plugin to the host and to `acs-connector plugins list`.
type Info struct {
	Name        string
	Version     string
	Description string
	// SampleConfig is a commented YAML example of the plugin's config block.
	SampleConfig string
}

// Plugin is the part every plugin implements. Embed UnimplementedPlugin to
// get defaults for everything but Info.
type Plugin interface {
	Info() Info
	// Configure receives the plugin's block from the host config. Report
	// problems with resp.AddError so the host can show all of them at once;
	// return an error only when configuration could not be attempted.
	Configure(ctx context.Context, req *ConfigureRequest, resp *ConfigureResponse) error
}

// Stopper is implemented by plugins that hold resources (connections, files)
// and want to release them before the host stops the process.
type Stopper interface {
	Stop(ctx context.Context) error
}

// CatalogReader streams the product catalog as feed records.
type CatalogReader interface {
	ReadCatalog(ctx context.Context, req *ReadRequest, w *RecordWriter) error
}

// InventoryReader streams inventory records (id, availability, inventory_quantity, ...).
type InventoryReader interface {
	ReadInventory(ctx context.Context, req *ReadRequest, w *RecordWriter) error
}

// PriceReader streams price records (id, price, sale_price, ...).
type PriceReader interface {
	ReadPrices(ctx context.Context, req *ReadRequest, w *RecordWriter) error
}

// AvailabilityChecker answers whether line items can be sold right now. It
// runs inside Stripe's 4-second approval window: answer fast.
type AvailabilityChecker interface {
	CheckAvailability(ctx context.Context, req *AvailabilityRequest, resp *AvailabilityResponse) error
}

// CheckoutCustomizer computes shipping options and tax rates for a checkout.
type CheckoutCustomizer interface {
	CustomizeCheckout(ctx context.Context, req *CustomizeRequest, resp *CustomizeResponse) error
}

// OrderPusher hands a paid order to the backend for fulfilment. The same
// IdempotencyKey may arrive more than once (after a crash, say); the plugin
// must then return the first answer and not create a second order.
type OrderPusher interface {
	PushOrder(ctx context.Context, req *PushOrderRequest, resp *PushOrderResponse) error
}

// OrderUpdateSource reports what happened to orders in the backend
// (shipped, cancelled), so the host can capture or refund.
type OrderUpdateSource interface {
	ReadOrderUpdates(ctx context.Context, req *OrderUpdatesRequest, resp *OrderUpdatesResponse) error
	// AckOrderUpdates tells the plugin the host has durably applied these
	// updates; they should not be returned again.
	AckOrderUpdates(ctx context.Context, ids []string) error
}

// CapabilityNarrower is implemented by plugins whose configuration decides
// what they can do (a SQL plugin without an inventory query, say). After
// Configure, the host asks again, and only capabilities both implemented and
// listed here are declared, so `config check` catches a job that needs a
// capability the configured plugin lacks.
type CapabilityNarrower interface {
	ConfiguredCapabilities() []string
}

// UnimplementedPlugin gives defaults: Configure accepts an empty block and
// rejects anything else, and Stop does nothing.
type UnimplementedPlugin struct{}

func (UnimplementedPlugin) Configure(_ context.Context, req *ConfigureRequest, resp *ConfigureResponse) error {
	var empty struct{}
	return req.Decode(&empty, resp)
}

func (UnimplementedPlugin) Stop(context.Context) error { return nil }

// ErrUnimplemented may be returned by any capability method to say the plugin
// cannot do it after all (for example because its configuration has no query
// for it); the host treats it like a missing capability.
var ErrUnimplemented = errors.New("not implemented by this plugin")

// Capability names, as the host and `plugins list` show them.
const (
	CapCatalog           = "catalog"
	CapInventory         = "inventory"
	CapPrices            = "prices"
	CapAvailability      = "availability"
	CapCustomizeCheckout = "customize_checkout"
	CapFulfillment       = "fulfillment"
	CapOrderUpdates      = "order_updates"
)

// Capabilities lists what p can do: the interfaces it implements, narrowed by
// ConfiguredCapabilities when it has that method.
func Capabilities(p Plugin) []string {
	caps := ImplementedCapabilities(p)
	n, ok := p.(CapabilityNarrower)
	if !ok {
		return caps
	}
	allowed := map[string]bool{}
	for _, c := range n.ConfiguredCapabilities() {
		allowed[c] = true
	}
	out := caps[:0]
	for _, c := range caps {
		if allowed[c] {
			out = append(out, c)
		}
	}
	return out
}

// ImplementedCapabilities lists the capability interfaces p implements,
// ignoring ConfiguredCapabilities.
func ImplementedCapabilities(p Plugin) []string {
	var caps []string
	if _, ok := p.(CatalogReader); ok {
		caps = append(caps, CapCatalog)
	}
	if _, ok := p.(InventoryReader); ok {
		caps = append(caps, CapInventory)
	}
	if _, ok := p.(PriceReader); ok {
		caps = append(caps, CapPrices)
	}
	if _, ok := p.(AvailabilityChecker); ok {
		caps = append(caps, CapAvailability)
	}
	if _, ok := p.(CheckoutCustomizer); ok {
		caps = append(caps, CapCustomizeCheckout)
	}
	if _, ok := p.(OrderPusher); ok {
		caps = append(caps, CapFulfillment)
	}
	if _, ok := p.(OrderUpdateSource); ok {
		caps = append(caps, CapOrderUpdates)
	}
	return caps
}

// ReadRequest asks for records.
type ReadRequest struct {
	// Cursor from an earlier read's last batch; empty asks for everything.
	Cursor string
	// BatchSize is the host's preferred number of records per batch.
	BatchSize int
}

// Record is one feed row: Fields maps Stripe feed column names ("id",
// "title", "price", ...) to values already in feed encoding ("15.00 USD").
// The helpers in this package (Money, Bool, ...) produce those encodings.
type Record struct {
	// Origin says where the record came from, such as "products.csv:12"; it
	// appears in error reports so a merchant can find the row.
	Origin string
	Fields map[string]string
}

// RecordError is a source row the plugin could not turn into a record.
type RecordError struct {
	Origin  string
	Field   string
	Message string
	// Partial holds whatever feed fields were mapped before the failure.
	Partial map[string]string
}

// ConfigureRequest carries the plugin's config block as JSON.
type ConfigureRequest struct {
	Config []byte
	// Source locates the block in the host config, e.g. "config.yaml:14".
	Source string
	// OneShot is true when the host runs a single command and stops the
	// plugin afterwards; skip warm-ups that only pay off in a daemon.
	OneShot bool
}

// ConfigureResponse collects field-level problems.
type ConfigureResponse struct {
	Errors []FieldError
}

// FieldError is one problem with one config field.
type FieldError struct {
	Field   string
	Message string
}

// AddError records a problem with a config field.
func (r *ConfigureResponse) AddError(field, format string, args ...any) {
	r.Errors = append(r.Errors, FieldError{Field: field, Message: sprintf(format, args...)})
}

// Address is a postal address.
type Address struct {
	Line1, Line2, City, State, PostalCode, Country string
}

// LineItem is one line of a checkout.
type LineItem struct {
	LineID   string
	SKU      string
	Quantity int64
	Name     string
	// UnitAmount is in minor units of the checkout currency.
	UnitAmount int64
}

// AvailabilityRequest asks whether items can be sold.
type AvailabilityRequest struct {
	RequestID       string
	Items           []LineItem
	ShippingAddress *Address
	Currency        string
}

// AvailabilityResponse answers per item. Items not mentioned count as
// unavailable.
type AvailabilityResponse struct {
	Items []ItemAvailability
}

// ItemAvailability is the answer for one SKU.
type ItemAvailability struct {
	SKU               string
	Available         bool
	QuantityAvailable int64
	// Reason is shown to shoppers when the item is unavailable.
	Reason string
}

// CustomizeRequest asks for shipping options and tax rates.
type CustomizeRequest struct {
	RequestID       string
	Items           []LineItem
	ShippingAddress *Address
	Currency        string
	// AutomaticTax is true when Stripe Tax computes tax; rates returned
	// then are ignored by the host.
	AutomaticTax bool
}

// CustomizeResponse carries shipping options and per-line tax rates.
type CustomizeResponse struct {
	ShippingOptions []ShippingOption
	LineTaxRates    []LineTaxRates
}

// ShippingOption is one way to ship the order.
type ShippingOption struct {
	// ID is the backend's own id for the method; it comes back on the
	// completed order as Order.ShippingOptionID.
	ID          string
	DisplayName string
	Amount      int64
	Currency    string
	Estimate    *DeliveryEstimate
	TaxCode     string
	// TaxBehavior is "unspecified", "inclusive" or "exclusive".
	TaxBehavior string
}

// DeliveryEstimate bounds delivery time. Units: business_day, day, hour, month, year.
type DeliveryEstimate struct {
	MinUnit  string
	MinValue int64
	MaxUnit  string
	MaxValue int64
}

// LineTaxRates are the tax rates for one checkout line.
type LineTaxRates struct {
	LineID string
	Rates  []TaxRate
}

// TaxRate is a percentage tax.
type TaxRate struct {
	DisplayName string
	Percentage  float64
	Inclusive   bool
}

// Card is what the host knows of the payment card: never more than last4.
type Card struct {
	Brand    string
	Last4    string
	ExpMonth int64
	ExpYear  int64
}

// LineTax is tax charged on one order line.
type LineTax struct {
	Amount     int64
	TaxType    string
	Percentage float64
}

// OrderLine is one line of a paid order.
type OrderLine struct {
	SKU         string
	Name        string
	Description string
	Quantity    int64
	UnitAmount  int64
	AmountTotal int64
	Taxes       []LineTax
	GTIN        string
	MPN         string
}

// Order is a paid agentic checkout, mapped from Stripe's checkout session.
type Order struct {
	CheckoutSessionID  string
	PaymentIntentID    string
	OrderNumber        string
	Created            time.Time
	Currency           string
	AmountTotal        int64
	AmountSubtotal     int64
	AmountTax          int64
	AmountShipping     int64
	AmountDiscount     int64
	Lines              []OrderLine
	ShippingName       string
	ShippingAddress    *Address
	BillingName        string
	BillingAddress     *Address
	Email              string
	Phone              string
	Card               *Card
	ShippingOptionID   string
	ShippingOptionName string
	// AgentDetailsJSON is Stripe's payment_intent.agent_details, raw.
	AgentDetailsJSON string
	Livemode         bool
}

// PushOrderRequest hands an order to the backend.
type PushOrderRequest struct {
	// IdempotencyKey is the checkout session id.
	IdempotencyKey string
	Order          Order
}

// PushStatus is the backend's verdict on an order.
type PushStatus int

const (
	// Accepted: the backend took the order.
	Accepted PushStatus = iota + 1
	// Rejected: the backend will not fulfil it; the host refunds or cancels
	// the payment and records Reason.
	Rejected
)

// PushOrderResponse is the backend's answer.
type PushOrderResponse struct {
	Status           PushStatus
	BackendReference string
	Reason           string
}

// UpdateKind is what happened to an order in the backend.
type UpdateKind int

const (
	Shipped UpdateKind = iota + 1
	Cancelled
	PartiallyCancelled
)

func (k UpdateKind) String() string {
	switch k {
	case Shipped:
		return "shipped"
	case Cancelled:
		return "cancelled"
	case PartiallyCancelled:
		return "partially_cancelled"
	}
	return "unknown"
}

// OrderUpdate is one event from the backend about one order.
type OrderUpdate struct {
	// ID is unique per update; the host applies each id once.
	ID        string
	SessionID string
	Kind      UpdateKind
	// Lines lists cancelled SKUs and quantities for partial cancellations.
	Lines []LineItem
	// RefundAmount overrides the computed refund, in minor units.
	RefundAmount   int64
	Reason         string
	TrackingNumber string
	Carrier        string
	OccurredAt     time.Time
	Origin         string
}

// OrderUpdatesRequest asks for pending updates.
type OrderUpdatesRequest struct {
	Limit int
}

// OrderUpdatesResponse returns updates and the ones that could not be read.
type OrderUpdatesResponse struct {
	Updates []OrderUpdate
	Errors  []RecordError
}
