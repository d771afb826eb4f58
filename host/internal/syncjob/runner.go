package syncjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/feed"
	"github.com/acs-connector/acs-connector/host/internal/metrics"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
)

// DefaultMaxPartBytes is the default part size: the Files API limit (200 MB)
// minus room for the multipart envelope.
const DefaultMaxPartBytes = feed.DefaultMaxPartBytes - 1<<20

// DefaultWaitForPrevious bounds the wait for earlier uploads of a job when
// job.WaitForPrevious is not set.
const DefaultWaitForPrevious = 10 * time.Minute

// DefaultBatchSize is the batch size asked of plugins.
const DefaultBatchSize = 2000

// ImportEventTypes are the webhook event types HandleImportEvent handles.
var ImportEventTypes = []string{
	"data_management.import_set.succeeded",
	"data_management.import_set.failed",
	"v2.commerce.product_catalog.imports.processing",
	"v2.commerce.product_catalog.imports.succeeded",
	"v2.commerce.product_catalog.imports.succeeded_with_errors",
	"v2.commerce.product_catalog.imports.failed",
}

// Local upload statuses, before Stripe's own take over (see the package
// comment).
const (
	StatusBuilding  = "building"
	StatusUploading = "uploading"
)

// Hash markers staged instead of a content hash.
const (
	// deletedHash marks a delete=true row; once Stripe accepted it the item
	// is forgotten (store ForgetItemsWithHash).
	deletedHash = "-"
	// presentHash marks an id whose row was rejected locally in a full
	// catalog run: the item is still in the backend, so it must not be
	// deleted, and its product stays in Stripe as last accepted.
	presentHash = "!"
)

// ErrPreviousPending is returned (wrapped) when an earlier upload of the job
// is still in progress after job.WaitForPrevious.
var ErrPreviousPending = errors.New("an earlier upload of this feed is still being processed by Stripe")

// ErrRunning is returned (wrapped) when the job is already running in this
// process.
var ErrRunning = errors.New("job is already running")

// Options configure a Runner.
type Options struct {
	Store  store.Store
	Stripe *stripeapi.Client
	// UploadAPI is stripeapi.UploadAPIImportSet (default) or UploadAPIV2.
	UploadAPI string
	// Uploader replaces the one UploadAPI selects (tests). Imports are
	// tracked with the uploader of the API they were made with.
	Uploader        stripeapi.Uploader
	UploaderOptions stripeapi.UploaderOptions
	// Plugin finds a running plugin by name.
	Plugin   func(name string) (*pluginmgr.Plugin, bool)
	StateDir string
	Metrics  *metrics.Metrics
	Logger   *slog.Logger
	// MaxPartBytes splits feeds into parts (default DefaultMaxPartBytes).
	MaxPartBytes int64
	// BatchSize is the batch size asked of plugins (DefaultBatchSize).
	BatchSize int
	// DuplicateBudget is the memory of a feed's duplicate-id set before it
	// spills to the job's directory (0 = feed's default; tests force spills).
	DuplicateBudget int
	// PollInterval is how often a run polls earlier uploads it waits for
	// (default 2s).
	PollInterval time.Duration
}

// Runner runs feed jobs. It is safe for concurrent use; runs of one job are
// serialised.
type Runner struct {
	opt Options
	log *slog.Logger
	st  store.Store
	// stErr explains why st is nil.
	stErr error

	mu      sync.Mutex
	running map[string]bool

	upMu      sync.Mutex
	uploaders map[string]stripeapi.Uploader

	// trackMu serialises polling and finishing uploads (PollPending,
	// events and runs waiting for earlier uploads).
	trackMu sync.Mutex

	// Test hooks.
	afterStep   func(ctx context.Context, step string, u *store.Upload) error
	noSerialise bool
}

