package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const uploadCols = `id, job, kind, source, content_sha256, part, parts, file_id, import_id, api, status,
	rows_sent, rows_processed, rows_succeeded, rows_failed, failed_reason, error_file_id,
	created_at, updated_at, finished_at`

// finalStatusList is the SQL list of final upload statuses.
const finalStatusList = `('succeeded', 'succeeded_with_errors', 'failed', 'archived')`

func scanUpload(sc scanner) (*Upload, error) {
	var u Upload
	err := sc.Scan(&u.ID, &u.Job, &u.Kind, &u.Source, &u.ContentSHA256, &u.Part, &u.Parts, &u.FileID, &u.ImportID,
		&u.API, &u.Status, &u.RowsSent, &u.RowsProcessed, &u.RowsSucceeded, &u.RowsFailed, &u.FailedReason,
		&u.ErrorFileID, tcol{&u.CreatedAt}, tcol{&u.UpdatedAt}, tcol{&u.FinishedAt})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func (b *base) CreateUpload(ctx context.Context, u *Upload) error {
	if u == nil {
		return errors.New("store: create upload: nil upload")
	}
	if u.Job == "" {
		return errors.New("store: create upload: empty job")
	}
	if u.Status == "" {
		u.Status = UploadPending
	}
	ts := now()
	finished := normTime(u.FinishedAt)
	if finished.IsZero() && IsFinalUploadStatus(u.Status) {
		finished = ts
	}
	var id int64
	err := b.w.QueryRowContext(ctx, b.q(`INSERT INTO uploads (job, kind, source, content_sha256, part, parts, file_id,
		import_id, api, status, rows_sent, rows_processed, rows_succeeded, rows_failed, failed_reason, error_file_id,
		created_at, updated_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		u.Job, u.Kind, u.Source, u.ContentSHA256, u.Part, u.Parts, u.FileID, u.ImportID, u.API, u.Status,
		u.RowsSent, u.RowsProcessed, u.RowsSucceeded, u.RowsFailed, u.FailedReason, u.ErrorFileID,
		b.tv(ts), b.tv(ts), b.tv(finished)).Scan(&id)
	if err != nil {
		return fmt.Errorf("store: create upload of %s: %w", u.Job, err)
	}
	u.ID, u.CreatedAt, u.UpdatedAt, u.FinishedAt = id, ts, ts, finished
	return nil
}

func (b *base) UpdateUpload(ctx context.Context, u *Upload) error {
	if u == nil {
		return errors.New("store: update upload: nil upload")
	}
	if u.Status == "" {
		return fmt.Errorf("store: update upload %d: empty status", u.ID)
	}
	ts := now()
	finished := normTime(u.FinishedAt)
	if finished.IsZero() && IsFinalUploadStatus(u.Status) {
		finished = ts
	}
	var job string
	var created time.Time
	err := b.w.QueryRowContext(ctx, b.q(`UPDATE uploads SET kind = ?, source = ?, content_sha256 = ?, part = ?, parts = ?,
		file_id = ?, import_id = ?, api = ?, status = ?, rows_sent = ?, rows_processed = ?, rows_succeeded = ?,
		rows_failed = ?, failed_reason = ?, error_file_id = ?, updated_at = ?, finished_at = ?
		WHERE id = ? RETURNING job, created_at`),
		u.Kind, u.Source, u.ContentSHA256, u.Part, u.Parts, u.FileID, u.ImportID, u.API, u.Status,
		u.RowsSent, u.RowsProcessed, u.RowsSucceeded, u.RowsFailed, u.FailedReason, u.ErrorFileID,
		b.tv(ts), b.tv(finished), u.ID).Scan(&job, tcol{&created})
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("store: update upload %d", u.ID)
	}
	if err != nil {
		return fmt.Errorf("store: update upload %d: %w", u.ID, err)
	}
	u.Job, u.CreatedAt, u.UpdatedAt, u.FinishedAt = job, created, ts, finished
	if u.Status == UploadFailed || u.Status == UploadArchived {
		if err := b.discardStaged(ctx, job, u.ID); err != nil {
			return fmt.Errorf("store: update upload %d: discard staged rows: %w", u.ID, err)
		}
	}
	return nil
}

func (b *base) getUpload(ctx context.Context, what, query string, args ...any) (*Upload, error) {
	u, err := scanUpload(b.r.QueryRowContext(ctx, b.q(query), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("store: %s", what)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return u, nil
}

func (b *base) GetUploadByImportID(ctx context.Context, importID string) (*Upload, error) {
	if importID == "" {
		return nil, notFound("store: upload with empty import id")
	}
	return b.getUpload(ctx, "upload with import id "+importID,
		`SELECT `+uploadCols+` FROM uploads WHERE import_id = ? ORDER BY id DESC LIMIT 1`, importID)
}

func (b *base) FindUploadByContent(ctx context.Context, job, sha string) (*Upload, error) {
	return b.getUpload(ctx, fmt.Sprintf("upload of %s with content %s", job, sha),
		`SELECT `+uploadCols+` FROM uploads WHERE job = ? AND content_sha256 = ? ORDER BY id DESC LIMIT 1`, job, sha)
}

func (b *base) LastAcceptedUpload(ctx context.Context, job string) (*Upload, error) {
	return b.getUpload(ctx, "last accepted upload of "+job,
		`SELECT `+uploadCols+` FROM uploads WHERE job = ? AND status IN ('succeeded', 'succeeded_with_errors')
		ORDER BY id DESC LIMIT 1`, job)
}

func (b *base) listUploads(ctx context.Context, what, query string, args ...any) ([]Upload, error) {
	rows, err := b.r.QueryContext(ctx, b.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []Upload
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

func (b *base) PendingUploads(ctx context.Context) ([]Upload, error) {
	return b.listUploads(ctx, "pending uploads",
		`SELECT `+uploadCols+` FROM uploads WHERE status NOT IN `+finalStatusList+` ORDER BY id`)
}

func (b *base) RecentUploads(ctx context.Context, limit int) ([]Upload, error) {
	return b.listUploads(ctx, "recent uploads", `SELECT `+uploadCols+` FROM uploads ORDER BY id DESC`+limitClause(limit))
}

// uploadJob returns the job of an upload, ErrNotFound if it does not exist.
func (b *base) uploadJob(ctx context.Context, uploadID int64) (string, error) {
	var job string
	err := b.r.QueryRowContext(ctx, b.q(`SELECT job FROM uploads WHERE id = ?`), uploadID).Scan(&job)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("upload %d", uploadID)
	}
	if err != nil {
		return "", fmt.Errorf("upload %d: %w", uploadID, err)
	}
	return job, nil
}

const errorBatch = 500

func (b *base) AddUploadErrors(ctx context.Context, uploadID int64, rows []UploadErrorRow) error {
	if _, err := b.uploadJob(ctx, uploadID); err != nil {
		return fmt.Errorf("store: add upload errors: %w", err)
	}
	for start := 0; start < len(rows); start += errorBatch {
		batch := rows[start:min(start+errorBatch, len(rows))]
		err := b.inTx(ctx, func(tx *sql.Tx) error {
			args := make([]any, 0, len(batch)*6)
			for _, r := range batch {
				args = append(args, uploadID, r.Line, r.ItemID, r.Message, r.RawCSV, r.Source)
			}
			query := `INSERT INTO upload_errors (upload_id, line, item_id, message, raw_csv, source) VALUES ` +
				valuesList(len(batch), 6)
			_, err := tx.ExecContext(ctx, b.q(query), args...)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: add upload errors to upload %d: %w", uploadID, err)
		}
	}
	return nil
}

func (b *base) UploadErrors(ctx context.Context, uploadID int64, limit int) ([]UploadErrorRow, error) {
	rows, err := b.r.QueryContext(ctx, b.q(`SELECT upload_id, line, item_id, message, raw_csv, source FROM upload_errors
		WHERE upload_id = ? ORDER BY line, id`+limitClause(limit)), uploadID)
	if err != nil {
		return nil, fmt.Errorf("store: upload errors of upload %d: %w", uploadID, err)
	}
	defer rows.Close()
	var out []UploadErrorRow
	for rows.Next() {
		var r UploadErrorRow
		if err := rows.Scan(&r.UploadID, &r.Line, &r.ItemID, &r.Message, &r.RawCSV, &r.Source); err != nil {
			return nil, fmt.Errorf("store: upload errors of upload %d: %w", uploadID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: upload errors of upload %d: %w", uploadID, err)
	}
	return out, nil
}

// valuesList returns "(?,?),(?,?)" for rows rows of cols columns.
func valuesList(rows, cols int) string {
	one := "(" + placeholders(cols) + ")"
	buf := make([]byte, 0, rows*(len(one)+1))
	for i := 0; i < rows; i++ {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, one...)
	}
	return string(buf)
}
