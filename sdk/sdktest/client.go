// Package sdktest runs a plugin inside the test process, over the real gRPC
// protocol (go-plugin's in-process reattach), and provides the acceptance
// suite every acs-connector plugin runs against itself.
package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
	"github.com/acs-connector/acs-connector/proto/protocol"
	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/internal/bridge"
)

// Client talks to a plugin served in-process, with SDK types.
type Client struct {
	pb.ConnectorClient
}

// Start serves p in-process and connects to it; both stop at test cleanup.
func Start(t testing.TB, p sdk.Plugin) *Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	go protocol.Serve(protocol.ServeConfig{
		Impl:      bridge.NewServer(p),
		LogOutput: io.Discard,
		Test:      &protocol.TestConfig{Context: ctx, Reattach: reattach, Closed: closed},
	})
	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("sdktest: plugin server did not start within 10s")
	}
	c, err := protocol.Start(protocol.ClientConfig{Reattach: rc})
	if err != nil {
		cancel()
		t.Fatalf("sdktest: connect to in-process plugin: %v", err)
	}
	t.Cleanup(func() {
		c.Kill()
		cancel()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Error("sdktest: plugin server did not stop within 5s")
		}
	})
	return &Client{ConnectorClient: c.Conn().ConnectorClient}
}

// IsUnimplemented reports whether err means the plugin lacks a capability.
func IsUnimplemented(err error) bool { return status.Code(err) == codes.Unimplemented }

// Info is what Describe returned.
type Info struct {
	sdk.Info
	Capabilities []string
}

// Describe asks the plugin for its name, version and capabilities.
func (c *Client) Describe(ctx context.Context) (Info, error) {
	r, err := c.ConnectorClient.Describe(ctx, &pb.DescribeRequest{HostVersion: "sdktest"})
	if err != nil {
		return Info{}, err
	}
	info := Info{Info: sdk.Info{Name: r.GetName(), Version: r.GetVersion(), Description: r.GetDescription(), SampleConfig: r.GetSampleConfig()}}
	for _, c := range r.GetCapabilities() {
		info.Capabilities = append(info.Capabilities, capName(c))
	}
	return info, nil
}

func capName(c pb.Capability) string {
	switch c {
	case pb.Capability_CAPABILITY_CATALOG:
		return sdk.CapCatalog
	case pb.Capability_CAPABILITY_INVENTORY:
		return sdk.CapInventory
	case pb.Capability_CAPABILITY_PRICES:
		return sdk.CapPrices
	case pb.Capability_CAPABILITY_AVAILABILITY:
		return sdk.CapAvailability
	case pb.Capability_CAPABILITY_CUSTOMIZE_CHECKOUT:
		return sdk.CapCustomizeCheckout
	case pb.Capability_CAPABILITY_FULFILLMENT:
		return sdk.CapFulfillment
	case pb.Capability_CAPABILITY_ORDER_UPDATES:
		return sdk.CapOrderUpdates
	}
	return c.String()
}

// Configure sends a config block; cfg is []byte JSON or any JSON-marshallable value.
func (c *Client) Configure(ctx context.Context, cfg any) ([]sdk.FieldError, error) {
	raw, ok := cfg.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(cfg); err != nil {
			return nil, err
		}
	}
	r, err := c.ConnectorClient.Configure(ctx, &pb.ConfigureRequest{ConfigJson: raw, ConfigSource: "sdktest"})
	if err != nil {
		return nil, err
	}
	var out []sdk.FieldError
	for _, e := range r.GetErrors() {
		out = append(out, sdk.FieldError{Field: e.GetField(), Message: e.GetMessage()})
	}
	return out, nil
}

// ReadResult is everything one read returned.
type ReadResult struct {
	Records []sdk.Record
	Rejects []sdk.RecordError
	Cursor  string
	Batches int
}

// Kind selects the read RPC.
type Kind int

const (
	Catalog Kind = iota + 1
	Inventory
	Prices
)

// Read runs a full or incremental read to the end, as the host does: asking
// for repeated values to be sent as markers (ReadRequest.packed_repeats).
func (c *Client) Read(ctx context.Context, kind Kind, cursor string) (*ReadResult, error) {
	return c.read(ctx, kind, cursor, true)
}

// ReadLiteral is Read as a host that predates packed_repeats: every value is
// sent in full.
func (c *Client) ReadLiteral(ctx context.Context, kind Kind, cursor string) (*ReadResult, error) {
	return c.read(ctx, kind, cursor, false)
}

