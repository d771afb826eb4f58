package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// Row state. staged_rows holds the hashes sent in each not yet accepted
// upload; accepted_rows holds, per job and item, the hash of the newest
// accepted upload that carried the item (upload_id), or NULL (a tombstone)
// after ForgetItems.
//
// Staging writes transactions of rowChunk rows, so a million ids never sit in
// one statement. On SQLite, AcceptUpload and AcceptedHashes also walk the
// primary key in chunks, so the single writer is never held for seconds (a
// checkout hook waiting behind it would time out) and no read stays open
// while the callback runs. On PostgreSQL, where writers do not block each
// other, AcceptUpload is one set-based transaction and AcceptedHashes one
// streamed ORDER BY query: paging there would depend on the planner choosing
// an ordered index scan, which it does not do on freshly loaded, not yet
// analyzed tables (each page would then sort everything left: quadratic).

const (
	rowChunk     = 5000 // rows per transaction
	sqliteInsert = 500  // rows per INSERT statement on SQLite (4 parameters each)
	idBatch      = 1000 // ids per IN list / array parameter
)

func (b *base) checkUploadJob(ctx context.Context, job string, uploadID int64) error {
	if job == "" {
		return errors.New("empty job")
	}
	got, err := b.uploadJob(ctx, uploadID)
	if err != nil {
		return err
	}
	if got != job {
		return fmt.Errorf("upload %d belongs to job %q, not %q", uploadID, got, job)
	}
	return nil
}

func (b *base) StageRows(ctx context.Context, job string, uploadID int64, rows []RowHash) error {
	if err := b.checkUploadJob(ctx, job, uploadID); err != nil {
		return fmt.Errorf("store: stage rows of %s: %w", job, err)
	}
	for start := 0; start < len(rows); start += rowChunk {
		chunk, err := dedupeRows(rows[start:min(start+rowChunk, len(rows))], start)
		if err != nil {
			return fmt.Errorf("store: stage rows of %s upload %d: %w", job, uploadID, err)
		}
		err = b.inTx(ctx, func(tx *sql.Tx) error { return b.stageChunk(ctx, tx, job, uploadID, chunk) })
		if err != nil {
			return fmt.Errorf("store: stage rows of %s upload %d: %w", job, uploadID, err)
		}
	}
	return nil
}

// dedupeRows keeps the last hash of every item (PostgreSQL refuses to upsert a
// row twice in one statement) and rejects empty item ids.
func dedupeRows(rows []RowHash, offset int) ([]RowHash, error) {
	seen := make(map[string]int, len(rows))
	out := make([]RowHash, 0, len(rows))
	for i, r := range rows {
		if r.ItemID == "" {
			return nil, fmt.Errorf("row %d: empty item id", offset+i)
		}
		if j, ok := seen[r.ItemID]; ok {
			out[j].Hash = r.Hash
			continue
		}
		seen[r.ItemID] = len(out)
		out = append(out, r)
	}
	return out, nil
}

