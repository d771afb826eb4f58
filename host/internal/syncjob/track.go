package syncjob

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/feed"
	"github.com/acs-connector/acs-connector/host/internal/metrics"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
	"github.com/acs-connector/acs-connector/host/internal/webhooks"
)

// errorRowBatch is how many error rows are written to the store at once.
const errorRowBatch = 500

func setCounts(u *store.Upload, imp *stripeapi.Import) {
	u.RowsProcessed, u.RowsSucceeded, u.RowsFailed = imp.RowsProcessed, imp.RowsSucceeded, imp.RowsFailed
	if imp.FailedReason != "" {
		u.FailedReason = truncate(imp.FailedReason, 1000)
	}
	if imp.API == stripeapi.UploadAPIImportSet && imp.ErrorFile != "" {
		u.ErrorFileID = imp.ErrorFile
	}
}

// PollPending polls every upload Stripe has not finished yet, once, and
// finishes those that are done. The daemon calls it every few seconds; it
// returns early when ctx ends.
func (r *Runner) PollPending(ctx context.Context) error {
	if r.st == nil {
		return r.stErr
	}
	pending, err := r.st.PendingUploads(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for i := range pending {
		if err := ctx.Err(); err != nil {
			return err
		}
		if pending[i].ImportID == "" {
			continue // not at Stripe yet: its run (or the next) sends it
		}
		if err := r.trackOne(ctx, &pending[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// HandleImportEvent handles data_management.import_set.* and
// v2.commerce.product_catalog.imports.* events: it re-fetches the import the
// event names (the v1 snapshot may be stale; v2 events are thin) and
// finishes it if it is done. Events for imports this connector did not make
// are acknowledged and ignored.
func (r *Runner) HandleImportEvent(ctx context.Context, ev webhooks.Event) error {
	if r.st == nil {
		return r.stErr
	}
	id := ""
	if ev.RelatedObject != nil {
		id = ev.RelatedObject.ID
	}
	if id == "" && len(ev.Object) > 0 {
		var obj struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(ev.Object, &obj); err != nil {
			return fmt.Errorf("event %s (%s): data.object: %w", ev.ID, ev.Type, err)
		}
		id = obj.ID
	}
	if id == "" {
		r.log.Warn("import event without an import id; ignored", "event", ev.ID, "type", ev.Type)
		return nil
	}
	u, err := r.st.GetUploadByImportID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		r.log.Debug("import event for an import this connector did not make (or has not recorded yet)", "event", ev.ID, "import", id)
		return nil
	}
	if err != nil {
		return err
	}
	return r.trackOne(ctx, u)
}

// trackOne retrieves one upload's import and finishes it when Stripe has.
func (r *Runner) trackOne(ctx context.Context, u *store.Upload) error {
	r.trackMu.Lock()
	defer r.trackMu.Unlock()
	cur, err := r.st.GetUpload(ctx, u.ID)
	if err != nil {
		return err
	}
	if cur.ImportID == "" || store.IsFinalUploadStatus(cur.Status) {
		*u = *cur
		return nil
	}
	up, err := r.uploader(cur.API)
	if err != nil {
		return err
	}
	imp, err := up.Retrieve(ctx, cur.ImportID)
	if stripeapi.IsNotFound(err) {
		// Stripe does not know the import (another account or key, or an
		// emulator that restarted): it will never finish, and waiting for
		// it would block the job forever.
		r.log.Warn("Stripe does not know this import; marking the upload failed", "job", cur.Job, "upload", cur.ID, "import", cur.ImportID, "err", err)
		imp = &stripeapi.Import{ID: cur.ImportID, API: cur.API, Status: stripeapi.StatusFailed, Final: true,
			FailedReason: "Stripe answered 404 for this import (it was made with another account or key, or by an emulator that has restarted)"}
		err = nil
	}
	if err != nil {
		return fmt.Errorf("upload %d: %w", cur.ID, err)
	}
	if !imp.Final {
		if imp.Status != cur.Status || imp.RowsProcessed != cur.RowsProcessed {
			cur.Status = imp.Status
			setCounts(cur, imp)
			if err := r.st.UpdateUpload(ctx, cur); err != nil {
				return err
			}
		}
		*u = *cur
		return nil
	}
	// Every host polls the pending uploads; one of them finishes each
	// import (downloading and storing its error report once).
	if l, ok := r.st.(store.Locker); ok {
		unlock, got, err := l.TryLock(ctx, "finish-upload:"+strconv.FormatInt(cur.ID, 10))
		if err != nil {
			return fmt.Errorf("upload %d: %w", cur.ID, err)
		}
		if !got {
			*u = *cur // another host is finishing it
			return nil
		}
		defer unlock()
		// It may have been finished since it was read.
		if cur, err = r.st.GetUpload(ctx, u.ID); err != nil {
			return err
		}
		if store.IsFinalUploadStatus(cur.Status) {
			*u = *cur
			return nil
		}
	}
	if err := r.finish(ctx, up, cur, imp); err != nil {
		return fmt.Errorf("upload %d (import %s): %w", cur.ID, imp.ID, err)
	}
	*u = *cur
	return nil
}

// finish records a final import: on success the error rows and the accepted
// hashes, then the status (which is the commit point: a crash before it
// makes the next poll do all of this again, idempotently).
func (r *Runner) finish(ctx context.Context, up stripeapi.Uploader, u *store.Upload, imp *stripeapi.Import) error {
	accepted := imp.Status == stripeapi.StatusSucceeded || imp.Status == stripeapi.StatusSucceededWithErrors
	if accepted {
		var failed []string
		if imp.Status == stripeapi.StatusSucceededWithErrors || imp.RowsFailed > 0 {
			var err error
			if failed, err = r.recordStripeErrors(ctx, up, u, imp); err != nil {
				return fmt.Errorf("error report: %w", err)
			}
		}
		if err := r.st.AcceptUpload(ctx, u.Job, u.ID, failed); err != nil {
			return err
		}
		if _, err := r.st.ForgetItemsWithHash(ctx, u.Job, deletedHash); err != nil {
			return err
		}
	}
	u.Status = imp.Status
	setCounts(u, imp)
	if err := r.st.UpdateUpload(ctx, u); err != nil {
		return err
	}
	r.opt.Metrics.Inc(metrics.ImportOutcomesC, u.Job, u.Status)
	log := r.log.Info
	if !accepted {
		log = r.log.Warn
	}
	log("feed import finished", "job", u.Job, "upload", u.ID, "part", u.Part, "import", u.ImportID, "status", u.Status,
		"rows", u.RowsProcessed, "succeeded", u.RowsSucceeded, "failed", u.RowsFailed, "reason", u.FailedReason)
	r.finishRun(ctx, u.Job)
	return nil
}

// finishRun commits the run record of job once every upload in it is final:
// the plugin cursor and the content hash when all were accepted, nothing
// otherwise (the next run then reads and sends those rows again).
func (r *Runner) finishRun(ctx context.Context, job string) {
	rec, err := r.loadRun(ctx, job)
	if err != nil || rec == nil {
		if err != nil {
			r.log.Warn("reading the run record", "job", job, "err", err)
		}
		return
	}
	all := true
	for _, id := range rec.Uploads {
		u, err := r.st.GetUpload(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			all = false
			continue
		}
		if err != nil {
			r.log.Warn("reading the run record", "job", job, "err", err)
			return
		}
		if !store.IsFinalUploadStatus(u.Status) {
			return // not done yet
		}
		if u.Status != store.UploadSucceeded && u.Status != store.UploadSucceededWithErrors {
			all = false
		}
	}
	if all {
		if err := r.commitCursor(ctx, job, rec.Cursor, rec.Content); err != nil {
			r.log.Warn("storing the plugin cursor", "job", job, "err", err)
			return
		}
	} else {
		r.log.Info("not every part of the run was accepted; the next run reads from the previous cursor", "job", job)
	}
	if err := r.saveRun(ctx, job, nil); err != nil {
		r.log.Warn("clearing the run record", "job", job, "err", err)
	}
}

// pendingOf lists the uploads of job that are at Stripe (or on their way)
// and not final.
func (r *Runner) pendingOf(ctx context.Context, job string) ([]store.Upload, error) {
	all, err := r.st.PendingUploads(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.Upload
	for _, u := range all {
		if u.Job == job && (u.ImportID != "" || u.Status == StatusUploading) {
			out = append(out, u)
		}
	}
	return out, nil
}

// waitPrevious waits, until deadline, for every earlier upload of job to be
// final, polling them itself.
func (r *Runner) waitPrevious(ctx context.Context, job string, deadline time.Time) error {
	if r.noSerialise {
		return nil
	}
	for {
		pending, err := r.pendingOf(ctx, job)
		if err != nil || len(pending) == 0 {
			return err
		}
		for i := range pending {
			if pending[i].ImportID != "" {
				if err := r.trackOne(ctx, &pending[i]); err != nil {
					r.log.Warn("polling an earlier upload", "job", job, "upload", pending[i].ID, "err", err)
				}
			}
		}
		if pending, err = r.pendingOf(ctx, job); err != nil || len(pending) == 0 {
			return err
		}
		if !time.Now().Before(deadline) {
			u := pending[0]
			return fmt.Errorf("%w: upload %d (part %d of %d, import %q) is %q. Nothing was uploaded, so it cannot land after newer data; "+
				"the next run sends these rows (raise wait_for_previous if Stripe is this slow)",
				ErrPreviousPending, u.ID, u.Part, u.Parts, u.ImportID, u.Status)
		}
		wait := min(r.opt.PollInterval, time.Until(deadline))
		r.log.Debug("waiting for an earlier upload of the feed", "job", job, "upload", pending[0].ID, "status", pending[0].Status)
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// recordStripeErrors downloads an import's error report, stores its rows
// (source stripe) with the line each failed row had in the uploaded part,
// and returns the failed item ids. The report is spooled to disk, so only
// the failed ids are held in memory.
func (r *Runner) recordStripeErrors(ctx context.Context, up stripeapi.Uploader, u *store.Upload, imp *stripeapi.Import) ([]string, error) {
	rc, err := up.ErrorReport(ctx, imp)
	if err != nil {
		return nil, err
	}
	if rc == nil {
		return nil, nil
	}
	defer rc.Close()
	spool, err := os.CreateTemp(r.opt.StateDir, "stripe-errors-*.csv")
	if err != nil {
		spool, err = os.CreateTemp("", "stripe-errors-*.csv")
		if err != nil {
			return nil, err
		}
	}
	defer os.Remove(spool.Name())
	defer spool.Close()

	// Pass 1: spool, and collect the failed ids.
	ids := map[string]int{}
	var order []string
	idCol := -1
	err = eachCSV(io.TeeReader(rc, spool), func(n int, rec []string) error {
		if n == 0 {
			idCol = colIndexFold(rec, "id")
			return nil
		}
		if idCol >= 0 && idCol < len(rec) {
			id := strings.TrimSpace(rec[idCol])
			if _, dup := ids[id]; !dup && id != "" {
				ids[id] = 0
				order = append(order, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the error report of %s: %w", imp.ID, err)
	}
	r.findLines(u, ids)

	// Pass 2: store the rows.
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if err := r.st.DeleteUploadErrors(ctx, u.ID, store.ErrorSourceStripe); err != nil {
		return nil, err
	}
	batch := make([]store.UploadErrorRow, 0, errorRowBatch)
	err = eachCSV(spool, func(n int, rec []string) error {
		if n == 0 {
			return nil
		}
		row := store.UploadErrorRow{Source: store.ErrorSourceStripe}
		if len(rec) > 0 {
			row.Message = rec[0]
			row.RawCSV = csvLine(rec[1:])
		}
		if idCol >= 0 && idCol < len(rec) {
			row.ItemID = strings.TrimSpace(rec[idCol])
			row.Line = ids[row.ItemID]
		}
		batch = append(batch, row)
		if len(batch) == errorRowBatch {
			if err := r.st.AddUploadErrors(ctx, u.ID, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = r.st.AddUploadErrors(ctx, u.ID, batch)
	}
	if err != nil {
		return nil, err
	}
	return order, nil
}

// findLines fills ids with the line of each id's row in the part as
// uploaded. The part file is used only if it is still the uploaded one
// (same SHA-256); otherwise lines stay 0 (unknown).
func (r *Runner) findLines(u *store.Upload, ids map[string]int) {
	if len(ids) == 0 {
		return
	}
	f, err := os.Open(partPath(r.jobDir(u.Job), u.Part))
	if err != nil {
		return
	}
	defer f.Close()
	h := sha256.New()
	found := map[string]int{}
	idCol := -1
	cr := csv.NewReader(bufio.NewReaderSize(io.TeeReader(f, h), 256<<10))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	for n := 0; ; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return
		}
		if n == 0 {
			idCol = colIndexFold(rec, "id")
			continue
		}
		if idCol < 0 || idCol >= len(rec) {
			continue
		}
		if _, ok := ids[rec[idCol]]; ok {
			if _, seen := found[rec[idCol]]; !seen {
				line, _ := cr.FieldPos(0)
				found[rec[idCol]] = line
			}
		}
	}
	if hex.EncodeToString(h.Sum(nil)) != u.ContentSHA256 {
		return
	}
	for id, line := range found {
		ids[id] = line
	}
}

// eachCSV calls fn for every record (n = 0 for the header).
func eachCSV(rd io.Reader, fn func(n int, rec []string) error) error {
	cr := csv.NewReader(bufio.NewReaderSize(rd, 64<<10))
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	for n := 0; ; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n == 0 && len(rec) > 0 {
			rec[0] = strings.TrimPrefix(rec[0], "\uFEFF")
		}
		if err := fn(n, rec); err != nil {
			return err
		}
	}
}

func colIndexFold(cols []string, name string) int {
	for i, c := range cols {
		if strings.EqualFold(strings.TrimSpace(c), name) {
			return i
		}
	}
	return -1
}

func csvLine(fields []string) string {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(fields)
	w.Flush()
	return strings.TrimRight(buf.String(), "\r\n")
}

// recordLocalErrors stores the rows of the local error report (source
// local) on an upload. The report's message is "origin: problem"; the line
// is taken from an origin ending in ":<line>" (products.csv:12).
func (r *Runner) recordLocalErrors(ctx context.Context, uploadID int64, reportPath string) error {
	f, err := os.Open(reportPath)
	if err != nil {
		return fmt.Errorf("local error report: %w", err)
	}
	defer f.Close()
	if err := r.st.DeleteUploadErrors(ctx, uploadID, store.ErrorSourceLocal); err != nil {
		return err
	}
	idCol := -1
	batch := make([]store.UploadErrorRow, 0, errorRowBatch)
	err = eachCSV(f, func(n int, rec []string) error {
		if n == 0 {
			idCol = colIndexFold(rec, "id")
			return nil
		}
		row := store.UploadErrorRow{Source: store.ErrorSourceLocal}
		if len(rec) > 0 {
			row.Message = rec[0]
			row.RawCSV = csvLine(rec[1:])
			row.Line = originLine(rec[0])
		}
		if idCol >= 0 && idCol < len(rec) {
			row.ItemID = strings.TrimSpace(rec[idCol])
		}
		batch = append(batch, row)
		if len(batch) == errorRowBatch {
			if err := r.st.AddUploadErrors(ctx, uploadID, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = r.st.AddUploadErrors(ctx, uploadID, batch)
	}
	if err != nil {
		return fmt.Errorf("local error report %s: %w", reportPath, err)
	}
	return nil
}

// originLine extracts 12 from "products.csv:12: price: ...".
func originLine(msg string) int {
	origin, _, ok := strings.Cut(msg, ": ")
	if !ok {
		return 0
	}
	i := strings.LastIndexByte(origin, ':')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(origin[i+1:])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// recordNothingValid leaves a record of a run whose every row was rejected
// locally, so that feeds status shows the rows.
func (r *Runner) recordNothingValid(ctx context.Context, job string, kind feed.Kind, source, api, reportPath string, invalid int) error {
	u := &store.Upload{Job: job, Kind: kind.String(), Source: source, API: api, Status: store.UploadFailed,
		FailedReason: fmt.Sprintf("nothing uploaded: all %d rows were rejected before upload (see the error rows)", invalid)}
	if err := r.st.CreateUpload(ctx, u); err != nil {
		return err
	}
	return r.recordLocalErrors(ctx, u.ID, reportPath)
}

// StatusErrorRows is how many error rows Status returns per upload.
const StatusErrorRows = 10

// UploadStatus is one upload for `acs-connector feeds status` and the status
// page.
type UploadStatus struct {
	ID          int64
	Job, Kind   string
	API         string
	Part, Parts int
	// File is the Files API id (ImportSet uploads).
	File     string
	ImportID string
	// Status is Stripe's status, or building / uploading before Stripe
	// has the import.
	Status        string
	Final         bool
	RowsSent      int
	RowsProcessed int
	RowsSucceeded int
	RowsFailed    int
	FailedReason  string
	Created       time.Time
	Finished      time.Time
	// Errors are the first StatusErrorRows rejected rows, by line: from
	// Stripe's error report (Source "stripe") and from the local validator
	// or the plugin (Source "local").
	Errors []store.UploadErrorRow
}

// Status returns the newest uploads (limit <= 0: all) with their first
// error rows.
func (r *Runner) Status(ctx context.Context, limit int) ([]UploadStatus, error) {
	if r.st == nil {
		return nil, r.stErr
	}
	ups, err := r.st.RecentUploads(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]UploadStatus, 0, len(ups))
	for _, u := range ups {
		rows, err := r.st.UploadErrors(ctx, u.ID, StatusErrorRows)
		if err != nil {
			return nil, err
		}
		out = append(out, UploadStatus{
			ID: u.ID, Job: u.Job, Kind: u.Kind, API: u.API, Part: u.Part, Parts: u.Parts, File: u.FileID,
			ImportID: u.ImportID, Status: u.Status, Final: store.IsFinalUploadStatus(u.Status),
			RowsSent: u.RowsSent, RowsProcessed: u.RowsProcessed, RowsSucceeded: u.RowsSucceeded, RowsFailed: u.RowsFailed,
			FailedReason: u.FailedReason, Created: u.CreatedAt, Finished: u.FinishedAt, Errors: rows,
		})
	}
	return out, nil
}

// fileSHA256 hashes a file.
func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