func (c *Client) read(ctx context.Context, kind Kind, cursor string, repeats bool) (*ReadResult, error) {
	req := &pb.ReadRequest{Cursor: cursor, BatchSize: 200, PackedRepeats: repeats}
	var recv func() (*pb.RecordBatch, error)
	switch kind {
	case Catalog:
		s, err := c.ReadCatalog(ctx, req)
		if err != nil {
			return nil, err
		}
		recv = s.Recv
	case Inventory:
		s, err := c.ReadInventory(ctx, req)
		if err != nil {
			return nil, err
		}
		recv = s.Recv
	case Prices:
		s, err := c.ReadPrices(ctx, req)
		if err != nil {
			return nil, err
		}
		recv = s.Recv
	default:
		return nil, errors.New("unknown kind")
	}
	res := &ReadResult{}
	var dec pb.BatchDecoder
	for {
		b, err := recv()
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		res.Batches++
		if b.GetCursor() != "" {
			res.Cursor = b.GetCursor()
		}
		cols := b.GetColumns()
		rows, bad, err := dec.Decode(b)
		if err != nil {
			return res, err
		}
		for _, r := range rows {
			fields := make(map[string]string, len(cols))
			for i, v := range r.Values {
				if i < len(cols) && v != "" {
					fields[cols[i]] = strings.Clone(v)
				}
			}
			res.Records = append(res.Records, sdk.Record{Origin: strings.Clone(r.Origin), Fields: fields})
		}
		for _, e := range bad {
			res.Rejects = append(res.Rejects, sdk.RecordError{Origin: e.Origin, Field: e.Column, Message: e.Message})
		}
		for _, e := range b.GetErrors() {
			res.Rejects = append(res.Rejects, sdk.RecordError{Origin: e.GetOrigin(), Field: e.GetField(), Message: e.GetMessage(), Partial: e.GetPartial()})
		}
	}
}

// CheckAvailability calls the plugin's availability check.
func (c *Client) CheckAvailability(ctx context.Context, req *sdk.AvailabilityRequest) (*sdk.AvailabilityResponse, error) {
	r, err := c.ConnectorClient.CheckAvailability(ctx, &pb.CheckAvailabilityRequest{RequestId: req.RequestID, Items: lineItems(req.Items), ShippingAddress: address(req.ShippingAddress), Currency: req.Currency})
	if err != nil {
		return nil, err
	}
	out := &sdk.AvailabilityResponse{}
	for _, it := range r.GetItems() {
		out.Items = append(out.Items, sdk.ItemAvailability{SKU: it.GetSku(), Available: it.GetAvailable(), QuantityAvailable: it.GetQuantityAvailable(), Reason: it.GetReason()})
	}
	return out, nil
}

// CustomizeCheckout calls the plugin's checkout customization.
func (c *Client) CustomizeCheckout(ctx context.Context, req *sdk.CustomizeRequest) (*sdk.CustomizeResponse, error) {
	r, err := c.ConnectorClient.CustomizeCheckout(ctx, &pb.CustomizeCheckoutRequest{RequestId: req.RequestID, Items: lineItems(req.Items), ShippingAddress: address(req.ShippingAddress), Currency: req.Currency, AutomaticTax: req.AutomaticTax})
	if err != nil {
		return nil, err
	}
	out := &sdk.CustomizeResponse{}
	for _, o := range r.GetShippingOptions() {
		so := sdk.ShippingOption{ID: o.GetId(), DisplayName: o.GetDisplayName(), Amount: o.GetAmount(), Currency: o.GetCurrency(), TaxCode: o.GetTaxCode(), TaxBehavior: o.GetTaxBehavior()}
		if e := o.GetDeliveryEstimate(); e != nil {
			so.Estimate = &sdk.DeliveryEstimate{MinUnit: e.GetMinimumUnit(), MinValue: e.GetMinimumValue(), MaxUnit: e.GetMaximumUnit(), MaxValue: e.GetMaximumValue()}
		}
		out.ShippingOptions = append(out.ShippingOptions, so)
	}
	for _, l := range r.GetLineTaxRates() {
		lt := sdk.LineTaxRates{LineID: l.GetLineId()}
		for _, t := range l.GetRates() {
			lt.Rates = append(lt.Rates, sdk.TaxRate{DisplayName: t.GetDisplayName(), Percentage: t.GetPercentage(), Inclusive: t.GetInclusive()})
		}
		out.LineTaxRates = append(out.LineTaxRates, lt)
	}
	return out, nil
}