// New returns a Runner.
func New(opt Options) *Runner {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.MaxPartBytes == 0 {
		opt.MaxPartBytes = DefaultMaxPartBytes
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultBatchSize
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = 2 * time.Second
	}
	if opt.UploadAPI == "" {
		opt.UploadAPI = stripeapi.UploadAPIImportSet
	}
	r := &Runner{opt: opt, log: opt.Logger.With("component", "feeds"), running: map[string]bool{},
		uploaders: map[string]stripeapi.Uploader{}}
	if opt.Uploader != nil {
		r.uploaders[opt.Uploader.API()] = opt.Uploader
		r.opt.UploadAPI = opt.Uploader.API()
	}
	r.st = opt.Store
	if r.st == nil {
		r.stErr = errors.New("no state store configured")
	}
	return r
}

// uploader returns the Uploader of api (the configured one for "").
func (r *Runner) uploader(api string) (stripeapi.Uploader, error) {
	if api == "" {
		api = r.opt.UploadAPI
	}
	r.upMu.Lock()
	defer r.upMu.Unlock()
	if u, ok := r.uploaders[api]; ok {
		return u, nil
	}
	if r.opt.Stripe == nil {
		return nil, errors.New("no Stripe client configured")
	}
	u, err := stripeapi.NewUploader(r.opt.Stripe, api, r.opt.UploaderOptions)
	if err != nil {
		return nil, err
	}
	r.uploaders[api] = u
	return u, nil
}

// feedKind maps a job type to its feed and plugin read.
func feedKind(jobType string) (feed.Kind, pluginmgr.ReadKind, error) {
	switch jobType {
	case config.JobCatalog:
		return feed.Product, pluginmgr.ReadCatalog, nil
	case config.JobInventory:
		return feed.Inventory, pluginmgr.ReadInventory, nil
	case config.JobPrice:
		return feed.Price, pluginmgr.ReadPrices, nil
	}
	return 0, 0, fmt.Errorf("job type %q is not a feed job (catalog, inventory or price)", jobType)
}

func jobName(j *config.Job) string {
	if j.Name != "" {
		return j.Name
	}
	return j.Type
}

func deletionsOn(j *config.Job) bool { return j.Deletions == nil || *j.Deletions }

// DefaultMaxDeletions is how many of a catalog job's products one run may
// delete: more looks like a truncated export, not a clean-up.
var DefaultMaxDeletions = config.PercentLimit(25, 10)

func maxDeletions(j *config.Job) config.Limit { return j.MaxDeletions.Or(DefaultMaxDeletions) }

func (r *Runner) plugin(j *config.Job) (*pluginmgr.Plugin, error) {
	if r.opt.Plugin == nil {
		return nil, errors.New("no plugins configured")
	}
	p, ok := r.opt.Plugin(j.Plugin)
	if !ok || p == nil {
		return nil, fmt.Errorf("plugin %q is not running: %w", j.Plugin, pluginmgr.ErrUnavailable)
	}
	return p, nil
}

// jobDir is where a job's part files and error report live.
func (r *Runner) jobDir(job string) string {
	return filepath.Join(r.opt.StateDir, "feeds", safeName(job))
}

func partPath(dir string, n int) string { return filepath.Join(dir, fmt.Sprintf("part-%04d.csv", n)) }

// safeName keeps a job name usable as a directory name.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] == '.' {
		return "_" + string(b)
	}
	return string(b)
}

func (r *Runner) lock(job string) (func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[job] {
		return nil, fmt.Errorf("feed job %s: %w", job, ErrRunning)
	}
	r.running[job] = true
	return func() {
		r.mu.Lock()
		delete(r.running, job)
		r.mu.Unlock()
	}, nil
}

// Result summarises a run.
type Result struct {
	Job, Kind, API string
	// Read counts the rows the plugin read: records (valid or not) and
	// rows it rejected.
	Read int
	// RejectedByPlugin counts rows the plugin could not map.
	RejectedByPlugin int
	// Invalid counts rows the local validator rejected.
	Invalid int
	// Unchanged counts rows not sent because Stripe accepted the same
	// content before (incremental jobs).
	Unchanged int
	// Sent counts the rows written to the feed, deletions included.
	Sent int
	// Deleted counts delete=true rows among Sent.
	Deleted int
	// HeldDeletions counts products gone from the backend whose deletion
	// was not sent because they were more than max_deletions allows; the
	// run then fails after sending the rest.
	HeldDeletions int
	Parts         int
	Bytes         int64
	// Uploads and Imports are the store's upload ids and Stripe's import
	// ids of the parts sent.
	Uploads []int64
	Imports []string
	// Skipped says why nothing was uploaded ("" when something was).
	Skipped string
	// ErrorReport is the local error report ("" when no row was rejected).
	ErrorReport string
	Duration    time.Duration
}

