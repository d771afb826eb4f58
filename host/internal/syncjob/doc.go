// Package syncjob runs the feed jobs: it reads a catalog, inventory or price
// feed from a backend plugin, builds and validates the feed files, uploads
// them to Stripe (stripeapi.Uploader: ImportSets or the v2 import API), and
// tracks the imports until Stripe accepts or rejects them.
//
// # Flat memory
//
// Records stream from the plugin into feed.Builder and straight to part files
// under StateDir/feeds/<job>/ (part-0001.csv, ...; a new part before one would
// exceed MaxPartBytes; errors.csv, the local error report, beside them). What
// is kept per row is one hash, written to the store per plugin batch; lookups
// of accepted hashes are per batch too (store.SyncMethods.AcceptedHashesFor),
// and vanished ids come from a paged query. Nothing holds the catalog. (An
// ImportSet upload holds one part in memory while stripe-go sends it: memory
// is bounded by MaxPartBytes, see stripeapi.)
//
// # What is sent
//
// Catalog jobs send the full product feed. Rows the local validator rejects,
// and rows the plugin could not map, go to the error report and to the store
// as upload error rows (source "local"); they are not uploaded, the valid
// rows still are. With deletions on (job.Deletions, default true) every id of
// the run is staged, and accepted ids that are absent now (store
// VanishedItems) are appended as delete=true rows. A row that is present but
// invalid is not "absent": its product stays in Stripe as last accepted. A
// run with no valid row deletes nothing. Catalog jobs with deletions on read
// the plugin in full (no cursor), since a cursor read may return only the
// changed rows, which would make every other product look deleted.
//
// Inventory and price jobs are incremental: a row is sent only when its hash
// differs from the hash of the last upload Stripe accepted for that job and
// item. Rows Stripe rejected keep their old hash and so are sent again.
//
// A catalog build identical to the last one Stripe accepted is not uploaded:
// the run's content hash (SHA-256 over the header, the hashes of the live
// rows and the explicit deletions, in order) is compared with the one
// committed when that run was accepted. Rows for vanished ids are left out of
// the hash, so the run after a deletion is "identical" again. (Incremental
// feeds need no such check: they only hold rows that differ from what Stripe
// accepted.)
//
// With stripe.upload_api v2, a catalog run with deletions on, a single part
// and no rejected row is sent in replace mode, which makes Stripe delete every
// product absent from the file, including ones the connector never sent;
// otherwise upsert. The delete=true rows are sent either way.
//
// # Out-of-order protection
//
// Stripe processes uploads as independent tasks and "a later upload can
// finish before an earlier one". Two uploads of one job in flight at once
// could therefore land out of order, an older inventory file overwriting a
// newer one. So uploads are serialised per job: before a run reads the
// plugin, and again right before it uploads, it waits until every earlier
// upload of the job has a final status, polling them itself, for at most
// job.WaitForPrevious (default 10 minutes). If one is still in progress the
// run fails with ErrPreviousPending and uploads nothing; its rows stay
// unaccepted, so the next run sends them. Accepted hashes are only ever
// replaced by newer uploads (store AcceptUpload), and a run that waited reads
// the hashes its predecessor left, so it sends exactly what changed since.
// Parts of one run hold disjoint ids (the builder rejects duplicates), so
// their order does not matter.
//
// This is per job: a catalog job and an inventory job of the same backend are
// not serialised against each other, and a product feed carries
// inventory_quantity too.
//
// # Crashes, restarts and idempotency
//
// Every part is an upload record in the store before anything is sent, and
// moves through three local statuses before Stripe's take over:
//
//	building   rows are being staged; nothing has been sent
//	uploading  the part is complete on disk and may be on its way to Stripe
//	(Stripe's) pending, creating_records, ... succeeded, failed ...
//
// The idempotency keys of a part's File, ImportSet and v2 import are derived
// from its content (SHA-256) and its upload record's id (stripeapi). A run
// starts by repairing its job: "building" records of a run that died are
// deleted (Stripe never heard of them), and "uploading" records are resumed
// with the same file and the same keys, so Stripe replays a File or an import
// it already created instead of creating a second one. The record id is part
// of the key so that the same bytes uploaded again later (a quantity that goes
// back to its old value within Stripe's 24-hour key window) are a new import
// and not a replay of the old one.
//
// # Plugin cursors
//
// A run passes the cursor stored under "cursor:<job>" to the plugin and
// records the cursor of the last batch in a run record ("run:<job>": the run's
// upload ids, that cursor and the content hash). The cursor and the content
// hash ("content:<job>") are committed only once every upload of the run has
// been accepted; if one fails, the next run reads from the old cursor and
// sends the rows again. A plugin that fails mid-stream fails the run before
// anything is uploaded.
//
// # Tracking
//
// PollPending (the daemon calls it every few seconds) and HandleImportEvent
// (data_management.import_set.* and v2.commerce.product_catalog.imports.*
// webhooks; both re-fetch the import) bring uploads to their final status.
// On succeeded_with_errors the error report is downloaded and its rows stored
// (source "stripe", with the line of the row in the uploaded part and the
// item id); the other rows of the upload are accepted (store AcceptUpload
// with the failed ids), and accepted deletions are forgotten. failed and
// archived uploads discard their staged rows.
package syncjob
