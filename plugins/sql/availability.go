package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/acs-connector/acs-connector/sdk"
)

// checkAvailability runs the availability query once per line item, with
// the SKU (and requested quantity) bound as parameters. It answers within
// availability_timeout: Stripe's approval window is 4 seconds.
//
// The query returns available_quantity and optionally tracked: no row means
// an unknown SKU; tracked false (inventory not tracked) means always
// available; otherwise the item is available when available_quantity covers
// the requested quantity.
func (st *state) checkAvailability(ctx context.Context, req *sdk.AvailabilityRequest, resp *sdk.AvailabilityResponse) error {
	if st.avail == nil {
		return fmt.Errorf("no queries.availability configured: %w", sdk.ErrUnimplemented)
	}
	ctx, cancel := context.WithTimeout(ctx, st.availTimeout)
	defer cancel()
	for _, it := range req.Items {
		a, err := st.availability(ctx, it)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
				return fmt.Errorf("query availability: no answer within %s (availability_timeout): %w", st.availTimeout, context.DeadlineExceeded)
			}
			return err
		}
		resp.Items = append(resp.Items, a)
	}
	return nil
}

func (st *state) availability(ctx context.Context, it sdk.LineItem) (sdk.ItemAvailability, error) {
	out := sdk.ItemAvailability{SKU: it.SKU}
	if strings.TrimSpace(it.SKU) == "" {
		out.Reason = "the line item has no SKU"
		return out, nil
	}
	want := max(it.Quantity, 1)
	rows, err := st.db.QueryContext(ctx, st.avail.SQL, st.avail.args(map[string]any{"sku": it.SKU, "quantity": want}, st.params)...)
	if err != nil {
		return out, st.errorf(err, "query availability for SKU %q", it.SKU)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return out, st.errorf(err, "query availability")
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return out, st.errorf(err, "query availability for SKU %q", it.SKU)
		}
		out.Reason = "unknown product"
		return out, nil
	}
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return out, st.errorf(err, "query availability for SKU %q", it.SKU)
	}
	var qty int64
	tracked := true
	for i, c := range cols {
		switch strings.ToLower(c) {
		case "available_quantity":
			if raw[i] == nil {
				continue // NULL: nothing in stock
			}
			n, err := toInt64(raw[i])
			if err != nil {
				return out, fmt.Errorf("query availability for SKU %q: available_quantity %v", it.SKU, err)
			}
			qty = n
		case "tracked":
			b, err := toBool(raw[i], true)
			if err != nil {
				return out, fmt.Errorf("query availability for SKU %q: tracked %v", it.SKU, err)
			}
			tracked = b
		}
	}
	if !tracked {
		out.Available = true
		out.QuantityAvailable = want
		return out, nil
	}
	out.QuantityAvailable = max(qty, 0)
	switch {
	case qty >= want:
		out.Available = true
	case qty <= 0:
		out.Reason = "out of stock"
	default:
		out.Reason = "only " + strconv.FormatInt(qty, 10) + " left in stock"
	}
	return out, nil
}
