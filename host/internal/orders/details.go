package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

const (
	slogDebug = slog.LevelDebug
	slogWarn  = slog.LevelWarn
)

func stripeCode(err error) string { return stripeapi.StripeErrorCode(err) }

// detailsKind marks a stored mapped order (as opposed to the webhook's raw
// session snapshot that RecordOrder keeps in Order.OrderJSON).
const detailsKind = "acs.order.v1"

// detailsCursorPrefix: until the store can update Order.OrderJSON after
// RecordOrder, the mapped order is kept under this cursor key.
const detailsCursorPrefix = "order:"

type storedDetails struct {
	Kind  string          `json:"kind"`
	Order json.RawMessage `json:"order"`
}

// orderJSONSetter is the store method the mapped order belongs in; used
// when the store has it.
type orderJSONSetter interface {
	SetOrderJSON(ctx context.Context, sessionID string, orderJSON []byte) error
}

// saveDetails stores the mapped order (for the order page and partial
// cancellations) before it is pushed.
func (s *Service) saveDetails(ctx context.Context, id string, o *pb.Order) error {
	ob, err := protojson.Marshal(o)
	if err != nil {
		return fmt.Errorf("encode order %s: %w", id, err)
	}
	b, err := json.Marshal(storedDetails{Kind: detailsKind, Order: ob})
	if err != nil {
		return fmt.Errorf("encode order %s: %w", id, err)
	}
	if ss, ok := s.st.(orderJSONSetter); ok {
		if err := ss.SetOrderJSON(ctx, id, b); err != nil {
			return fmt.Errorf("store order details %s: %w", id, err)
		}
		return nil
	}
	if err := s.st.SetCursor(ctx, detailsCursorPrefix+id, string(b)); err != nil {
		return fmt.Errorf("store order details %s: %w", id, err)
	}
	return nil
}

// details returns the mapped order of o, or nil when it was not mapped yet.
func (s *Service) details(ctx context.Context, o *store.Order) (*pb.Order, error) {
	if d := decodeDetails(o.OrderJSON); d != nil {
		return d, nil
	}
	v, err := s.st.GetCursor(ctx, detailsCursorPrefix+o.SessionID)
	if err != nil {
		return nil, err
	}
	return decodeDetails([]byte(v)), nil
}

func decodeDetails(b []byte) *pb.Order {
	if len(b) == 0 {
		return nil
	}
	var sd storedDetails
	if json.Unmarshal(b, &sd) != nil || sd.Kind != detailsKind {
		return nil
	}
	var o pb.Order
	if protojson.Unmarshal(sd.Order, &o) != nil {
		return nil
	}
	return &o
}
