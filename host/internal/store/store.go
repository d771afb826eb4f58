// Package store is the connector's state: feed uploads and their row hashes,
// cursors, hook idempotency records, the order ledger, order updates, job runs
// and per-tick locks.
//
// Two implementations sit behind the one Store interface: SQLite (the default,
// one host) and PostgreSQL (several hosts sharing one database). Open applies
// the embedded, versioned migrations of the chosen dialect before returning.
//
// Times are stored with microsecond precision and returned in UTC; a zero
// time.Time means "not set" (NULL in the database).
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned (wrapped) when the requested record does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrNotClaimed is returned (wrapped) by CompleteOrder when the order is not in
// state pushing, i.e. the caller does not hold the claim (any more).
var ErrNotClaimed = errors.New("store: order is not claimed (state is not pushing)")

// Upload statuses. Stripe's own import statuses are stored as they come; the
// final ones (after which an upload is no longer tracked) are listed here.
const (
	UploadPending             = "pending" // default for CreateUpload with an empty Status
	UploadSucceeded           = "succeeded"
	UploadSucceededWithErrors = "succeeded_with_errors"
	UploadFailed              = "failed"
	UploadArchived            = "archived"
)

// IsFinalUploadStatus reports whether status is one after which an upload is
// no longer pending.
func IsFinalUploadStatus(status string) bool {
	switch status {
	case UploadSucceeded, UploadSucceededWithErrors, UploadFailed, UploadArchived:
		return true
	}
	return false
}

// Upload APIs.
const (
	APIImportSet = "importset"
	APIV2        = "v2"
)

// Upload error sources.
const (
	ErrorSourceStripe = "stripe"
	ErrorSourceLocal  = "local"
)

// Order states: received -> pushing -> accepted | rejected | failed; a failed
// order is claimed again (pushing) until it has been attempted
// MaxOrderAttempts times.
const (
	OrderReceived = "received"
	OrderPushing  = "pushing"
	OrderAccepted = "accepted"
	OrderRejected = "rejected"
	OrderFailed   = "failed"
)

// MaxOrderAttempts is how many claims a failed order gets in total; a failed
// order with Attempts >= MaxOrderAttempts is no longer retried.
const MaxOrderAttempts = 10

// Capture and refund states of an order.
const (
	CapturePending     = "pending"
	CaptureCaptured    = "captured"
	CaptureFailed      = "failed"
	CaptureNotRequired = "not_required"

	RefundPending  = "pending"
	RefundRefunded = "refunded"
	RefundFailed   = "failed"
)

// OrderUpdateReclaimAfter is how long an order update may stay begun but
// unfinished before BeginOrderUpdate hands it out again (its processor is then
// assumed to have crashed).
const OrderUpdateReclaimAfter = 10 * time.Minute

// TickRetention is how long TryLockTick remembers that a (job, tick) ran.
const TickRetention = 30 * 24 * time.Hour

// Upload is one file uploaded to Stripe.
type Upload struct {
	ID            int64
	Job           string
	Kind          string
	Source        string
	ContentSHA256 string
	Part, Parts   int
	FileID        string
	ImportID      string
	API           string // APIImportSet | APIV2
	Status        string
	RowsSent      int
	RowsProcessed int
	RowsSucceeded int
	RowsFailed    int
	FailedReason  string
	ErrorFileID   string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	FinishedAt    time.Time
}

// UploadErrorRow is one rejected row, from Stripe's error file or the local
// validator.
type UploadErrorRow struct {
	UploadID int64
	Line     int
	ItemID   string
	Message  string
	RawCSV   string
	Source   string // ErrorSourceStripe | ErrorSourceLocal
}

// RowHash is the hash of one feed row as sent.
type RowHash struct {
	ItemID string
	Hash   string
}

// HookRecord is the stored answer to one Stripe hook. Response is nil while the
// first delivery is still being answered.
type HookRecord struct {
	ID         string
	Kind       string
	Response   []byte
	CreatedAt  time.Time
	FinishedAt time.Time
	// LeaseUntil is when an unfinished hook may be taken over by BeginHook.
	LeaseUntil time.Time
}

// Order is one checkout session in the fulfilment ledger.
type Order struct {
	SessionID       string
	State           string // OrderReceived | OrderPushing | OrderAccepted | OrderRejected | OrderFailed
	Attempts        int
	LeaseUntil      time.Time
	BackendRef      string
	Reason          string
	OrderJSON       []byte
	PaymentIntentID string
	Currency        string
	AmountTotal     int64
	Capture         string // "" | CapturePending | CaptureCaptured | CaptureFailed | CaptureNotRequired
	AmountRefunded  int64
	Refund          string // "" | RefundPending | RefundRefunded | RefundFailed
	LastError       string
	SessionCreated  time.Time
	ReceivedAt      time.Time
	UpdatedAt       time.Time
}

