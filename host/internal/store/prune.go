package store

import (
	"context"
	"fmt"
	"time"
)

// Retention says how long history is kept. A zero or negative field keeps
// that history forever. The order ledger and order updates are never
// pruned: they are what makes fulfilment and refunds exactly-once.
type Retention struct {
	// Hooks: stored hook answers, by when the hook arrived. Stripe retries
	// a hook within minutes, so days are plenty.
	Hooks time.Duration
	// Runs: finished job runs (the status page's history), by when they
	// finished. The newest run of every job is always kept.
	Runs time.Duration
	// UploadErrors: the rejected rows stored for an upload, by when the
	// upload finished. The upload's own record and counts stay.
	UploadErrors time.Duration
}

// Pruned counts what one Prune deleted.
type Pruned struct {
	Hooks, Runs, UploadErrors int64
}

// Total is the number of rows deleted.
func (p Pruned) Total() int64 { return p.Hooks + p.Runs + p.UploadErrors }

// pruneBatch bounds one DELETE, so pruning a long history never holds the
// (single, on SQLite) write connection for long: hooks and webhooks get in
// between batches.
const pruneBatch = 1000

// The statements delete up to pruneBatch rows older than the bound
// argument. A subquery with LIMIT works on both databases (SQLite's
// DELETE ... LIMIT is a compile-time option).
const (
	sqlPruneHooks = `DELETE FROM hooks WHERE id IN (
		SELECT id FROM hooks WHERE created_at < ?
			AND (finished_at IS NOT NULL OR lease_until IS NULL OR lease_until < ?)
		LIMIT ?)`
	sqlPruneRuns = `DELETE FROM runs WHERE id IN (
		SELECT id FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?
			AND id NOT IN (SELECT max(id) FROM runs GROUP BY job)
		LIMIT ?)`
	sqlPruneUploadErrors = `DELETE FROM upload_errors WHERE id IN (
		SELECT e.id FROM upload_errors e JOIN uploads u ON u.id = e.upload_id
		WHERE u.finished_at IS NOT NULL AND u.finished_at < ?
		LIMIT ?)`
)

// Prune deletes history older than r allows, as of now.
func (b *base) Prune(ctx context.Context, now time.Time, r Retention) (Pruned, error) {
	var p Pruned
	var err error
	if r.Hooks > 0 {
		bound := b.tv(now.Add(-r.Hooks))
		if p.Hooks, err = b.pruneLoop(ctx, "hooks", sqlPruneHooks, bound, b.tv(now)); err != nil {
			return p, err
		}
	}
	if r.Runs > 0 {
		if p.Runs, err = b.pruneLoop(ctx, "runs", sqlPruneRuns, b.tv(now.Add(-r.Runs))); err != nil {
			return p, err
		}
	}
	if r.UploadErrors > 0 {
		if p.UploadErrors, err = b.pruneLoop(ctx, "upload errors", sqlPruneUploadErrors, b.tv(now.Add(-r.UploadErrors))); err != nil {
			return p, err
		}
	}
	return p, nil
}

// pruneLoop runs query (args, then the batch size) until a batch deletes
// fewer than pruneBatch rows.
func (b *base) pruneLoop(ctx context.Context, what, query string, args ...any) (int64, error) {
	var total int64
	args = append(args, pruneBatch)
	for {
		res, err := b.w.ExecContext(ctx, b.q(query), args...)
		if err != nil {
			return total, fmt.Errorf("store: prune %s: %w", what, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("store: prune %s: %w", what, err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
