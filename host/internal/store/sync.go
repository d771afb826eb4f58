package store

// Store methods for feed sync jobs (host/internal/syncjob) beyond the row
// state in rows.go: per-batch hash lookups, the ids that vanished from a full
// catalog, forgetting deleted items, and dropping uploads that never reached
// Stripe. All of them keep memory flat for a million-item job: lookups take
// one batch of ids, listings are paged and call back between pages.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SyncMethods are the methods feed sync jobs need beyond the row state in
// rows.go. Store embeds them.
type SyncMethods interface {
	// AcceptedHashesFor returns the accepted hash of each of ids that has
	// one in job; ids without one are absent from the map. Ids are looked
	// up in batches, so pass one plugin batch at a time.
	AcceptedHashesFor(ctx context.Context, job string, ids []string) (map[string]string, error)
	// VanishedItems calls fn, in item id order (byte-wise), for every item
	// of job that has an accepted hash and is staged in none of uploadIDs.
	// Pages are read before fn runs, so fn may use the Store; an error from
	// fn stops the iteration and is returned as is.
	VanishedItems(ctx context.Context, job string, uploadIDs []int64, fn func(itemID string) error) error
	// CountVanished is how many items VanishedItems would call fn for, in
	// one query.
	CountVanished(ctx context.Context, job string, uploadIDs []int64) (int, error)
	// ForgetItemsWithHash is ForgetItems for every accepted item of job
	// whose hash equals hash; it returns how many were forgotten.
	ForgetItemsWithHash(ctx context.Context, job, hash string) (int64, error)
	// DeleteUpload removes an upload that has no import id, with its staged
	// rows and error rows. Uploads Stripe knows (import id set) are refused.
	DeleteUpload(ctx context.Context, uploadID int64) error
	// DeleteUploadErrors removes the error rows of an upload from source
	// ("" = every source).
	DeleteUploadErrors(ctx context.Context, uploadID int64, source string) error
	// GetUpload returns one upload by id.
	GetUpload(ctx context.Context, uploadID int64) (*Upload, error)
}

// defaultSyncPage is the page size of VanishedItems (base.syncPage
// overrides it in tests).
const defaultSyncPage = 5000

func (b *base) vanishedPage() int {
	if b.syncPage > 0 {
		return b.syncPage
	}
	return defaultSyncPage
}

// AcceptedHashesFor returns the accepted hash of each of ids that has one in
// job. Ids without one (never accepted, forgotten) are absent from the map.
func (b *base) AcceptedHashesFor(ctx context.Context, job string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for start := 0; start < len(ids); start += idBatch {
		cond, args := b.inList("item_id", ids[start:min(start+idBatch, len(ids))])
		rows, err := b.r.QueryContext(ctx, b.q(`SELECT item_id, hash FROM accepted_rows
			WHERE job = ? AND hash IS NOT NULL AND `+cond), append([]any{job}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("store: accepted hashes of %s: %w", job, err)
		}
		for rows.Next() {
			var id, h string
			if err := rows.Scan(&id, &h); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("store: accepted hashes of %s: %w", job, err)
			}
			out[id] = h
		}
		err = rows.Err()
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("store: accepted hashes of %s: %w", job, err)
		}
	}
	return out, nil
}

// VanishedItems calls fn, in item id order (byte-wise), for every item of job
// that has an accepted hash and is staged in none of uploadIDs: the items a
// full catalog run (which staged every id it read under uploadIDs) no longer
// contains. Pages are read before fn runs, so fn may use the Store. An error
// from fn stops the iteration and is returned as is.
func (b *base) VanishedItems(ctx context.Context, job string, uploadIDs []int64, fn func(itemID string) error) error {
	notStaged, upArgs, err := b.notStagedIn(job, uploadIDs)
	if err != nil {
		return err
	}
	size := b.vanishedPage()
	page := make([]string, 0, size)
	after, first := "", true
	for {
		page = page[:0]
		args := []any{job}
		cond := ""
		if !first {
			cond = " AND a.item_id > ?"
			args = append(args, after)
		}
		args = append(args, upArgs...)
		rows, err := b.r.QueryContext(ctx, b.q(`SELECT a.item_id FROM accepted_rows a
			WHERE a.job = ? AND a.hash IS NOT NULL`+cond+notStaged+`
			ORDER BY a.item_id LIMIT `+strconv.Itoa(size)), args...)
		if err != nil {
			return fmt.Errorf("store: vanished items of %s: %w", job, err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				_ = rows.Close()
				return fmt.Errorf("store: vanished items of %s: %w", job, err)
			}
			page = append(page, id)
		}
		err = rows.Err()
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("store: vanished items of %s: %w", job, err)
		}
		for _, id := range page {
			if err := fn(id); err != nil {
				return err
			}
		}
		if len(page) < size {
			return nil
		}
		first, after = false, page[len(page)-1]
	}
}