func (b *base) stageChunk(ctx context.Context, tx *sql.Tx, job string, uploadID int64, rows []RowHash) error {
	const conflict = ` ON CONFLICT (job, upload_id, item_id) DO UPDATE SET hash = excluded.hash`
	if b.dialect == dialectPostgres {
		ids := make([]string, len(rows))
		hashes := make([]string, len(rows))
		for i, r := range rows {
			ids[i], hashes[i] = r.ItemID, r.Hash
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO staged_rows (job, upload_id, item_id, hash)
			SELECT $1::text, $2::bigint, t.item_id, t.hash FROM unnest($3::text[], $4::text[]) AS t(item_id, hash)`+conflict,
			job, uploadID, ids, hashes)
		return err
	}
	var full *sql.Stmt
	defer func() {
		if full != nil {
			_ = full.Close()
		}
	}()
	for start := 0; start < len(rows); start += sqliteInsert {
		batch := rows[start:min(start+sqliteInsert, len(rows))]
		args := make([]any, 0, len(batch)*4)
		for _, r := range batch {
			args = append(args, job, uploadID, r.ItemID, r.Hash)
		}
		query := `INSERT INTO staged_rows (job, upload_id, item_id, hash) VALUES ` + valuesList(len(batch), 4) + conflict
		var err error
		if len(batch) == sqliteInsert {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, query); err != nil {
					return err
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, query, args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *base) AcceptUpload(ctx context.Context, job string, uploadID int64, failedItemIDs []string) error {
	if err := b.checkUploadJob(ctx, job, uploadID); err != nil {
		return fmt.Errorf("store: accept upload of %s: %w", job, err)
	}
	wrap := func(err error) error { return fmt.Errorf("store: accept upload %d of %s: %w", uploadID, job, err) }

	// Rows Stripe rejected keep their previously accepted hash, so they are
	// sent again next time: drop them from the staged set first.
	for start := 0; start < len(failedItemIDs); start += idBatch {
		cond, args := b.inList("item_id", failedItemIDs[start:min(start+idBatch, len(failedItemIDs))])
		_, err := b.w.ExecContext(ctx, b.q(`DELETE FROM staged_rows WHERE job = ? AND upload_id = ? AND `+cond),
			append([]any{job, uploadID}, args...)...)
		if err != nil {
			return wrap(err)
		}
	}

	const upsert = ` ORDER BY item_id
		ON CONFLICT (job, item_id) DO UPDATE SET hash = excluded.hash, upload_id = excluded.upload_id
		WHERE accepted_rows.upload_id <= excluded.upload_id`
	if b.dialect == dialectPostgres {
		// ORDER BY: concurrent accepts of one job lock rows in the same order.
		err := b.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO accepted_rows (job, item_id, hash, upload_id)
				SELECT job, item_id, hash, upload_id FROM staged_rows WHERE job = $1 AND upload_id = $2`+upsert,
				job, uploadID); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM staged_rows WHERE job = $1 AND upload_id = $2`, job, uploadID)
			return err
		})
		if err != nil {
			return wrap(err)
		}
		if err := b.purgeTombstones(ctx, job); err != nil {
			return wrap(err)
		}
		return nil
	}

	// SQLite: move the staged rows over in item_id order, one chunk per
	// transaction. A crash in between leaves the rest staged; calling
	// AcceptUpload again finishes the job. The upsert only replaces a hash
	// accepted from an upload that is not newer than this one.
	for {
		done := false
		err := b.inTx(ctx, func(tx *sql.Tx) error {
			var hi string
			err := tx.QueryRowContext(ctx, `SELECT item_id FROM staged_rows WHERE job = ? AND upload_id = ?
				ORDER BY item_id LIMIT 1 OFFSET `+strconv.Itoa(rowChunk-1), job, uploadID).Scan(&hi)
			cond, args := "", []any{job, uploadID}
			switch {
			case errors.Is(err, sql.ErrNoRows):
				done = true // the rest fits in this chunk
			case err != nil:
				return err
			default:
				cond = ` AND item_id <= ?`
				args = append(args, hi)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO accepted_rows (job, item_id, hash, upload_id)
				SELECT job, item_id, hash, upload_id FROM staged_rows WHERE job = ? AND upload_id = ?`+cond+upsert,
				args...); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `DELETE FROM staged_rows WHERE job = ? AND upload_id = ?`+cond, args...)
			return err
		})
		if err != nil {
			return wrap(err)
		}
		if done {
			break
		}
	}
	if err := b.purgeTombstones(ctx, job); err != nil {
		return wrap(err)
	}
	return nil
}

// purgeTombstones removes the tombstones no older staged upload could
// overwrite any more (an upload older than the tombstone is the only kind the
// tombstone protects against).
func (b *base) purgeTombstones(ctx context.Context, job string) error {
	_, err := b.w.ExecContext(ctx, b.q(`DELETE FROM accepted_rows WHERE job = ? AND hash IS NULL
		AND upload_id < COALESCE((SELECT MIN(upload_id) FROM staged_rows WHERE job = ?), 9223372036854775807)`),
		job, job)
	if err != nil {
		return fmt.Errorf("purge tombstones: %w", err)
	}
	return nil
}