// PushOrder hands an order to the plugin.
func (c *Client) PushOrder(ctx context.Context, req *sdk.PushOrderRequest) (*sdk.PushOrderResponse, error) {
	r, err := c.ConnectorClient.PushOrder(ctx, &pb.PushOrderRequest{IdempotencyKey: req.IdempotencyKey, Order: order(req.Order)})
	if err != nil {
		return nil, err
	}
	out := &sdk.PushOrderResponse{BackendReference: r.GetBackendReference(), Reason: r.GetReason()}
	switch r.GetStatus() {
	case pb.PushOrderResponse_STATUS_ACCEPTED:
		out.Status = sdk.Accepted
	case pb.PushOrderResponse_STATUS_REJECTED:
		out.Status = sdk.Rejected
	}
	return out, nil
}

// ReadOrderUpdates fetches pending updates.
func (c *Client) ReadOrderUpdates(ctx context.Context, limit int) (*sdk.OrderUpdatesResponse, error) {
	r, err := c.ConnectorClient.ReadOrderUpdates(ctx, &pb.ReadOrderUpdatesRequest{Limit: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := &sdk.OrderUpdatesResponse{}
	for _, u := range r.GetUpdates() {
		ou := sdk.OrderUpdate{ID: u.GetId(), SessionID: u.GetCheckoutSessionId(), Kind: sdk.UpdateKind(u.GetKind()), RefundAmount: u.GetRefundAmount(),
			Reason: u.GetReason(), TrackingNumber: u.GetTrackingNumber(), Carrier: u.GetCarrier(), Origin: u.GetOrigin()}
		if u.GetOccurredAt() != 0 {
			ou.OccurredAt = time.Unix(u.GetOccurredAt(), 0).UTC()
		}
		for _, l := range u.GetLines() {
			ou.Lines = append(ou.Lines, sdk.LineItem{LineID: l.GetLineId(), SKU: l.GetSku(), Quantity: l.GetQuantity(), Name: l.GetName(), UnitAmount: l.GetUnitAmount()})
		}
		out.Updates = append(out.Updates, ou)
	}
	for _, e := range r.GetErrors() {
		out.Errors = append(out.Errors, sdk.RecordError{Origin: e.GetOrigin(), Field: e.GetField(), Message: e.GetMessage()})
	}
	return out, nil
}

// AckOrderUpdates acknowledges applied updates.
func (c *Client) AckOrderUpdates(ctx context.Context, ids []string) error {
	_, err := c.ConnectorClient.AckOrderUpdates(ctx, &pb.AckOrderUpdatesRequest{Ids: ids})
	return err
}

func lineItems(in []sdk.LineItem) []*pb.LineItem {
	var out []*pb.LineItem
	for _, l := range in {
		out = append(out, &pb.LineItem{LineId: l.LineID, Sku: l.SKU, Quantity: l.Quantity, Name: l.Name, UnitAmount: l.UnitAmount})
	}
	return out
}

func address(a *sdk.Address) *pb.Address {
	if a == nil {
		return nil
	}
	return &pb.Address{Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country}
}

func order(o sdk.Order) *pb.Order {
	out := &pb.Order{
		CheckoutSessionId: o.CheckoutSessionID, PaymentIntentId: o.PaymentIntentID, OrderNumber: o.OrderNumber, Currency: o.Currency,
		AmountTotal: o.AmountTotal, AmountSubtotal: o.AmountSubtotal, AmountTax: o.AmountTax, AmountShipping: o.AmountShipping,
		AmountDiscount: o.AmountDiscount, ShippingName: o.ShippingName, ShippingAddress: address(o.ShippingAddress),
		BillingName: o.BillingName, BillingAddress: address(o.BillingAddress), Email: o.Email, Phone: o.Phone,
		ShippingOptionId: o.ShippingOptionID, ShippingOptionName: o.ShippingOptionName, AgentDetailsJson: o.AgentDetailsJSON, Livemode: o.Livemode,
	}
	if !o.Created.IsZero() {
		out.Created = o.Created.Unix()
	}
	if c := o.Card; c != nil {
		out.Card = &pb.Card{Brand: c.Brand, Last4: c.Last4, ExpMonth: c.ExpMonth, ExpYear: c.ExpYear}
	}
	for _, l := range o.Lines {
		pl := &pb.OrderLine{Sku: l.SKU, Name: l.Name, Description: l.Description, Quantity: l.Quantity, UnitAmount: l.UnitAmount, AmountTotal: l.AmountTotal, Gtin: l.GTIN, Mpn: l.MPN}
		for _, t := range l.Taxes {
			pl.Taxes = append(pl.Taxes, &pb.LineTax{Amount: t.Amount, TaxType: t.TaxType, Percentage: t.Percentage})
		}
		out.Lines = append(out.Lines, pl)
	}
	return out
}