// notStagedIn is the condition of VanishedItems and CountVanished on
// accepted_rows a: staged in none of uploadIDs, with its arguments.
func (b *base) notStagedIn(job string, uploadIDs []int64) (string, []any, error) {
	if len(uploadIDs) == 0 {
		return "", nil, fmt.Errorf("store: vanished items of %s: no uploads given (every accepted item would vanish)", job)
	}
	var inUploads string
	var upArgs []any
	if b.dialect == dialectPostgres {
		inUploads, upArgs = "s.upload_id = ANY(?::bigint[])", []any{uploadIDs}
	} else {
		ph := make([]string, len(uploadIDs))
		for i, id := range uploadIDs {
			ph[i] = "?"
			upArgs = append(upArgs, id)
		}
		inUploads = "s.upload_id IN (" + strings.Join(ph, ",") + ")"
	}
	return " AND NOT EXISTS (SELECT 1 FROM staged_rows s WHERE s.job = a.job AND s.item_id = a.item_id AND " + inUploads + ")", upArgs, nil
}

func (b *base) CountVanished(ctx context.Context, job string, uploadIDs []int64) (int, error) {
	notStaged, upArgs, err := b.notStagedIn(job, uploadIDs)
	if err != nil {
		return 0, err
	}
	var n int
	if err := b.r.QueryRowContext(ctx, b.q(`SELECT count(*) FROM accepted_rows a
		WHERE a.job = ? AND a.hash IS NOT NULL`+notStaged), append([]any{job}, upArgs...)...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count vanished items of %s: %w", job, err)
	}
	return n, nil
}

// ForgetItemsWithHash is ForgetItems for every accepted item of job whose
// hash equals hash (syncjob stages delete=true rows under a marker hash and
// forgets them once Stripe accepted the deletion). It returns how many items
// were forgotten.
func (b *base) ForgetItemsWithHash(ctx context.Context, job, hash string) (int64, error) {
	if hash == "" {
		return 0, fmt.Errorf("store: forget items of %s: empty hash", job)
	}
	res, err := b.w.ExecContext(ctx, b.q(`UPDATE accepted_rows SET hash = NULL WHERE job = ? AND hash = ?`), job, hash)
	if err != nil {
		return 0, fmt.Errorf("store: forget items of %s: %w", job, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: forget items of %s: %w", job, err)
	}
	if n > 0 {
		if err := b.purgeTombstones(ctx, job); err != nil {
			return n, fmt.Errorf("store: forget items of %s: %w", job, err)
		}
	}
	return n, nil
}

// DeleteUpload removes an upload that never reached Stripe (no import id),
// with its staged rows and error rows: a feed build that was abandoned,
// found identical to what Stripe has, or interrupted by a crash. An upload
// with an import id is refused: Stripe knows it, so it stays on record.
func (b *base) DeleteUpload(ctx context.Context, uploadID int64) error {
	var job, importID string
	err := b.w.QueryRowContext(ctx, b.q(`SELECT job, import_id FROM uploads WHERE id = ?`), uploadID).Scan(&job, &importID)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("store: delete upload %d", uploadID)
	}
	if err != nil {
		return fmt.Errorf("store: delete upload %d: %w", uploadID, err)
	}
	if importID != "" {
		return fmt.Errorf("store: delete upload %d: it has import %s at Stripe", uploadID, importID)
	}
	if err := b.discardStaged(ctx, job, uploadID); err != nil {
		return fmt.Errorf("store: delete upload %d: discard staged rows: %w", uploadID, err)
	}
	err = b.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, b.q(`DELETE FROM upload_errors WHERE upload_id = ?`), uploadID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, b.q(`DELETE FROM uploads WHERE id = ? AND import_id = ''`), uploadID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete upload %d: %w", uploadID, err)
	}
	return nil
}

// DeleteUploadErrors removes the error rows of an upload that came from
// source ("" = every source), so that recording an error report again after
// a crash does not duplicate its rows.
func (b *base) DeleteUploadErrors(ctx context.Context, uploadID int64, source string) error {
	var err error
	if source == "" {
		_, err = b.w.ExecContext(ctx, b.q(`DELETE FROM upload_errors WHERE upload_id = ?`), uploadID)
	} else {
		_, err = b.w.ExecContext(ctx, b.q(`DELETE FROM upload_errors WHERE upload_id = ? AND source = ?`), uploadID, source)
	}
	if err != nil {
		return fmt.Errorf("store: delete errors of upload %d: %w", uploadID, err)
	}
	return nil
}

// GetUpload returns one upload by id.
func (b *base) GetUpload(ctx context.Context, uploadID int64) (*Upload, error) {
	return b.getUpload(ctx, "upload "+strconv.FormatInt(uploadID, 10),
		`SELECT `+uploadCols+` FROM uploads WHERE id = ?`, uploadID)
}
