package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/acs-connector/acs-connector/sdk"
)

// updateColumns are the columns order_updates may return. One row is one
// update; a partial cancellation of several SKUs is several consecutive rows
// with the same id (ORDER BY id), one per SKU.
var updateColumns = []string{
	"id", "checkout_session_id", "kind", "sku", "quantity", "refund_amount", "currency",
	"reason", "tracking_number", "carrier", "occurred_at",
}

const defaultUpdatesLimit = 100

// readOrderUpdates runs order_updates (with :limit bound to the host's
// limit) and maps its rows to updates. A row that cannot be read (unknown
// kind, bad quantity) is reported in resp.Errors with its origin and the
// others flow.
func (st *state) readOrderUpdates(ctx context.Context, req *sdk.OrderUpdatesRequest, resp *sdk.OrderUpdatesResponse) error {
	if st.updates == nil {
		return fmt.Errorf("no queries.order_updates configured: %w", sdk.ErrUnimplemented)
	}
	limit := req.Limit
	if limit <= 0 {
		limit = defaultUpdatesLimit
	}
	ctx, cancel := context.WithTimeout(ctx, st.queryTimeout)
	defer cancel()
	rows, err := st.db.QueryContext(ctx, st.updates.SQL, st.updates.args(map[string]any{"limit": int64(limit)}, st.params)...)
	if err != nil {
		return st.errorf(err, "query order_updates")
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return st.errorf(err, "query order_updates")
	}
	names := make([]string, len(types))
	is32 := make([]bool, len(types))
	for i, t := range types {
		names[i] = strings.ToLower(t.Name())
		if names[i] == "session_id" {
			names[i] = "checkout_session_id"
		}
		is32[i] = st.pg() && strings.EqualFold(t.DatabaseTypeName(), "FLOAT4")
	}
	raw := make([]any, len(types))
	ptrs := make([]any, len(types))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	// Rows of one update (a partial cancellation of several SKUs) must be
	// consecutive (ORDER BY id); an update is added once its last row is
	// read, and only if none of its rows failed, so a held-back update does
	// not count against the limit.
	var cur *sdk.OrderUpdate
	failed := map[string]bool{}
	flush := func() {
		if cur != nil && !failed[cur.ID] {
			resp.Updates = append(resp.Updates, *cur)
		}
		cur = nil
	}
	n := 0
	for rows.Next() {
		n++
		if err := rows.Scan(ptrs...); err != nil {
			return st.errorf(err, "query order_updates")
		}
		origin := "query order_updates row " + strconv.Itoa(n)
		u, line, field, err := st.updateRow(names, is32, raw, origin)
		if cur == nil || cur.ID != u.ID {
			flush()
			if len(resp.Updates) >= limit {
				break
			}
		}
		if err != nil {
			resp.Errors = append(resp.Errors, sdk.RecordError{Origin: origin, Field: field, Message: field + " " + err.Error()})
			failed[u.ID] = true
			continue
		}
		if failed[u.ID] {
			continue // one bad row holds back its update; it stays unacknowledged
		}
		if cur == nil {
			u.Lines = nil
			cur = &u
		} else if cur.RefundAmount == 0 {
			cur.RefundAmount = u.RefundAmount
		}
		if line != nil {
			cur.Lines = append(cur.Lines, *line)
		}
	}
	if err := rows.Err(); err != nil && ctx.Err() == nil {
		return st.errorf(err, "query order_updates")
	}
	if ctx.Err() != nil {
		return fmt.Errorf("query order_updates: %w", ctx.Err())
	}
	flush()
	if len(resp.Updates) > limit {
		resp.Updates = resp.Updates[:limit]
	}
	return nil
}

// updateRow maps one order_updates row; on error it names the column.
func (st *state) updateRow(names []string, is32 []bool, raw []any, origin string) (u sdk.OrderUpdate, line *sdk.LineItem, field string, err error) {
	u.Origin = origin
	currency := st.currency
	for i, name := range names {
		if name == "currency" && raw[i] != nil {
			currency = strings.ToUpper(strings.TrimSpace(asString(raw[i])))
		}
		if name == "id" && raw[i] != nil {
			u.ID, _ = (&converter{}).text(raw[i])
		}
	}
	var sku string
	var qty int64
	for i, name := range names {
		v := raw[i]
		switch name {
		case "id":
			if u.ID == "" {
				return u, nil, name, errNull
			}
		case "checkout_session_id":
			if v == nil || asString(v) == "" {
				return u, nil, name, errNull
			}
			u.SessionID = asString(v)
		case "kind":
			k, err := parseKind(v)
			if err != nil {
				return u, nil, name, err
			}
			u.Kind = k
		case "sku":
			if v != nil {
				sku = asString(v)
			}
		case "quantity":
			if v != nil {
				if qty, err = toInt64(v); err != nil {
					return u, nil, name, err
				}
			}
		case "refund_amount":
			if v != nil {
				if u.RefundAmount, err = toMinor(v, is32[i], currency, st.minorUnits); err != nil {
					return u, nil, name, err
				}
			}
		case "reason":
			if v != nil {
				u.Reason = asString(v)
			}
		case "tracking_number":
			if v != nil {
				u.TrackingNumber = asString(v)
			}
		case "carrier":
			if v != nil {
				u.Carrier = asString(v)
			}
		case "occurred_at":
			if v != nil {
				t, err := toTime(v)
				if err != nil {
					return u, nil, name, err
				}
				u.OccurredAt = t.UTC()
			}
		}
	}
	if sku != "" {
		line = &sdk.LineItem{SKU: sku, Quantity: qty}
	}
	return u, line, "", nil
}

func parseKind(v any) (sdk.UpdateKind, error) {
	switch x := v.(type) {
	case nil:
		return 0, errNull
	case int64:
		if k := sdk.UpdateKind(x); k >= sdk.Shipped && k <= sdk.PartiallyCancelled {
			return k, nil
		}
	default:
		switch strings.ToLower(strings.TrimSpace(asString(x))) {
		case "shipped", "fulfilled", "1":
			return sdk.Shipped, nil
		case "cancelled", "canceled", "2":
			return sdk.Cancelled, nil
		case "partially_cancelled", "partially_canceled", "partial_cancel", "3":
			return sdk.PartiallyCancelled, nil
		}
	}
	return 0, fmt.Errorf("%s is not an update kind (want shipped, cancelled or partially_cancelled)", describe(v))
}

// ackOrderUpdates runs order_updates_ack for each id, in one transaction.
func (st *state) ackOrderUpdates(ctx context.Context, ids []string) error {
	if st.ack == nil {
		return fmt.Errorf("no queries.order_updates_ack configured: %w", sdk.ErrUnimplemented)
	}
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, st.queryTimeout)
	defer cancel()
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return st.errorf(err, "begin order_updates_ack")
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, st.ack.SQL, st.ack.args(map[string]any{"id": id}, st.params)...); err != nil {
			return st.errorf(err, "order_updates_ack for id %q", id)
		}
	}
	if err := tx.Commit(); err != nil {
		return st.errorf(err, "commit order_updates_ack")
	}
	return nil
}
