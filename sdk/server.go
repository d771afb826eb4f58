package sdk

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

// server adapts a Plugin to the generated gRPC service.
type server struct {
	pb.UnimplementedConnectorServer
	p Plugin
}

func newServer(p Plugin) *server { return &server{p: p} }

// guard turns a panic or an sdk error into a gRPC status. A plugin author's
// bug in one call must not kill the process serving every other call.
func guard(method string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			Logger().Error("plugin panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "plugin panicked in %s: %v", method, r)
		}
	}()
	err = fn()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnimplemented):
		return status.Errorf(codes.Unimplemented, "%s: %v", method, err)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Unknown, "%s: %v", method, err)
}

func unimplemented(method, capability string) error {
	return status.Errorf(codes.Unimplemented, "%s: plugin has no %s capability", method, capability)
}

var capToProto = map[string]pb.Capability{
	CapCatalog:           pb.Capability_CAPABILITY_CATALOG,
	CapInventory:         pb.Capability_CAPABILITY_INVENTORY,
	CapPrices:            pb.Capability_CAPABILITY_PRICES,
	CapAvailability:      pb.Capability_CAPABILITY_AVAILABILITY,
	CapCustomizeCheckout: pb.Capability_CAPABILITY_CUSTOMIZE_CHECKOUT,
	CapFulfillment:       pb.Capability_CAPABILITY_FULFILLMENT,
	CapOrderUpdates:      pb.Capability_CAPABILITY_ORDER_UPDATES,
}

func (s *server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	var resp *pb.DescribeResponse
	err := guard("Describe", func() error {
		info := s.p.Info()
		resp = &pb.DescribeResponse{Name: info.Name, Version: info.Version, SampleConfig: info.SampleConfig, Description: info.Description}
		for _, c := range Capabilities(s.p) {
			resp.Capabilities = append(resp.Capabilities, capToProto[c])
		}
		return nil
	})
	return resp, err
}

func (s *server) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	out := &pb.ConfigureResponse{}
	err := guard("Configure", func() error {
		var resp ConfigureResponse
		err := s.p.Configure(ctx, &ConfigureRequest{Config: req.GetConfigJson(), Source: req.GetConfigSource(), OneShot: req.GetOneShot()}, &resp)
		for _, e := range resp.Errors {
			out.Errors = append(out.Errors, &pb.FieldError{Field: e.Field, Message: e.Message})
		}
		// A plugin that reported field errors and also returned an error
		// has said everything in the field errors.
		if err != nil && len(resp.Errors) > 0 {
			return nil
		}
		return err
	})
	return out, err
}

type batchStream interface {
	Context() context.Context
	Send(*pb.RecordBatch) error
}

func (s *server) stream(method string, req *pb.ReadRequest, st batchStream, read func(context.Context, *ReadRequest, *RecordWriter) error) error {
	return guard(method, func() error {
		ctx := st.Context()
		// The writer packs rows as they are written and reuses its buffer:
		// Send marshals the batch before it returns.
		w := newRecordWriter(ctx, int(req.GetBatchSize()), req.GetPackedRepeats(), func(wb *batch) error {
			b := &pb.RecordBatch{Columns: wb.cols, Cursor: wb.cursor, Packed: wb.packed, PackedCount: int32(wb.count), PackedRepeats: req.GetPackedRepeats()}
			for _, r := range wb.rejects {
				b.Errors = append(b.Errors, &pb.RecordError{Origin: r.Origin, Field: r.Field, Message: r.Message, Partial: r.Partial})
			}
			return st.Send(b)
		})
		if err := read(ctx, &ReadRequest{Cursor: req.GetCursor(), BatchSize: int(req.GetBatchSize())}, w); err != nil {
			return err
		}
		return w.close()
	})
}

func (s *server) ReadCatalog(req *pb.ReadRequest, st pb.Connector_ReadCatalogServer) error {
	r, ok := s.p.(CatalogReader)
	if !ok {
		return unimplemented("ReadCatalog", CapCatalog)
	}
	return s.stream("ReadCatalog", req, st, r.ReadCatalog)
}

func (s *server) ReadInventory(req *pb.ReadRequest, st pb.Connector_ReadInventoryServer) error {
	r, ok := s.p.(InventoryReader)
	if !ok {
		return unimplemented("ReadInventory", CapInventory)
	}
	return s.stream("ReadInventory", req, st, r.ReadInventory)
}

func (s *server) ReadPrices(req *pb.ReadRequest, st pb.Connector_ReadPricesServer) error {
	r, ok := s.p.(PriceReader)
	if !ok {
		return unimplemented("ReadPrices", CapPrices)
	}
	return s.stream("ReadPrices", req, st, r.ReadPrices)
}