// SettleQuery narrows OrdersToSettle to the settlements the caller makes.
// The orders it leaves out on purpose (an authorization kept until shipment,
// a rejected order left paid for a refund by hand) are not returned, so any
// number of them cannot crowd the limit.
type SettleQuery struct {
	// CaptureAccepted adds accepted orders whose Capture is pending or
	// failed (capture on acceptance).
	CaptureAccepted bool
	// RefundRejected adds rejected orders that were captured and whose
	// Refund is not refunded.
	RefundRejected bool
	// UpdatedBefore, if set, leaves out orders updated at or after it (rows
	// a worker is settling right now).
	UpdatedBefore time.Time
}

// Run is one execution of a scheduled job.
type Run struct {
	ID         int64
	Job        string
	Tick       time.Time
	Host       string
	StartedAt  time.Time
	FinishedAt time.Time // zero while running
	Outcome    string
	Message    string
}

// Store is the connector's state store. All methods are safe for concurrent
// use; errors are wrapped with context, and ErrNotFound is used for missing
// records.
type Store interface {
	// CreateUpload inserts u and sets u.ID, u.CreatedAt and u.UpdatedAt. An
	// empty Status becomes UploadPending.
	CreateUpload(ctx context.Context, u *Upload) error
	// UpdateUpload stores every field of u except ID, Job and CreatedAt, by
	// ID, and sets u.UpdatedAt. When Status becomes final and FinishedAt is
	// zero, FinishedAt is set to now. When Status becomes failed or archived,
	// the rows staged for the upload are discarded (it can no longer be
	// accepted).
	UpdateUpload(ctx context.Context, u *Upload) error
	// GetUploadByImportID returns the newest upload with that import ID.
	GetUploadByImportID(ctx context.Context, importID string) (*Upload, error)
	// FindUploadByContent returns the newest upload of job with that content
	// hash, whatever its status.
	FindUploadByContent(ctx context.Context, job, sha string) (*Upload, error)
	// LastAcceptedUpload returns the newest upload of job with status
	// succeeded or succeeded_with_errors.
	LastAcceptedUpload(ctx context.Context, job string) (*Upload, error)
	// PendingUploads returns the uploads not in a final status, oldest first.
	PendingUploads(ctx context.Context) ([]Upload, error)
	// RecentUploads returns up to limit uploads, newest first (limit <= 0:
	// all).
	RecentUploads(ctx context.Context, limit int) ([]Upload, error)
	// AddUploadErrors records rejected rows of an upload (the rows' UploadID
	// is ignored).
	AddUploadErrors(ctx context.Context, uploadID int64, rows []UploadErrorRow) error
	// UploadErrors returns up to limit error rows of an upload ordered by
	// line (limit <= 0: all).
	UploadErrors(ctx context.Context, uploadID int64, limit int) ([]UploadErrorRow, error)

	// StageRows records the hashes of rows sent in upload uploadID of job.
	// The upload must exist. Rows are written in transactions of a few
	// thousand; staging the same item twice keeps the last hash.
	StageRows(ctx context.Context, job string, uploadID int64, rows []RowHash) error
	// AcceptUpload makes the hashes staged for uploadID the accepted ones,
	// except for failedItemIDs (whose previously accepted hash, if any, is
	// kept), and drops the staged rows. An item's accepted hash is never
	// replaced by one from an older upload (lower ID) than the upload it was
	// accepted from, so uploads may be accepted out of order. Safe to call
	// again after a crash.
	AcceptUpload(ctx context.Context, job string, uploadID int64, failedItemIDs []string) error
	// AcceptedHashes calls fn for every accepted (itemID, hash) of job,
	// ordered by itemID (byte-wise, like Go string comparison), reading in
	// pages (SQLite) or from one streamed query (PostgreSQL) so that memory
	// stays flat. fn may call other Store methods. An error from fn stops the
	// iteration and is returned as is.
	AcceptedHashes(ctx context.Context, job string, fn func(itemID, hash string) error) error
	// ForgetItems removes accepted hashes (after a delete=true row for them
	// was accepted). A tombstone stays behind while an older upload with
	// staged rows could otherwise bring the item back; it carries the ID of
	// the upload the item's hash was last accepted from, so stage the
	// delete=true rows (any hash) for it to be the deleting upload.
	ForgetItems(ctx context.Context, job string, itemIDs []string) error
	// SyncMethods: per-batch hash lookups, vanished items, forgetting by
	// hash, and dropping uploads that never reached Stripe (sync.go).
	SyncMethods

	// GetCursor returns the value stored under key, "" when absent.
	GetCursor(ctx context.Context, key string) (string, error)
	// SetCursor stores value under key.
	SetCursor(ctx context.Context, key, value string) error

	// BeginHook starts answering hook hookID. started=true: the caller owns
	// it and must call FinishHook; it owns it until lease has passed, after
	// which a retry takes it over. Otherwise existing is the stored record;
	// its Response is nil while the owner is still answering.
	BeginHook(ctx context.Context, hookID, kind string, lease time.Duration) (existing *HookRecord, started bool, err error)
	// FinishHook stores the answer to hookID. The first answer stored wins;
	// finishing an already finished hook is a no-op.
	FinishHook(ctx context.Context, hookID string, response []byte) error
	// GetHook returns the stored record of hookID.
	GetHook(ctx context.Context, hookID string) (*HookRecord, error)

	// RecordOrder inserts o in state received if no order with its SessionID
	// exists (then it sets o.State, o.Attempts, o.ReceivedAt, o.UpdatedAt),
	// else does nothing. It reports whether o was inserted.
	RecordOrder(ctx context.Context, o *Order) (created bool, err error)
	// ClaimOrder atomically moves the order to pushing, increments Attempts
	// and sets LeaseUntil = now+lease, if it is received, or pushing with an
	// expired lease, or failed with Attempts < MaxOrderAttempts. ok=false
	// (with the current order) when someone else holds the claim or the order
	// is final.
	ClaimOrder(ctx context.Context, sessionID string, lease time.Duration) (o *Order, ok bool, err error)
	// CompleteOrder moves a pushing order to accepted, rejected or failed.
	// For accepted and rejected, backendRef and reason are stored; for
	// failed, reason is stored as LastError. ErrNotClaimed when the order is
	// not pushing.
	CompleteOrder(ctx context.Context, sessionID string, state, backendRef, reason string) error
	// UpdateOrderPayment reads the order, calls fn and writes back the
	// payment fields (PaymentIntentID, Currency, AmountTotal, Capture,
	// AmountRefunded, Refund, LastError) in one transaction with the row
	// locked. fn must not call the Store. An error from fn aborts the update.
	UpdateOrderPayment(ctx context.Context, sessionID string, fn func(o *Order) error) error
	// GetOrder returns one order.
	GetOrder(ctx context.Context, sessionID string) (*Order, error)
	// RecentOrders returns up to limit orders, newest first (limit <= 0: all).
	RecentOrders(ctx context.Context, limit int) ([]Order, error)
	// OrdersToRetry returns up to limit orders ClaimOrder would claim at now:
	// received, pushing with a lease expired at now, or failed with Attempts
	// < MaxOrderAttempts; oldest first.
	OrdersToRetry(ctx context.Context, now time.Time, limit int) ([]Order, error)
	// OrdersToSettle returns up to limit orders (limit <= 0: all) whose
	// money is not settled, however old: rejected orders whose payment is
	// only authorised (Capture pending or failed: the authorization is to be
	// released), plus what q asks for; least recently updated first, so an
	// order whose settlement keeps failing does not starve the others. A
	// partial index holds exactly the candidate rows.
	OrdersToSettle(ctx context.Context, q SettleQuery, limit int) ([]Order, error)
	// CountOrdersByState returns the number of orders per state.
	CountOrdersByState(ctx context.Context) (map[string]int, error)

	// BeginOrderUpdate records update updateID; started=false when it was
	// seen before (unless it was begun more than OrderUpdateReclaimAfter ago
	// and never finished).
	BeginOrderUpdate(ctx context.Context, updateID, sessionID, kind string, payload []byte) (started bool, err error)
	// FinishOrderUpdate records the outcome of an update.
	FinishOrderUpdate(ctx context.Context, updateID, outcome, refundID string) error

	// Prune deletes history older than r allows, as of now: hook answers,
	// finished job runs (keeping each job's newest) and the error rows of
	// finished uploads. It deletes in small batches.
	Prune(ctx context.Context, now time.Time, r Retention) (Pruned, error)

	// StartRun records the start of a job run.
	StartRun(ctx context.Context, job string, tick time.Time, host string) (runID int64, err error)
	// FinishRun records the end of a job run.
	FinishRun(ctx context.Context, runID int64, outcome, message string) error
	// RecentRuns returns up to limit runs of job, newest first (limit <= 0:
	// all).
	RecentRuns(ctx context.Context, job string, limit int) ([]Run, error)
	// LastRuns returns the newest run of every job, ordered by job.
	LastRuns(ctx context.Context) ([]Run, error)
	// TryLockTick takes the lock of job for one tick. ok=false when another
	// run of job holds the lock (on any host) or when this tick already ran.
	// The caller must call unlock (once; later calls are no-ops) when done.
	// On PostgreSQL the lock is a transaction-scoped advisory lock held on a
	// dedicated connection, so a host that dies releases it; the tick is
	// recorded in the same transaction, so a tick whose host died may run
	// again. On SQLite the lock is process-local and the tick is recorded
	// immediately.
	TryLockTick(ctx context.Context, job string, tick time.Time) (unlock func(), ok bool, err error)

	// Ping checks that the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the database. Held tick locks are released.
	Close() error
}

// Open opens (creating if needed) and migrates the store. driver is "sqlite"
// (dsn is a file path, or ":memory:") or "postgres" (dsn is a libpq URL or
// keyword/value string; tables live in the connection's current schema).
func Open(ctx context.Context, driver, dsn string) (Store, error) {
	switch driver {
	case "sqlite", "sqlite3":
		return openSQLite(ctx, dsn)
	case "postgres", "postgresql", "pgx":
		return openPostgres(ctx, dsn)
	default:
		return nil, fmt.Errorf("store: unknown driver %q (want sqlite or postgres)", driver)
	}
}