// Summary is the one-line description of the run for logs and the status
// page.
func (r Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s feed: %d read", r.Kind, r.Read)
	if r.Unchanged > 0 {
		fmt.Fprintf(&b, ", %d unchanged", r.Unchanged)
	}
	if r.Invalid > 0 {
		fmt.Fprintf(&b, ", %d invalid", r.Invalid)
	}
	if r.RejectedByPlugin > 0 {
		fmt.Fprintf(&b, ", %d rejected by the plugin", r.RejectedByPlugin)
	}
	if r.Skipped != "" {
		fmt.Fprintf(&b, "; nothing uploaded: %s", r.Skipped)
	} else {
		fmt.Fprintf(&b, "; %d rows", r.Sent)
		if r.Deleted > 0 {
			fmt.Fprintf(&b, " (%d deletions)", r.Deleted)
		}
		fmt.Fprintf(&b, " uploaded in %d part(s), %s", r.Parts, humanBytes(r.Bytes))
		if len(r.Imports) > 0 {
			fmt.Fprintf(&b, ", import %s", strings.Join(r.Imports, ", "))
		}
	}
	if r.HeldDeletions > 0 {
		fmt.Fprintf(&b, "; %d deletions held back (over max_deletions)", r.HeldDeletions)
	}
	if r.ErrorReport != "" {
		fmt.Fprintf(&b, "; rejected rows in %s", r.ErrorReport)
	}
	return b.String()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// runRecord is what a run leaves under "run:<job>" until all its uploads are
// final: what to commit when they were all accepted.
type runRecord struct {
	Uploads []int64 `json:"uploads"`
	Cursor  string  `json:"cursor"`
	Content string  `json:"content"`
	// Replace: the run's single product part goes to the v2 API in replace
	// mode (a resumed upload must send the same request).
	Replace bool `json:"replace,omitempty"`
}

func cursorKey(job string) string  { return "cursor:" + job }
func contentKey(job string) string { return "content:" + job }
func runKey(job string) string     { return "run:" + job }

func (r *Runner) loadRun(ctx context.Context, job string) (*runRecord, error) {
	v, err := r.st.GetCursor(ctx, runKey(job))
	if err != nil || v == "" {
		return nil, err
	}
	var rec runRecord
	if err := json.Unmarshal([]byte(v), &rec); err != nil {
		return nil, fmt.Errorf("run record of %s: %w", job, err)
	}
	return &rec, nil
}

func (r *Runner) saveRun(ctx context.Context, job string, rec *runRecord) error {
	if rec == nil {
		return r.st.SetCursor(ctx, runKey(job), "")
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return r.st.SetCursor(ctx, runKey(job), string(b))
}

// Run runs one catalog, inventory or price job.
func (r *Runner) Run(ctx context.Context, j *config.Job) (Result, error) {
	start := time.Now()
	job := jobName(j)
	res := Result{Job: job, API: r.opt.UploadAPI}
	kind, readKind, err := feedKind(j.Type)
	if err != nil {
		return res, err
	}
	res.Kind = kind.String()
	if r.st == nil {
		return res, fmt.Errorf("feed job %s: %w", job, r.stErr)
	}
	unlock, err := r.lock(job)
	if err != nil {
		return res, err
	}
	defer unlock()
	if j.Timeout.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.Timeout.Duration)
		defer cancel()
	}
	res, err = r.run(ctx, j, job, kind, readKind, res)
	if res.HeldDeletions > 0 {
		err = errors.Join(err, fmt.Errorf("%d products are gone from %s, more than jobs.%s.max_deletions (%s) allows: their deletion was not sent (the rest of the catalog was). "+
			"If the export is complete, raise max_deletions (or set it to off) for this run; otherwise fix the export",
			res.HeldDeletions, j.Plugin, job, maxDeletions(j)))
	}
	res.Duration = time.Since(start)
	if err != nil {
		r.log.Warn("feed job failed", "job", job, "err", err)
		return res, fmt.Errorf("feed job %s: %w", job, err)
	}
	r.log.Info("feed job done", "job", job, "summary", res.Summary(), "took", res.Duration.Round(time.Millisecond))
	return res, nil
}