func (s *server) CheckAvailability(ctx context.Context, req *pb.CheckAvailabilityRequest) (*pb.CheckAvailabilityResponse, error) {
	c, ok := s.p.(AvailabilityChecker)
	if !ok {
		return nil, unimplemented("CheckAvailability", CapAvailability)
	}
	out := &pb.CheckAvailabilityResponse{}
	err := guard("CheckAvailability", func() error {
		var resp AvailabilityResponse
		in := &AvailabilityRequest{RequestID: req.GetRequestId(), Items: lineItemsFromProto(req.GetItems()), ShippingAddress: addressFromProto(req.GetShippingAddress()), Currency: req.GetCurrency()}
		if err := c.CheckAvailability(ctx, in, &resp); err != nil {
			return err
		}
		for _, it := range resp.Items {
			out.Items = append(out.Items, &pb.ItemAvailability{Sku: it.SKU, Available: it.Available, QuantityAvailable: it.QuantityAvailable, Reason: it.Reason})
		}
		return nil
	})
	return out, err
}

func (s *server) CustomizeCheckout(ctx context.Context, req *pb.CustomizeCheckoutRequest) (*pb.CustomizeCheckoutResponse, error) {
	c, ok := s.p.(CheckoutCustomizer)
	if !ok {
		return nil, unimplemented("CustomizeCheckout", CapCustomizeCheckout)
	}
	out := &pb.CustomizeCheckoutResponse{}
	err := guard("CustomizeCheckout", func() error {
		var resp CustomizeResponse
		in := &CustomizeRequest{RequestID: req.GetRequestId(), Items: lineItemsFromProto(req.GetItems()), ShippingAddress: addressFromProto(req.GetShippingAddress()), Currency: req.GetCurrency(), AutomaticTax: req.GetAutomaticTax()}
		if err := c.CustomizeCheckout(ctx, in, &resp); err != nil {
			return err
		}
		for _, o := range resp.ShippingOptions {
			po := &pb.ShippingOption{Id: o.ID, DisplayName: o.DisplayName, Amount: o.Amount, Currency: o.Currency, TaxCode: o.TaxCode, TaxBehavior: o.TaxBehavior}
			if e := o.Estimate; e != nil {
				po.DeliveryEstimate = &pb.DeliveryEstimate{MinimumUnit: e.MinUnit, MinimumValue: e.MinValue, MaximumUnit: e.MaxUnit, MaximumValue: e.MaxValue}
			}
			out.ShippingOptions = append(out.ShippingOptions, po)
		}
		for _, l := range resp.LineTaxRates {
			pl := &pb.LineTaxRates{LineId: l.LineID}
			for _, r := range l.Rates {
				pl.Rates = append(pl.Rates, &pb.TaxRate{DisplayName: r.DisplayName, Percentage: r.Percentage, Inclusive: r.Inclusive})
			}
			out.LineTaxRates = append(out.LineTaxRates, pl)
		}
		return nil
	})
	return out, err
}

func (s *server) PushOrder(ctx context.Context, req *pb.PushOrderRequest) (*pb.PushOrderResponse, error) {
	f, ok := s.p.(OrderPusher)
	if !ok {
		return nil, unimplemented("PushOrder", CapFulfillment)
	}
	out := &pb.PushOrderResponse{}
	err := guard("PushOrder", func() error {
		if req.GetIdempotencyKey() == "" {
			return status.Error(codes.InvalidArgument, "PushOrder: idempotency_key is required")
		}
		var resp PushOrderResponse
		if err := f.PushOrder(ctx, &PushOrderRequest{IdempotencyKey: req.GetIdempotencyKey(), Order: orderFromProto(req.GetOrder())}, &resp); err != nil {
			return err
		}
		switch resp.Status {
		case Accepted:
			out.Status = pb.PushOrderResponse_STATUS_ACCEPTED
		case Rejected:
			out.Status = pb.PushOrderResponse_STATUS_REJECTED
		default:
			return fmt.Errorf("PushOrder returned no status (set resp.Status to sdk.Accepted or sdk.Rejected)")
		}
		out.BackendReference, out.Reason = resp.BackendReference, resp.Reason
		return nil
	})
	return out, err
}