// discardStaged drops the staged rows of an upload that can no longer be
// accepted.
func (b *base) discardStaged(ctx context.Context, job string, uploadID int64) error {
	if b.dialect == dialectPostgres {
		if _, err := b.w.ExecContext(ctx, `DELETE FROM staged_rows WHERE job = $1 AND upload_id = $2`, job, uploadID); err != nil {
			return err
		}
		return b.purgeTombstones(ctx, job)
	}
	for {
		res, err := b.w.ExecContext(ctx, `DELETE FROM staged_rows WHERE job = ? AND upload_id = ? AND item_id IN
			(SELECT item_id FROM staged_rows WHERE job = ? AND upload_id = ? LIMIT `+strconv.Itoa(rowChunk)+`)`,
			job, uploadID, job, uploadID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n < rowChunk {
			return b.purgeTombstones(ctx, job)
		}
	}
}

func (b *base) AcceptedHashes(ctx context.Context, job string, fn func(itemID, hash string) error) error {
	if b.dialect == dialectPostgres {
		return b.streamAcceptedHashes(ctx, job, fn)
	}
	page := make([]RowHash, 0, rowChunk)
	first, after := true, ""
	for {
		page = page[:0]
		var rows *sql.Rows
		var err error
		if first {
			rows, err = b.r.QueryContext(ctx, `SELECT item_id, hash FROM accepted_rows
				WHERE job = ? AND hash IS NOT NULL ORDER BY item_id LIMIT `+strconv.Itoa(rowChunk), job)
		} else {
			rows, err = b.r.QueryContext(ctx, `SELECT item_id, hash FROM accepted_rows
				WHERE job = ? AND item_id > ? AND hash IS NOT NULL ORDER BY item_id LIMIT `+strconv.Itoa(rowChunk), job, after)
		}
		if err != nil {
			return fmt.Errorf("store: accepted hashes of %s: %w", job, err)
		}
		for rows.Next() {
			var r RowHash
			if err := rows.Scan(&r.ItemID, &r.Hash); err != nil {
				_ = rows.Close()
				return fmt.Errorf("store: accepted hashes of %s: %w", job, err)
			}
			page = append(page, r)
		}
		err = rows.Err()
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("store: accepted hashes of %s: %w", job, err)
		}
		// The page is read and its connection released before fn runs, so
		// fn may use the Store (even an in-memory database with one
		// connection).
		for _, r := range page {
			if err := fn(r.ItemID, r.Hash); err != nil {
				return err
			}
		}
		if len(page) < rowChunk {
			return nil
		}
		first, after = false, page[len(page)-1].ItemID
	}
}

// streamAcceptedHashes reads the rows of one query as the server sends them
// (pgx does not buffer result sets), so memory stays flat; fn runs on this
// goroutine while the query's connection stays checked out, and may use the
// Store through the pool's other connections.
func (b *base) streamAcceptedHashes(ctx context.Context, job string, fn func(itemID, hash string) error) error {
	rows, err := b.r.QueryContext(ctx, `SELECT item_id, hash FROM accepted_rows
		WHERE job = $1 AND hash IS NOT NULL ORDER BY item_id`, job)
	if err != nil {
		return fmt.Errorf("store: accepted hashes of %s: %w", job, err)
	}
	defer rows.Close()
	var id, hash string
	for rows.Next() {
		if err := rows.Scan(&id, &hash); err != nil {
			return fmt.Errorf("store: accepted hashes of %s: %w", job, err)
		}
		if err := fn(id, hash); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: accepted hashes of %s: %w", job, err)
	}
	return nil
}

func (b *base) ForgetItems(ctx context.Context, job string, itemIDs []string) error {
	for start := 0; start < len(itemIDs); start += idBatch {
		cond, args := b.inList("item_id", itemIDs[start:min(start+idBatch, len(itemIDs))])
		_, err := b.w.ExecContext(ctx, b.q(`UPDATE accepted_rows SET hash = NULL WHERE job = ? AND `+cond),
			append([]any{job}, args...)...)
		if err != nil {
			return fmt.Errorf("store: forget items of %s: %w", job, err)
		}
	}
	if err := b.purgeTombstones(ctx, job); err != nil {
		return fmt.Errorf("store: forget items of %s: %w", job, err)
	}
	return nil
}