func (r *Runner) run(ctx context.Context, j *config.Job, job string, kind feed.Kind, readKind pluginmgr.ReadKind, res Result) (Result, error) {
	up, err := r.uploader("")
	if err != nil {
		return res, err
	}
	// 1. Finish what a crashed run left, then wait for earlier uploads.
	deletions := kind == feed.Product && deletionsOn(j)
	if err := r.repair(ctx, job); err != nil {
		return res, err
	}
	deadline := time.Now().Add(j.WaitForPrevious.Or(DefaultWaitForPrevious))
	if err := r.waitPrevious(ctx, job, deadline); err != nil {
		return res, err
	}
	if _, err := r.st.ForgetItemsWithHash(ctx, job, deletedHash); err != nil {
		return res, err
	}
	p, err := r.plugin(j)
	if err != nil {
		return res, err
	}
	cursor := ""
	if !deletions {
		if cursor, err = r.st.GetCursor(ctx, cursorKey(job)); err != nil {
			return res, err
		}
	}

	// 2. Build.
	dir := r.jobDir(job)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return res, fmt.Errorf("state dir: %w", err)
	}
	if old, _ := filepath.Glob(filepath.Join(dir, "part-*.csv")); len(old) > 0 {
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	b := &build{
		r: r, job: job, kind: kind, readKind: readKind, plugin: p, source: j.Plugin, cursor: cursor,
		dir: dir, errPath: filepath.Join(dir, "errors.csv"), maxPart: r.opt.MaxPartBytes,
		stage: true, incremental: kind != feed.Product, deletions: deletions, maxDeletions: maxDeletions(j), api: up.API(),
	}
	out, err := b.run(ctx)
	res.HeldDeletions = out.held
	res.Read, res.RejectedByPlugin, res.Invalid, res.Unchanged = out.read+out.rejected, out.rejected, out.stats.Invalid-out.rejected, out.unchanged
	res.Sent, res.Deleted, res.Parts, res.Bytes = out.stats.Valid, out.deleted, len(out.parts), out.stats.Bytes
	if out.stats.Invalid > 0 {
		res.ErrorReport = b.errPath
	}
	r.countRows(job, res)
	if err != nil {
		b.discard(context.WithoutCancel(ctx))
		return res, err
	}

	// 3. Nothing valid, or nothing new.
	if len(out.parts) == 0 {
		if out.stats.Invalid > 0 {
			if err := r.recordNothingValid(ctx, job, kind, j.Plugin, up.API(), b.errPath, out.stats.Invalid); err != nil {
				return res, err
			}
			res.Skipped = fmt.Sprintf("no valid row (%d rejected)", out.stats.Invalid)
		} else if res.Unchanged > 0 {
			res.Skipped = "no changes since the last accepted upload"
		} else {
			res.Skipped = "the plugin sent no rows"
		}
		return res, r.commitCursor(ctx, job, out.cursor, "")
	}
	content := out.content
	last, err := r.st.GetCursor(ctx, contentKey(job))
	if err != nil {
		b.discard(context.WithoutCancel(ctx))
		return res, err
	}
	// Incremental feeds hold only rows that differ from what Stripe
	// accepted; an identical one can only be rows Stripe rejected, which
	// are worth another try. So the check is for full (product) feeds.
	if kind == feed.Product && content == last && out.vanished == 0 {
		b.discard(context.WithoutCancel(ctx))
		res.Skipped = "identical to the last accepted upload"
		return res, r.commitCursor(ctx, job, out.cursor, "")
	}

	// 4. Serialisation again (another process may have uploaded meanwhile).
	if err := r.waitPrevious(ctx, job, deadline); err != nil {
		b.discard(context.WithoutCancel(ctx))
		return res, err
	}

	// 5. Record the run, then send.
	ids := make([]int64, len(out.parts))
	for i, pt := range out.parts {
		ids[i] = pt.upload.ID
	}
	if out.stats.Invalid > 0 {
		if err := r.recordLocalErrors(ctx, ids[0], b.errPath); err != nil {
			b.discard(context.WithoutCancel(ctx))
			return res, err
		}
	}
	for _, pt := range out.parts {
		u := pt.upload
		u.Status, u.Parts, u.ContentSHA256, u.RowsSent = StatusUploading, len(out.parts), pt.sha, pt.rows
		if err := r.st.UpdateUpload(ctx, u); err != nil {
			b.discard(context.WithoutCancel(ctx))
			return res, err
		}
	}
	// v2's replace mode makes Stripe delete every product absent from the
	// file. It is asked for only when that means the same as the delete
	// rows: deletions on, one part (replace on several parts would delete
	// each other's products), and no row rejected here (a product whose row
	// is broken today stays in Stripe as last accepted).
	replace := up.API() == stripeapi.UploadAPIV2 && deletions && out.held == 0 && len(out.parts) == 1 && out.stats.Invalid == 0
	if err := r.saveRun(ctx, job, &runRecord{Uploads: ids, Cursor: out.cursor, Content: content, Replace: replace}); err != nil {
		return res, err
	}
	res.Uploads = ids
	var errs []error
	for _, pt := range out.parts {
		imp, err := r.send(ctx, pt.upload, dir, replace, false)
		if err != nil {
			errs = append(errs, err)
			if !isPermanent(err) {
				break // left as "uploading": the next run resumes it with the same keys
			}
			continue
		}
		res.Imports = append(res.Imports, imp)
	}
	return res, errors.Join(errs...)
}