func (s *server) ReadOrderUpdates(ctx context.Context, req *pb.ReadOrderUpdatesRequest) (*pb.ReadOrderUpdatesResponse, error) {
	src, ok := s.p.(OrderUpdateSource)
	if !ok {
		return nil, unimplemented("ReadOrderUpdates", CapOrderUpdates)
	}
	out := &pb.ReadOrderUpdatesResponse{}
	err := guard("ReadOrderUpdates", func() error {
		var resp OrderUpdatesResponse
		if err := src.ReadOrderUpdates(ctx, &OrderUpdatesRequest{Limit: int(req.GetLimit())}, &resp); err != nil {
			return err
		}
		for _, u := range resp.Updates {
			pu := &pb.OrderUpdate{Id: u.ID, CheckoutSessionId: u.SessionID, Kind: pb.OrderUpdate_Kind(u.Kind), RefundAmount: u.RefundAmount,
				Reason: u.Reason, TrackingNumber: u.TrackingNumber, Carrier: u.Carrier, Origin: u.Origin}
			if !u.OccurredAt.IsZero() {
				pu.OccurredAt = u.OccurredAt.Unix()
			}
			pu.Lines = lineItemsToProto(u.Lines)
			out.Updates = append(out.Updates, pu)
		}
		for _, e := range resp.Errors {
			out.Errors = append(out.Errors, &pb.RecordError{Origin: e.Origin, Field: e.Field, Message: e.Message, Partial: e.Partial})
		}
		return nil
	})
	return out, err
}

func (s *server) AckOrderUpdates(ctx context.Context, req *pb.AckOrderUpdatesRequest) (*pb.AckOrderUpdatesResponse, error) {
	src, ok := s.p.(OrderUpdateSource)
	if !ok {
		return nil, unimplemented("AckOrderUpdates", CapOrderUpdates)
	}
	err := guard("AckOrderUpdates", func() error { return src.AckOrderUpdates(ctx, req.GetIds()) })
	return &pb.AckOrderUpdatesResponse{}, err
}

func (s *server) Stop(ctx context.Context, _ *pb.StopRequest) (*pb.StopResponse, error) {
	err := guard("Stop", func() error {
		if st, ok := s.p.(Stopper); ok {
			return st.Stop(ctx)
		}
		return nil
	})
	return &pb.StopResponse{}, err
}

func lineItemsFromProto(in []*pb.LineItem) []LineItem {
	out := make([]LineItem, 0, len(in))
	for _, l := range in {
		out = append(out, LineItem{LineID: l.GetLineId(), SKU: l.GetSku(), Quantity: l.GetQuantity(), Name: l.GetName(), UnitAmount: l.GetUnitAmount()})
	}
	return out
}

func lineItemsToProto(in []LineItem) []*pb.LineItem {
	out := make([]*pb.LineItem, 0, len(in))
	for _, l := range in {
		out = append(out, &pb.LineItem{LineId: l.LineID, Sku: l.SKU, Quantity: l.Quantity, Name: l.Name, UnitAmount: l.UnitAmount})
	}
	return out
}

func addressFromProto(a *pb.Address) *Address {
	if a == nil {
		return nil
	}
	return &Address{Line1: a.GetLine1(), Line2: a.GetLine2(), City: a.GetCity(), State: a.GetState(), PostalCode: a.GetPostalCode(), Country: a.GetCountry()}
}

func orderFromProto(o *pb.Order) Order {
	if o == nil {
		return Order{}
	}
	out := Order{
		CheckoutSessionID: o.GetCheckoutSessionId(), PaymentIntentID: o.GetPaymentIntentId(), OrderNumber: o.GetOrderNumber(),
		Currency: o.GetCurrency(), AmountTotal: o.GetAmountTotal(), AmountSubtotal: o.GetAmountSubtotal(), AmountTax: o.GetAmountTax(),
		AmountShipping: o.GetAmountShipping(), AmountDiscount: o.GetAmountDiscount(), ShippingName: o.GetShippingName(),
		ShippingAddress: addressFromProto(o.GetShippingAddress()), BillingName: o.GetBillingName(), BillingAddress: addressFromProto(o.GetBillingAddress()),
		Email: o.GetEmail(), Phone: o.GetPhone(), ShippingOptionID: o.GetShippingOptionId(), ShippingOptionName: o.GetShippingOptionName(),
		AgentDetailsJSON: o.GetAgentDetailsJson(), Livemode: o.GetLivemode(),
	}
	if o.GetCreated() != 0 {
		out.Created = time.Unix(o.GetCreated(), 0).UTC()
	}
	if c := o.GetCard(); c != nil {
		out.Card = &Card{Brand: c.GetBrand(), Last4: c.GetLast4(), ExpMonth: c.GetExpMonth(), ExpYear: c.GetExpYear()}
	}
	for _, l := range o.GetLines() {
		ol := OrderLine{SKU: l.GetSku(), Name: l.GetName(), Description: l.GetDescription(), Quantity: l.GetQuantity(), UnitAmount: l.GetUnitAmount(),
			AmountTotal: l.GetAmountTotal(), GTIN: l.GetGtin(), MPN: l.GetMpn()}
		for _, t := range l.GetTaxes() {
			ol.Taxes = append(ol.Taxes, LineTax{Amount: t.GetAmount(), TaxType: t.GetTaxType(), Percentage: t.GetPercentage()})
		}
		out.Lines = append(out.Lines, ol)
	}
	return out
}
