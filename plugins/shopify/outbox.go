package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/outbox"
)

// outboxOrder is the file PushOrder writes: one JSON document per order,
// named after the checkout session, for whatever fulfils Shopify orders
// (a person, a script calling the Admin API) to pick up.
type outboxOrder struct {
	IdempotencyKey   string       `json:"idempotency_key"`
	Status           string       `json:"status"`
	BackendReference string       `json:"backend_reference"`
	ReceivedAt       time.Time    `json:"received_at"`
	Order            outbox.Order `json:"order"`
}

// PushOrder writes the order to the outbox once per idempotency key (see
// outbox.Writer.Put): a push whose file exists is answered from that file,
// so a retried push gets the first answer and no second file. Keys that
// are not file-name safe are cleaned and hashed (outbox.CleanName).
func (p *plugin) PushOrder(_ context.Context, req *sdk.PushOrderRequest, resp *sdk.PushOrderResponse) error {
	cfg, err := p.config()
	if err != nil {
		return err
	}
	if cfg.Outbox == "" {
		return fmt.Errorf("no outbox directory is configured: %w", sdk.ErrUnimplemented)
	}
	if req.IdempotencyKey == "" {
		return errors.New("PushOrder: an idempotency key is required")
	}
	data, name, written, err := p.outbox.Put(cfg.Outbox, req.IdempotencyKey, func() ([]byte, error) {
		name, _ := outbox.CleanName(req.IdempotencyKey)
		doc := outboxOrder{
			IdempotencyKey:   req.IdempotencyKey,
			Status:           "accepted",
			BackendReference: strings.TrimSuffix(name, ".json"),
			ReceivedAt:       time.Now().UTC().Truncate(time.Second),
			Order:            outbox.FromOrder(req.Order),
		}
		data, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("outbox: encode order %s: %w", req.IdempotencyKey, err)
		}
		return append(data, '\n'), nil
	})
	if err != nil {
		return fmt.Errorf("push order %s: %w", req.IdempotencyKey, err)
	}
	var doc outboxOrder
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("outbox: %s is not an order file (%v); fix or move it, it is never overwritten", name, err)
	}
	if written {
		sdk.Logger().Info("order written to the outbox", "file", name, "lines", len(req.Order.Lines))
	}
	switch doc.Status {
	case "accepted":
		resp.Status = sdk.Accepted
	case "rejected":
		resp.Status = sdk.Rejected
	default:
		return fmt.Errorf("outbox: order %s has status %q", doc.IdempotencyKey, doc.Status)
	}
	resp.BackendReference = doc.BackendReference
	return nil
}