// commitCursor stores the plugin cursor (as the plugin sent it) and, when
// given, the content hash: for a run that sent nothing right away, for one
// that did once Stripe accepted all of it.
func (r *Runner) commitCursor(ctx context.Context, job, cursor, content string) error {
	if err := r.st.SetCursor(ctx, cursorKey(job), cursor); err != nil {
		return err
	}
	if content != "" {
		return r.st.SetCursor(ctx, contentKey(job), content)
	}
	return nil
}

func (r *Runner) countRows(job string, res Result) {
	m := r.opt.Metrics
	m.Add(metrics.FeedRowsC, float64(res.Sent-res.Deleted), job, "valid")
	m.Add(metrics.FeedRowsC, float64(res.Invalid), job, "invalid")
	m.Add(metrics.FeedRowsC, float64(res.RejectedByPlugin), job, "rejected_by_plugin")
	m.Add(metrics.FeedRowsC, float64(res.Unchanged), job, "unchanged")
	m.Add(metrics.FeedRowsC, float64(res.Deleted), job, "deleted")
}

// repair finishes what an interrupted run of job left behind: builds are
// deleted (Stripe never saw them), uploads are resumed with their keys.
func (r *Runner) repair(ctx context.Context, job string) error {
	pending, err := r.st.PendingUploads(ctx)
	if err != nil {
		return err
	}
	dir := r.jobDir(job)
	for i := range pending {
		u := &pending[i]
		if u.Job != job || u.ImportID != "" {
			continue
		}
		switch u.Status {
		case StatusBuilding:
			r.log.Info("removing the upload record of an interrupted build", "job", job, "upload", u.ID)
			if err := r.st.DeleteUpload(ctx, u.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		case StatusUploading:
			r.log.Info("resuming an interrupted upload with its idempotency keys", "job", job, "upload", u.ID, "part", u.Part)
			rec, err := r.loadRun(ctx, job)
			if err != nil {
				return err
			}
			replace := rec != nil && rec.Replace && slices.Contains(rec.Uploads, u.ID)
			if _, err := r.send(ctx, u, dir, replace, true); err != nil {
				if !isPermanent(err) {
					return fmt.Errorf("resume upload %d: %w", u.ID, err)
				}
			}
		}
	}
	return nil
}

// send uploads one part: File (ImportSet API) and import, storing each step
// so a crash resumes at the right place with the same idempotency keys.
// replace asks for v2's replace mode; resumed says the part was built by an
// earlier run, so its file is checked against the recorded hash first.
func (r *Runner) send(ctx context.Context, u *store.Upload, dir string, replace, resumed bool) (string, error) {
	up, err := r.uploader(u.API)
	if err != nil {
		return "", err
	}
	kind, err := feed.ParseKind(u.Kind)
	if err != nil {
		return "", err
	}
	path := partPath(dir, u.Part)
	f := stripeapi.FeedFile{Path: path, Kind: kind, SHA256: u.ContentSHA256, Attempt: "u" + strconv.FormatInt(u.ID, 10)}
	if up.API() == stripeapi.UploadAPIV2 {
		if replace && kind == feed.Product {
			f.Mode = "replace"
		}
		f.Metadata = map[string]string{"acs_job": u.Job, "acs_part": fmt.Sprintf("%d/%d", u.Part, u.Parts), "acs_sha256": u.ContentSHA256}
	}
	fail := func(err error) (string, error) {
		if isPermanent(err) {
			u.Status, u.FailedReason = store.UploadFailed, truncate(err.Error(), 500)
			if uerr := r.st.UpdateUpload(context.WithoutCancel(ctx), u); uerr != nil {
				err = errors.Join(err, uerr)
			}
			r.opt.Metrics.Inc(metrics.ImportOutcomesC, u.Job, store.UploadFailed)
			r.finishRun(context.WithoutCancel(ctx), u.Job)
		}
		return "", fmt.Errorf("upload %d (part %d of %d): %w", u.ID, u.Part, u.Parts, err)
	}
	// A resumed upload still needs its part file, unchanged.
	if resumed && (u.FileID == "" || up.API() == stripeapi.UploadAPIV2) {
		sum, size, err := fileSHA256(path)
		if err != nil || sum != u.ContentSHA256 {
			if err == nil {
				err = fmt.Errorf("%s changed since it was built", path)
			}
			return fail(&permanentError{fmt.Errorf("the part file is gone, so it cannot be sent (Stripe imported nothing from it): %w", err)})
		}
		f.Size = size
	} else if fi, err := os.Stat(path); err == nil {
		f.Size = fi.Size()
	}
	if u.FileID == "" {
		ref, err := up.UploadFile(ctx, f)
		if err != nil {
			return fail(err)
		}
		if ref != "" {
			u.FileID = ref
			if err := r.st.UpdateUpload(ctx, u); err != nil {
				return "", err
			}
		}
		if err := r.step(ctx, "file-uploaded", u); err != nil {
			return "", err
		}
	}
	imp, err := up.StartImport(ctx, f, u.FileID)
	if err != nil {
		return fail(err)
	}
	if err := r.step(ctx, "import-created", u); err != nil {
		return "", err
	}
	u.ImportID = imp.ID
	u.Status = imp.Status
	setCounts(u, imp)
	if err := r.st.UpdateUpload(ctx, u); err != nil {
		return "", err
	}
	r.log.Info("feed part uploaded", "job", u.Job, "upload", u.ID, "part", u.Part, "parts", u.Parts,
		"import", imp.ID, "status", imp.Status, "rows", u.RowsSent, "replayed", imp.Replayed)
	if imp.Final {
		if err := r.trackOne(ctx, u); err != nil {
			r.log.Warn("finishing an import", "import", imp.ID, "err", err)
		}
	}
	return imp.ID, nil
}

func (r *Runner) step(ctx context.Context, step string, u *store.Upload) error {
	if r.afterStep == nil {
		return nil
	}
	return r.afterStep(ctx, step, u)
}

// isPermanent reports a send failure that trying again cannot fix: the upload
// is marked failed instead of being left for a resume.
func isPermanent(err error) bool {
	var pe *permanentError
	return stripeapi.IsPermanentUpload(err) || errors.As(err, &pe)
}

// permanentError marks a send failure no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
