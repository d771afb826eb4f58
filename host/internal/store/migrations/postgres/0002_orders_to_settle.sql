-- OrdersToSettle: the orders whose money is not settled, least recently
-- touched first. The partial index holds only those rows, so the settlement
-- sweep reads them however old they are without scanning the ledger. Its
-- WHERE must stay identical to settleCond in orders.go (the planner uses a
-- partial index only when the query implies its condition).

CREATE INDEX orders_to_settle ON orders (updated_at, session_id)
    WHERE (state IN ('accepted', 'rejected') AND capture IN ('pending', 'failed'))
       OR (state = 'rejected' AND capture = 'captured' AND refund <> 'refunded');
