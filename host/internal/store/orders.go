package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const orderCols = `session_id, state, attempts, lease_until, backend_ref, reason, order_json, payment_intent_id,
	currency, amount_total, capture, amount_refunded, refund, last_error, session_created, received_at, updated_at`

func scanOrder(sc scanner) (*Order, error) {
	var o Order
	err := sc.Scan(&o.SessionID, &o.State, &o.Attempts, tcol{&o.LeaseUntil}, &o.BackendRef, &o.Reason, &o.OrderJSON,
		&o.PaymentIntentID, &o.Currency, &o.AmountTotal, &o.Capture, &o.AmountRefunded, &o.Refund, &o.LastError,
		tcol{&o.SessionCreated}, tcol{&o.ReceivedAt}, tcol{&o.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// claimable is the condition under which ClaimOrder takes an order; its one
// parameter is "now".
var claimable = `(state = 'received'
	OR (state = 'pushing' AND (lease_until IS NULL OR lease_until < ?))
	OR (state = 'failed' AND attempts < ` + strconv.Itoa(MaxOrderAttempts) + `))`

func (b *base) RecordOrder(ctx context.Context, o *Order) (bool, error) {
	if o == nil || o.SessionID == "" {
		return false, errors.New("store: record order: empty session id")
	}
	if err := checkPayment(o); err != nil {
		return false, fmt.Errorf("store: record order %s: %w", o.SessionID, err)
	}
	ts := now()
	received := normTime(o.ReceivedAt)
	if received.IsZero() {
		received = ts
	}
	res, err := b.w.ExecContext(ctx, b.q(`INSERT INTO orders (session_id, state, attempts, backend_ref, reason,
		order_json, payment_intent_id, currency, amount_total, capture, amount_refunded, refund, last_error,
		session_created, received_at, updated_at)
		VALUES (?, 'received', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (session_id) DO NOTHING`),
		o.SessionID, o.BackendRef, o.Reason, o.OrderJSON, o.PaymentIntentID, o.Currency, o.AmountTotal, o.Capture,
		o.AmountRefunded, o.Refund, o.LastError, b.tv(o.SessionCreated), b.tv(received), b.tv(ts))
	if err != nil {
		return false, fmt.Errorf("store: record order %s: %w", o.SessionID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: record order %s: %w", o.SessionID, err)
	}
	if n == 0 {
		return false, nil
	}
	o.State, o.Attempts, o.LeaseUntil = OrderReceived, 0, time.Time{}
	o.SessionCreated, o.ReceivedAt, o.UpdatedAt = normTime(o.SessionCreated), received, ts
	return true, nil
}

func (b *base) ClaimOrder(ctx context.Context, sessionID string, lease time.Duration) (*Order, bool, error) {
	if lease <= 0 {
		return nil, false, fmt.Errorf("store: claim order %s: lease must be positive, got %s", sessionID, lease)
	}
	ts := now()
	rows, err := b.w.QueryContext(ctx, b.q(`UPDATE orders SET state = 'pushing', attempts = attempts + 1,
		lease_until = ?, updated_at = ? WHERE session_id = ? AND `+claimable+` RETURNING `+orderCols),
		b.tv(ts.Add(lease)), b.tv(ts), sessionID, b.tv(ts))
	if err != nil {
		return nil, false, fmt.Errorf("store: claim order %s: %w", sessionID, err)
	}
	o, err := scanOptional(rows, scanOrder)
	if err != nil {
		return nil, false, fmt.Errorf("store: claim order %s: %w", sessionID, err)
	}
	if o != nil {
		return o, true, nil
	}
	cur, err := b.getOrder(ctx, b.w, sessionID)
	if err != nil {
		return nil, false, fmt.Errorf("store: claim order %s: %w", sessionID, err)
	}
	return cur, false, nil
}

func (b *base) CompleteOrder(ctx context.Context, sessionID string, state, backendRef, reason string) error {
	var query string
	var args []any
	ts := b.tv(now())
	switch state {
	case OrderAccepted, OrderRejected:
		query = `UPDATE orders SET state = ?, backend_ref = ?, reason = ?, lease_until = NULL, updated_at = ?
			WHERE session_id = ? AND state = 'pushing'`
		args = []any{state, backendRef, reason, ts, sessionID}
	case OrderFailed:
		query = `UPDATE orders SET state = 'failed', last_error = ?, lease_until = NULL, updated_at = ?
			WHERE session_id = ? AND state = 'pushing'`
		args = []any{reason, ts, sessionID}
	default:
		return fmt.Errorf("store: complete order %s: invalid state %q (want accepted, rejected or failed)", sessionID, state)
	}
	res, err := b.w.ExecContext(ctx, b.q(query), args...)
	if err != nil {
		return fmt.Errorf("store: complete order %s: %w", sessionID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: complete order %s: %w", sessionID, err)
	}
	if n == 0 {
		cur, err := b.getOrder(ctx, b.w, sessionID)
		if err != nil {
			return fmt.Errorf("store: complete order %s: %w", sessionID, err)
		}
		return fmt.Errorf("store: complete order %s as %s: order is %s: %w", sessionID, state, cur.State, ErrNotClaimed)
	}
	return nil
}

func checkPayment(o *Order) error {
	switch o.Capture {
	case "", CapturePending, CaptureCaptured, CaptureFailed, CaptureNotRequired:
	default:
		return fmt.Errorf("invalid capture state %q", o.Capture)
	}
	switch o.Refund {
	case "", RefundPending, RefundRefunded, RefundFailed:
	default:
		return fmt.Errorf("invalid refund state %q", o.Refund)
	}
	return nil
}

func (b *base) UpdateOrderPayment(ctx context.Context, sessionID string, fn func(o *Order) error) error {
	lock := ""
	if b.dialect == dialectPostgres {
		lock = " FOR UPDATE"
	}
	// On SQLite the transaction holds the one write connection (BEGIN
	// IMMEDIATE), which serializes read-modify-write cycles just the same.
	err := b.inTx(ctx, func(tx *sql.Tx) error {
		o, err := scanOrder(tx.QueryRowContext(ctx, b.q(`SELECT `+orderCols+` FROM orders WHERE session_id = ?`+lock), sessionID))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := fn(o); err != nil {
			return err
		}
		if err := checkPayment(o); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, b.q(`UPDATE orders SET payment_intent_id = ?, currency = ?, amount_total = ?,
			capture = ?, amount_refunded = ?, refund = ?, last_error = ?, updated_at = ? WHERE session_id = ?`),
			o.PaymentIntentID, o.Currency, o.AmountTotal, o.Capture, o.AmountRefunded, o.Refund, o.LastError,
			b.tv(now()), sessionID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: update payment of order %s: %w", sessionID, err)
	}
	return nil
}

// SetOrderJSON replaces the stored order document of an order (RecordOrder
// keeps the webhook's session snapshot; fulfilment stores the mapped order).
// Not part of Store: host/internal/orders finds it with a type assertion.
func (b *base) SetOrderJSON(ctx context.Context, sessionID string, orderJSON []byte) error {
	res, err := b.w.ExecContext(ctx, b.q(`UPDATE orders SET order_json = ?, updated_at = ? WHERE session_id = ?`),
		orderJSON, b.tv(now()), sessionID)
	if err != nil {
		return fmt.Errorf("store: set order json of %s: %w", sessionID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: set order json of %s: %w", sessionID, err)
	} else if n == 0 {
		return notFound("store: set order json of %s", sessionID)
	}
	return nil
}

func (b *base) GetOrder(ctx context.Context, sessionID string) (*Order, error) {
	o, err := b.getOrder(ctx, b.r, sessionID)
	if err != nil {
		return nil, fmt.Errorf("store: get order %s: %w", sessionID, err)
	}
	return o, nil
}

func (b *base) getOrder(ctx context.Context, db *sql.DB, sessionID string) (*Order, error) {
	o, err := scanOrder(db.QueryRowContext(ctx, b.q(`SELECT `+orderCols+` FROM orders WHERE session_id = ?`), sessionID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return o, err
}

func (b *base) listOrders(ctx context.Context, what, query string, args ...any) ([]Order, error) {
	rows, err := b.r.QueryContext(ctx, b.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, *o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

func (b *base) RecentOrders(ctx context.Context, limit int) ([]Order, error) {
	return b.listOrders(ctx, "recent orders",
		`SELECT `+orderCols+` FROM orders ORDER BY received_at DESC, session_id DESC`+limitClause(limit))
}

func (b *base) OrdersToRetry(ctx context.Context, now time.Time, limit int) ([]Order, error) {
	return b.listOrders(ctx, "orders to retry",
		`SELECT `+orderCols+` FROM orders WHERE state IN ('received', 'pushing', 'failed') AND `+claimable+`
		ORDER BY received_at, session_id`+limitClause(limit), b.tv(now))
}

// settleCond is the condition of the partial index orders_to_settle
// (migrations/*/0002_orders_to_settle.sql): every order some SettleQuery
// can return. OrdersToSettle repeats it verbatim: SQLite matches a partial
// index's condition by its terms, and PostgreSQL must be able to prove it.
const settleCond = `((state IN ('accepted', 'rejected') AND capture IN ('pending', 'failed'))
       OR (state = 'rejected' AND capture = 'captured' AND refund <> 'refunded'))`

// settleQuery builds the OrdersToSettle query for q.
func (b *base) settleQuery(q SettleQuery, limit int) (string, []any) {
	want := []string{`(state = 'rejected' AND capture IN ('pending', 'failed'))`}
	if q.CaptureAccepted {
		want = append(want, `(state = 'accepted' AND capture IN ('pending', 'failed'))`)
	}
	if q.RefundRejected {
		want = append(want, `(state = 'rejected' AND capture = 'captured' AND refund <> 'refunded')`)
	}
	from := `orders`
	if b.dialect == dialectSQLite {
		// Without ANALYZE statistics SQLite guesses that state = ? picks a
		// few rows and would walk orders_state through every accepted
		// order; INDEXED BY also fails the query if settleCond and the
		// index's condition ever drift apart.
		from = `orders INDEXED BY orders_to_settle`
	}
	query := `SELECT ` + orderCols + ` FROM ` + from + ` WHERE ` + settleCond + `
		AND (` + strings.Join(want, ` OR `) + `)`
	var args []any
	if !q.UpdatedBefore.IsZero() {
		query += ` AND updated_at < ?`
		args = append(args, b.tv(q.UpdatedBefore))
	}
	return query + ` ORDER BY updated_at, session_id` + limitClause(limit), args
}

func (b *base) OrdersToSettle(ctx context.Context, q SettleQuery, limit int) ([]Order, error) {
	query, args := b.settleQuery(q, limit)
	return b.listOrders(ctx, "orders to settle", query, args...)
}

func (b *base) CountOrdersByState(ctx context.Context) (map[string]int, error) {
	rows, err := b.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM orders GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("store: count orders: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("store: count orders: %w", err)
		}
		out[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count orders: %w", err)
	}
	return out, nil
}
