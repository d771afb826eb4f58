package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// env is one database to run the suite against.
type env struct {
	driver string
	// fresh returns the DSN of a new, empty database for one test.
	fresh func(t *testing.T) string
}

func (e env) open(t *testing.T, dsn string) Store {
	t.Helper()
	s, err := Open(context.Background(), e.driver, dsn)
	if err != nil {
		t.Fatalf("Open(%s): %v", e.driver, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (e env) new(t *testing.T) Store { return e.open(t, e.fresh(t)) }

// runSuite is the one behaviour suite every Store implementation passes.
func runSuite(t *testing.T, e env) {
	tests := []struct {
		name string
		fn   func(*testing.T, env)
	}{
		{"Migrations", testMigrations},
		{"ConcurrentOpen", testConcurrentOpen},
		{"Uploads", testUploads},
		{"UploadErrors", testUploadErrors},
		{"RowState", testRowState},
		{"RowOrder", testRowOrder},
		{"OlderUploadCannotClobberNewer", testOlderCannotClobber},
		{"ConcurrentAcceptsNewestWins", testConcurrentAccepts},
		{"ForgottenItemsStayForgotten", testTombstones},
		{"RowState200k", testRowStateLarge},
		{"Sync", runSyncSuite},
		{"Cursors", testCursors},
		{"Hooks", testHooks},
		{"HookRace", testHookRace},
		{"Orders", testOrders},
		{"OrderClaimRace", testOrderClaimRace},
		{"OrderLeaseAndRetry", testOrderLeaseAndRetry},
		{"OrderPayment", testOrderPayment},
		{"OrdersToSettle", testOrdersToSettle},
		{"OrderUpdates", testOrderUpdates},
		{"Runs", testRuns},
		{"Prune", testPrune},
		{"TickLocks", testTickLocks},
		{"TickLockRaceAcrossStores", testTickLockRace},
		{"TickLockReleasedWhenHostDies", testTickLockHostDies},
		{"PingClose", testPingClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, e) })
	}
}

var ctx = context.Background()

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func baseOf(s Store) *base {
	switch s := s.(type) {
	case *sqliteStore:
		return &s.base
	case *pgStore:
		return &s.base
	}
	panic(fmt.Sprintf("unknown store %T", s))
}

// sameFields compares two structs field by field, times with Equal and byte
// slices by content.
func sameFields(t *testing.T, what string, got, want any) {
	t.Helper()
	gv, wv := reflect.Indirect(reflect.ValueOf(got)), reflect.Indirect(reflect.ValueOf(want))
	for i := 0; i < gv.NumField(); i++ {
		name := gv.Type().Field(i).Name
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		switch g := g.(type) {
		case time.Time:
			if !g.Equal(w.(time.Time)) {
				t.Errorf("%s.%s = %v, want %v", what, name, g, w)
			}
		case []byte:
			if !bytes.Equal(g, w.([]byte)) {
				t.Errorf("%s.%s = %q, want %q", what, name, g, w)
			}
		default:
			if !reflect.DeepEqual(g, w) {
				t.Errorf("%s.%s = %#v, want %#v", what, name, g, w)
			}
		}
	}
}

func accepted(t *testing.T, s Store, job string) map[string]string {
	t.Helper()
	out := map[string]string{}
	must(t, s.AcceptedHashes(ctx, job, func(id, h string) error { out[id] = h; return nil }))
	return out
}

func newUpload(t *testing.T, s Store, job string) *Upload {
	t.Helper()
	u := &Upload{Job: job, Kind: job, ContentSHA256: fmt.Sprintf("sha-%d", rand.Int64())}
	must(t, s.CreateUpload(ctx, u))
	return u
}

// ------------------------------------------------------------------ migrations

func testMigrations(t *testing.T, e env) {
	dsn := e.fresh(t)
	s := e.open(t, dsn)
	migs, err := loadMigrations(baseOf(s).dialect)
	must(t, err)
	if len(migs) == 0 {
		t.Fatal("no migrations embedded")
	}
	countApplied := func(s Store) int {
		var n int
		must(t, baseOf(s).r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n))
		return n
	}
	if n := countApplied(s); n != len(migs) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(migs))
	}
	must(t, s.SetCursor(ctx, "k", "v"))
	must(t, s.Close())

	// Re-opening applies nothing and keeps the data.
	for i := 0; i < 2; i++ {
		s2 := e.open(t, dsn)
		if n := countApplied(s2); n != len(migs) {
			t.Fatalf("after re-open %d: schema_migrations has %d rows, want %d", i, n, len(migs))
		}
		if v, err := s2.GetCursor(ctx, "k"); err != nil || v != "v" {
			t.Fatalf("after re-open: cursor = %q, %v", v, err)
		}
		must(t, s2.Close())
	}

	if e.driver == "sqlite" {
		s3 := e.open(t, dsn)
		var mode string
		var fk int
		must(t, baseOf(s3).r.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode))
		must(t, baseOf(s3).w.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk))
		if mode != "wal" || fk != 1 {
			t.Fatalf("journal_mode = %q, foreign_keys = %d; want wal, 1", mode, fk)
		}
		// In-memory databases work too, including a callback that uses
		// the store while AcceptedHashes iterates.
		m := e.open(t, ":memory:")
		u := newUpload(t, m, "j")
		must(t, m.StageRows(ctx, "j", u.ID, []RowHash{{"a", "1"}, {"b", "2"}}))
		must(t, m.AcceptUpload(ctx, "j", u.ID, nil))
		must(t, m.AcceptedHashes(ctx, "j", func(id, h string) error { return m.SetCursor(ctx, id, h) }))
		if v, _ := m.GetCursor(ctx, "b"); v != "2" {
			t.Fatalf("in-memory cursor b = %q", v)
		}
		if _, err := Open(ctx, "sqlite", filepath.Join(t.TempDir(), "x.db?mode=ro")); err == nil {
			t.Fatal("Open accepted a path with '?'")
		}
	}
	if _, err := Open(ctx, "mysql", "x"); err == nil {
		t.Fatal("Open accepted an unknown driver")
	}
}

func testConcurrentOpen(t *testing.T, e env) {
	dsn := e.fresh(t)
	const n = 6
	stores := make([]Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, e.driver, dsn)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("concurrent Open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	migs, _ := loadMigrations(baseOf(stores[0]).dialect)
	var rows int
	must(t, baseOf(stores[0]).r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows))
	if rows != len(migs) {
		t.Fatalf("schema_migrations has %d rows after %d concurrent Opens, want %d", rows, n, len(migs))
	}
	for i, s := range stores {
		must(t, s.SetCursor(ctx, "c"+strconv.Itoa(i), "x"))
	}
}

// ------------------------------------------------------------------ uploads

func testUploads(t *testing.T, e env) {
	s := e.new(t)
	u1 := &Upload{Job: "catalog", Kind: "catalog", Source: "shopify", ContentSHA256: "aaa", Part: 1, Parts: 2, API: APIImportSet, RowsSent: 10}
	must(t, s.CreateUpload(ctx, u1))
	if u1.ID == 0 || u1.Status != UploadPending || u1.CreatedAt.IsZero() || !u1.UpdatedAt.Equal(u1.CreatedAt) || !u1.FinishedAt.IsZero() {
		t.Fatalf("after CreateUpload: %+v", u1)
	}
	if u1.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt not UTC: %v", u1.CreatedAt)
	}
	u2 := &Upload{Job: "catalog", Kind: "catalog", ContentSHA256: "aaa", Part: 2, Parts: 2, API: APIV2, Status: "uploading"}
	must(t, s.CreateUpload(ctx, u2))
	u3 := &Upload{Job: "inventory", Kind: "inventory", ContentSHA256: "bbb", Part: 1, Parts: 1}
	must(t, s.CreateUpload(ctx, u3))
	if !(u1.ID < u2.ID && u2.ID < u3.ID) {
		t.Fatalf("ids not increasing: %d %d %d", u1.ID, u2.ID, u3.ID)
	}
	if err := s.CreateUpload(ctx, &Upload{}); err == nil {
		t.Fatal("CreateUpload accepted an upload without job")
	}

	got, err := s.FindUploadByContent(ctx, "catalog", "aaa")
	must(t, err)
	sameFields(t, "FindUploadByContent", got, u2)
	_, err = s.FindUploadByContent(ctx, "catalog", "bbb")
	wantErr(t, err, ErrNotFound)
	_, err = s.LastAcceptedUpload(ctx, "catalog")
	wantErr(t, err, ErrNotFound)

	u1.ImportID, u1.FileID, u1.Status = "imp_1", "file_1", "processing"
	u1.RowsProcessed, u1.RowsSucceeded, u1.RowsFailed = 10, 9, 1
	u1.FailedReason, u1.ErrorFileID = "", "file_err"
	must(t, s.UpdateUpload(ctx, u1))
	if !u1.FinishedAt.IsZero() {
		t.Fatal("FinishedAt set for a non-final status")
	}
	got, err = s.GetUploadByImportID(ctx, "imp_1")
	must(t, err)
	sameFields(t, "GetUploadByImportID", got, u1)
	_, err = s.GetUploadByImportID(ctx, "imp_nope")
	wantErr(t, err, ErrNotFound)

	pending, err := s.PendingUploads(ctx)
	must(t, err)
	if len(pending) != 3 || pending[0].ID != u1.ID || pending[2].ID != u3.ID {
		t.Fatalf("PendingUploads = %+v", pending)
	}

	u1.Status = UploadSucceeded
	must(t, s.UpdateUpload(ctx, u1))
	if u1.FinishedAt.IsZero() {
		t.Fatal("FinishedAt not set for a final status")
	}
	got, err = s.LastAcceptedUpload(ctx, "catalog")
	must(t, err)
	sameFields(t, "LastAcceptedUpload", got, u1)

	u2.Status = UploadSucceededWithErrors
	finished := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	u2.FinishedAt = finished
	must(t, s.UpdateUpload(ctx, u2))
	got, err = s.LastAcceptedUpload(ctx, "catalog")
	must(t, err)
	if got.ID != u2.ID || !got.FinishedAt.Equal(finished) {
		t.Fatalf("LastAcceptedUpload = %+v, want upload %d finished at %v", got, u2.ID, finished)
	}
	u3.Status = UploadFailed
	u3.FailedReason = "bad file"
	must(t, s.UpdateUpload(ctx, u3))
	pending, err = s.PendingUploads(ctx)
	must(t, err)
	if len(pending) != 0 {
		t.Fatalf("PendingUploads = %+v, want none", pending)
	}

	recent, err := s.RecentUploads(ctx, 2)
	must(t, err)
	if len(recent) != 2 || recent[0].ID != u3.ID || recent[1].ID != u2.ID {
		t.Fatalf("RecentUploads(2) = %+v", recent)
	}
	sameFields(t, "RecentUploads[0]", &recent[0], u3)
	recent, err = s.RecentUploads(ctx, 0)
	must(t, err)
	if len(recent) != 3 {
		t.Fatalf("RecentUploads(0) returned %d", len(recent))
	}

	wantErr(t, s.UpdateUpload(ctx, &Upload{ID: 999999, Status: "x"}), ErrNotFound)
	for _, st := range []string{UploadSucceeded, UploadSucceededWithErrors, UploadFailed, UploadArchived} {
		if !IsFinalUploadStatus(st) {
			t.Errorf("%s not final", st)
		}
	}
	if IsFinalUploadStatus("processing") {
		t.Error("processing is final")
	}
}

func testUploadErrors(t *testing.T, e env) {
	s := e.new(t)
	u := newUpload(t, s, "catalog")
	other := newUpload(t, s, "catalog")
	rows := []UploadErrorRow{
		{Line: 7, ItemID: "sku-7", Message: "price: not a number", RawCSV: "sku-7,abc", Source: ErrorSourceStripe},
		{Line: 2, ItemID: "sku-2", Message: "title: empty", RawCSV: "sku-2,", Source: ErrorSourceLocal},
		{UploadID: other.ID, Line: 3, ItemID: "sku-3", Message: "x", Source: ErrorSourceLocal},
	}
	must(t, s.AddUploadErrors(ctx, u.ID, rows))
	got, err := s.UploadErrors(ctx, u.ID, 0)
	must(t, err)
	if len(got) != 3 {
		t.Fatalf("UploadErrors returned %d rows", len(got))
	}
	want := []UploadErrorRow{rows[1], rows[2], rows[0]}
	for i := range want {
		want[i].UploadID = u.ID
		sameFields(t, "UploadErrors["+strconv.Itoa(i)+"]", &got[i], &want[i])
	}
	got, err = s.UploadErrors(ctx, u.ID, 2)
	must(t, err)
	if len(got) != 2 || got[0].Line != 2 {
		t.Fatalf("UploadErrors(limit 2) = %+v", got)
	}
	if got, _ := s.UploadErrors(ctx, other.ID, 0); len(got) != 0 {
		t.Fatalf("errors leaked to another upload: %+v", got)
	}

	many := make([]UploadErrorRow, 1234)
	for i := range many {
		many[i] = UploadErrorRow{Line: i + 1, ItemID: "i" + strconv.Itoa(i), Message: "m", Source: ErrorSourceStripe}
	}
	must(t, s.AddUploadErrors(ctx, other.ID, many))
	got, err = s.UploadErrors(ctx, other.ID, 0)
	must(t, err)
	if len(got) != len(many) || got[len(got)-1].Line != len(many) {
		t.Fatalf("UploadErrors after 1234 rows: %d rows", len(got))
	}
	wantErr(t, s.AddUploadErrors(ctx, 999999, rows), ErrNotFound)
}

// ------------------------------------------------------------------ row state

func testRowState(t *testing.T, e env) {
	s := e.new(t)
	const job = "inventory"
	u1 := newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, u1.ID, []RowHash{{"a", "1"}, {"b", "1"}, {"c", "1"}, {"a", "1x"}}))
	if got := accepted(t, s, job); len(got) != 0 {
		t.Fatalf("staged rows visible before AcceptUpload: %v", got)
	}
	must(t, s.AcceptUpload(ctx, job, u1.ID, []string{"c"}))
	if got, want := accepted(t, s, job), map[string]string{"a": "1x", "b": "1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after upload 1: %v, want %v", got, want)
	}

	u2 := newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, u2.ID, []RowHash{{"b", "2"}, {"c", "2"}, {"d", "2"}}))
	must(t, s.AcceptUpload(ctx, job, u2.ID, nil))
	must(t, s.AcceptUpload(ctx, job, u2.ID, nil)) // again: nothing left to do
	if got, want := accepted(t, s, job), map[string]string{"a": "1x", "b": "2", "c": "2", "d": "2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after upload 2: %v, want %v", got, want)
	}

	// A failed item keeps its previous hash.
	u3 := newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, u3.ID, []RowHash{{"b", "3"}, {"d", "3"}}))
	must(t, s.AcceptUpload(ctx, job, u3.ID, []string{"b", "not-staged"}))
	if got, want := accepted(t, s, job), map[string]string{"a": "1x", "b": "2", "c": "2", "d": "3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after upload 3: %v, want %v", got, want)
	}

	// A failed upload's staged rows are discarded.
	u4 := newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, u4.ID, []RowHash{{"e", "4"}}))
	u4.Status = UploadFailed
	must(t, s.UpdateUpload(ctx, u4))
	must(t, s.AcceptUpload(ctx, job, u4.ID, nil))
	if got := accepted(t, s, job); got["e"] != "" {
		t.Fatalf("row of a failed upload was accepted: %v", got)
	}

	must(t, s.ForgetItems(ctx, job, []string{"a", "never-existed"}))
	if got, want := accepted(t, s, job), map[string]string{"b": "2", "c": "2", "d": "3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after ForgetItems: %v, want %v", got, want)
	}
	if got := accepted(t, s, "other-job"); len(got) != 0 {
		t.Fatalf("other job sees rows: %v", got)
	}

	// An error from the callback stops the iteration and comes back as is.
	stop := errors.New("stop")
	calls := 0
	err := s.AcceptedHashes(ctx, job, func(string, string) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("AcceptedHashes with failing callback: err %v after %d calls", err, calls)
	}

	// Misuse is reported.
	wantErr(t, s.StageRows(ctx, job, 999999, []RowHash{{"x", "1"}}), ErrNotFound)
	if err := s.StageRows(ctx, "catalog", u1.ID, []RowHash{{"x", "1"}}); err == nil {
		t.Fatal("StageRows accepted an upload of another job")
	}
	if err := s.StageRows(ctx, job, u1.ID, []RowHash{{"", "1"}}); err == nil {
		t.Fatal("StageRows accepted an empty item id")
	}
	wantErr(t, s.AcceptUpload(ctx, job, 999999, nil), ErrNotFound)
}

func testRowOrder(t *testing.T, e env) {
	s := e.new(t)
	ids := []string{"b", "B", "a", "_x", "10", "9", "é", "e", "Z", "a-1", "a_1", "a 1", "~"}
	u := newUpload(t, s, "j")
	var rows []RowHash
	for _, id := range ids {
		rows = append(rows, RowHash{id, "h-" + id})
	}
	must(t, s.StageRows(ctx, "j", u.ID, rows))
	must(t, s.AcceptUpload(ctx, "j", u.ID, nil))
	var got []string
	must(t, s.AcceptedHashes(ctx, "j", func(id, h string) error {
		if h != "h-"+id {
			t.Errorf("hash of %q = %q", id, h)
		}
		got = append(got, id)
		return nil
	}))
	want := slices.Clone(ids)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("AcceptedHashes order = %q, want byte order %q", got, want)
	}
}

func testOlderCannotClobber(t *testing.T, e env) {
	s := e.new(t)
	const job = "price"
	older := newUpload(t, s, job)
	newer := newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, older.ID, []RowHash{{"x", "old"}, {"y", "old"}}))
	must(t, s.StageRows(ctx, job, newer.ID, []RowHash{{"x", "new"}, {"z", "new"}}))
	must(t, s.AcceptUpload(ctx, job, newer.ID, nil))
	must(t, s.AcceptUpload(ctx, job, older.ID, nil)) // arrives late
	want := map[string]string{"x": "new", "y": "old", "z": "new"}
	if got := accepted(t, s, job); !reflect.DeepEqual(got, want) {
		t.Fatalf("after accepting older after newer: %v, want %v", got, want)
	}
}

func testConcurrentAccepts(t *testing.T, e env) {
	s := e.new(t)
	const job, uploads, items = "inventory", 8, 1500
	ids := make([]int64, uploads)
	for i := range ids {
		u := newUpload(t, s, job)
		ids[i] = u.ID
		rows := make([]RowHash, items)
		for j := range rows {
			rows[j] = RowHash{fmt.Sprintf("item-%05d", j), itoa(u.ID)}
		}
		must(t, s.StageRows(ctx, job, u.ID, rows))
	}
	var wg sync.WaitGroup
	errs := make(chan error, uploads)
	for _, i := range rand.Perm(uploads) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.AcceptUpload(ctx, job, ids[i], nil)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	newest := itoa(ids[uploads-1])
	got := accepted(t, s, job)
	if len(got) != items {
		t.Fatalf("%d accepted rows, want %d", len(got), items)
	}
	for id, h := range got {
		if h != newest {
			t.Fatalf("item %s has hash of upload %s, want newest upload %s", id, h, newest)
		}
	}
}

func testTombstones(t *testing.T, e env) {
	s := e.new(t)
	const job = "catalog"
	older := newUpload(t, s, job)
	deleting := newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, older.ID, []RowHash{{"gone", "v1"}, {"kept", "v1"}}))
	must(t, s.StageRows(ctx, job, deleting.ID, []RowHash{{"gone", "delete"}}))
	must(t, s.AcceptUpload(ctx, job, deleting.ID, nil))
	must(t, s.ForgetItems(ctx, job, []string{"gone"}))
	if got := accepted(t, s, job); len(got) != 0 {
		t.Fatalf("after ForgetItems: %v", got)
	}
	// The older upload is accepted late: it must not bring "gone" back.
	must(t, s.AcceptUpload(ctx, job, older.ID, nil))
	if got, want := accepted(t, s, job), map[string]string{"kept": "v1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after late older upload: %v, want %v", got, want)
	}
	// No older upload is staged any more: the tombstone is purged.
	var tombstones int
	must(t, baseOf(s).r.QueryRowContext(ctx, `SELECT COUNT(*) FROM accepted_rows WHERE hash IS NULL`).Scan(&tombstones))
	if tombstones != 0 {
		t.Fatalf("%d tombstones left", tombstones)
	}
	// A newer upload can bring the item back.
	back := newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, back.ID, []RowHash{{"gone", "v2"}}))
	must(t, s.AcceptUpload(ctx, job, back.ID, nil))
	if got, want := accepted(t, s, job), map[string]string{"gone": "v2", "kept": "v1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after re-adding: %v, want %v", got, want)
	}
}

// largeRows is the size of the bulk row-state test: 200,000 rows, or a tenth
// of that under the race detector, which instruments modernc's SQLite (Go
// translated from C) and makes it some 50 times slower. ACS_TEST_STORE_ROWS
// overrides it (e.g. 1000000 for a soak run).
func largeRows(t *testing.T) int {
	if v := os.Getenv("ACS_TEST_STORE_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1500 {
			t.Fatalf("ACS_TEST_STORE_ROWS=%q: want a number >= 1500", v)
		}
		return n
	}
	if raceEnabled {
		return 20_000
	}
	return 200_000
}

func testRowStateLarge(t *testing.T, e env) {
	s := e.new(t)
	const job = "inventory"
	n := largeRows(t)
	rows := make([]RowHash, n)
	for i := range rows {
		rows[i] = RowHash{fmt.Sprintf("sku-%07d", i), fmt.Sprintf("%016x", i)}
	}
	u := newUpload(t, s, job)
	start := time.Now()
	must(t, s.StageRows(ctx, job, u.ID, rows))
	staged := time.Since(start)
	failed := make([]string, 0, 1500)
	for i := 0; i < n; i += n / 1500 {
		failed = append(failed, rows[i].ItemID)
	}
	start = time.Now()
	must(t, s.AcceptUpload(ctx, job, u.ID, failed))
	acceptedIn := time.Since(start)

	start = time.Now()
	count, prev := 0, ""
	failedSet := map[string]bool{}
	for _, id := range failed {
		failedSet[id] = true
	}
	must(t, s.AcceptedHashes(ctx, job, func(id, h string) error {
		if id <= prev {
			return fmt.Errorf("out of order: %q after %q", id, prev)
		}
		if failedSet[id] {
			return fmt.Errorf("failed item %s accepted", id)
		}
		prev = id
		count++
		return nil
	}))
	iterated := time.Since(start)
	if want := n - len(failed); count != want {
		t.Fatalf("AcceptedHashes returned %d rows, want %d", count, want)
	}
	t.Logf("%d rows: StageRows %v, AcceptUpload %v, AcceptedHashes %v", n, staged, acceptedIn, iterated)
	// "A few seconds" for 200k rows; the bound is loose for slow CI hosts.
	limit := time.Duration(max(1, n/200_000)) * 30 * time.Second
	if total := staged + acceptedIn + iterated; !raceEnabled && total > limit {
		t.Fatalf("%d-row round trip took %v (limit %v)", n, total, limit)
	}
}

// ------------------------------------------------------------------ cursors

func testCursors(t *testing.T, e env) {
	s := e.new(t)
	v, err := s.GetCursor(ctx, "orders.watermark")
	if err != nil || v != "" {
		t.Fatalf("absent cursor = %q, %v", v, err)
	}
	must(t, s.SetCursor(ctx, "orders.watermark", "2026-01-01T00:00:00Z"))
	must(t, s.SetCursor(ctx, "other", "x"))
	must(t, s.SetCursor(ctx, "orders.watermark", "2026-02-01T00:00:00Z"))
	if v, err := s.GetCursor(ctx, "orders.watermark"); err != nil || v != "2026-02-01T00:00:00Z" {
		t.Fatalf("cursor = %q, %v", v, err)
	}
	must(t, s.SetCursor(ctx, "other", ""))
	if v, err := s.GetCursor(ctx, "other"); err != nil || v != "" {
		t.Fatalf("emptied cursor = %q, %v", v, err)
	}
}

// ------------------------------------------------------------------ hooks

func testHooks(t *testing.T, e env) {
	s := e.new(t)
	rec, started, err := s.BeginHook(ctx, "h1", "checkout.approve", time.Minute)
	must(t, err)
	if !started || rec.ID != "h1" || rec.Kind != "checkout.approve" || rec.Response != nil || rec.CreatedAt.IsZero() {
		t.Fatalf("first BeginHook = %+v, %v", rec, started)
	}
	// A retry while the first is in flight gets the in-flight record.
	rec, started, err = s.BeginHook(ctx, "h1", "checkout.approve", time.Minute)
	must(t, err)
	if started || rec.Response != nil || !rec.FinishedAt.IsZero() {
		t.Fatalf("in-flight retry = %+v, %v", rec, started)
	}
	answer := []byte(`{"approved":true}`)
	must(t, s.FinishHook(ctx, "h1", answer))
	rec, started, err = s.BeginHook(ctx, "h1", "checkout.approve", time.Minute)
	must(t, err)
	if started || !bytes.Equal(rec.Response, answer) || rec.FinishedAt.IsZero() {
		t.Fatalf("retry after finish = %+v, %v", rec, started)
	}
	// The first answer wins.
	must(t, s.FinishHook(ctx, "h1", []byte(`{"approved":false}`)))
	got, err := s.GetHook(ctx, "h1")
	must(t, err)
	sameFields(t, "GetHook", got, rec)

	_, err = s.GetHook(ctx, "nope")
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.FinishHook(ctx, "nope", answer), ErrNotFound)
	if _, _, err := s.BeginHook(ctx, "h0", "k", 0); err == nil {
		t.Fatal("BeginHook accepted a zero lease")
	}

	// An owner whose lease ran out (crashed) is taken over.
	_, started, err = s.BeginHook(ctx, "h2", "k", 30*time.Millisecond)
	must(t, err)
	if !started {
		t.Fatal("h2 not started")
	}
	time.Sleep(60 * time.Millisecond)
	rec, started, err = s.BeginHook(ctx, "h2", "k", time.Minute)
	must(t, err)
	if !started {
		t.Fatal("expired lease not taken over")
	}
	if _, started, _ = s.BeginHook(ctx, "h2", "k", time.Minute); started {
		t.Fatal("taken-over hook started twice")
	}
	must(t, s.FinishHook(ctx, "h2", nil))
	rec, err = s.GetHook(ctx, "h2")
	must(t, err)
	if rec.Response == nil || len(rec.Response) != 0 {
		t.Fatalf("empty answer read back as %#v", rec.Response)
	}
}

func testHookRace(t *testing.T, e env) {
	s := e.new(t)
	const n = 50
	var startedN atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, started, err := s.BeginHook(ctx, "race", "k", time.Minute)
			if err != nil {
				errs <- err
				return
			}
			if rec == nil || rec.ID != "race" {
				errs <- fmt.Errorf("record %+v", rec)
				return
			}
			if started {
				startedN.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	if got := startedN.Load(); got != 1 {
		t.Fatalf("%d of %d racing BeginHook calls started, want 1", got, n)
	}
}

// ------------------------------------------------------------------ orders

func testOrders(t *testing.T, e env) {
	s := e.new(t)
	created := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	o := &Order{SessionID: "cs_1", OrderJSON: []byte(`{"lines":[1]}`), PaymentIntentID: "pi_1", Currency: "usd",
		AmountTotal: 1234, Capture: CapturePending, SessionCreated: created, State: "accepted", Attempts: 7}
	ok, err := s.RecordOrder(ctx, o)
	must(t, err)
	if !ok || o.State != OrderReceived || o.Attempts != 0 || o.ReceivedAt.IsZero() {
		t.Fatalf("RecordOrder = %v, %+v", ok, o)
	}
	got, err := s.GetOrder(ctx, "cs_1")
	must(t, err)
	sameFields(t, "GetOrder", got, o)

	dup := &Order{SessionID: "cs_1", AmountTotal: 1}
	if ok, err := s.RecordOrder(ctx, dup); err != nil || ok {
		t.Fatalf("second RecordOrder = %v, %v", ok, err)
	}
	got, _ = s.GetOrder(ctx, "cs_1")
	sameFields(t, "GetOrder after duplicate", got, o)

	claimed, ok, err := s.ClaimOrder(ctx, "cs_1", time.Minute)
	must(t, err)
	if !ok || claimed.State != OrderPushing || claimed.Attempts != 1 || time.Until(claimed.LeaseUntil) < 50*time.Second {
		t.Fatalf("ClaimOrder = %+v, %v", claimed, ok)
	}
	cur, ok, err := s.ClaimOrder(ctx, "cs_1", time.Minute)
	must(t, err)
	if ok || cur.State != OrderPushing || cur.Attempts != 1 {
		t.Fatalf("second ClaimOrder = %+v, %v", cur, ok)
	}
	must(t, s.CompleteOrder(ctx, "cs_1", OrderAccepted, "ORD-1", ""))
	got, _ = s.GetOrder(ctx, "cs_1")
	if got.State != OrderAccepted || got.BackendRef != "ORD-1" || !got.LeaseUntil.IsZero() || got.Attempts != 1 {
		t.Fatalf("after CompleteOrder: %+v", got)
	}
	wantErr(t, s.CompleteOrder(ctx, "cs_1", OrderRejected, "", "late"), ErrNotClaimed)
	if _, ok, err := s.ClaimOrder(ctx, "cs_1", time.Minute); err != nil || ok {
		t.Fatalf("ClaimOrder of an accepted order = %v, %v", ok, err)
	}
	_, _, err = s.ClaimOrder(ctx, "nope", time.Minute)
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.CompleteOrder(ctx, "nope", OrderAccepted, "", ""), ErrNotFound)
	_, err = s.GetOrder(ctx, "nope")
	wantErr(t, err, ErrNotFound)
	if err := s.CompleteOrder(ctx, "cs_1", OrderPushing, "", ""); err == nil {
		t.Fatal("CompleteOrder accepted state pushing")
	}
	if _, err := s.RecordOrder(ctx, &Order{}); err == nil {
		t.Fatal("RecordOrder accepted an empty session id")
	}

	time.Sleep(2 * time.Millisecond) // distinct received_at
	_, err = s.RecordOrder(ctx, &Order{SessionID: "cs_2"})
	must(t, err)
	_, ok, err = s.ClaimOrder(ctx, "cs_2", time.Minute)
	must(t, err)
	if !ok {
		t.Fatal("cs_2 not claimed")
	}
	must(t, s.CompleteOrder(ctx, "cs_2", OrderRejected, "", "out of stock"))
	got, _ = s.GetOrder(ctx, "cs_2")
	if got.State != OrderRejected || got.Reason != "out of stock" {
		t.Fatalf("rejected order: %+v", got)
	}
	time.Sleep(2 * time.Millisecond)
	_, err = s.RecordOrder(ctx, &Order{SessionID: "cs_3"})
	must(t, err)

	counts, err := s.CountOrdersByState(ctx)
	must(t, err)
	if want := map[string]int{OrderAccepted: 1, OrderRejected: 1, OrderReceived: 1}; !reflect.DeepEqual(counts, want) {
		t.Fatalf("CountOrdersByState = %v, want %v", counts, want)
	}
	recent, err := s.RecentOrders(ctx, 2)
	must(t, err)
	if len(recent) != 2 || recent[0].SessionID != "cs_3" || recent[1].SessionID != "cs_2" {
		t.Fatalf("RecentOrders(2) = %+v", recent)
	}
	if recent, _ := s.RecentOrders(ctx, 0); len(recent) != 3 {
		t.Fatalf("RecentOrders(0) returned %d", len(recent))
	}

	// Concurrent deliveries of one session record it once.
	var createdN atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.RecordOrder(ctx, &Order{SessionID: "cs_dup"})
			if err != nil {
				t.Error(err)
			}
			if ok {
				createdN.Add(1)
			}
		}()
	}
	wg.Wait()
	if createdN.Load() != 1 {
		t.Fatalf("%d concurrent RecordOrder calls created the order", createdN.Load())
	}
}

func testOrderClaimRace(t *testing.T, e env) {
	s := e.new(t)
	_, err := s.RecordOrder(ctx, &Order{SessionID: "cs_race"})
	must(t, err)
	const n = 50
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, ok, err := s.ClaimOrder(ctx, "cs_race", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of %d racing ClaimOrder calls won, want 1", wins.Load(), n)
	}
	o, err := s.GetOrder(ctx, "cs_race")
	must(t, err)
	if o.Attempts != 1 || o.State != OrderPushing {
		t.Fatalf("after race: %+v", o)
	}
}

func testOrderLeaseAndRetry(t *testing.T, e env) {
	s := e.new(t)
	for _, id := range []string{"cs_a", "cs_b", "cs_c"} {
		_, err := s.RecordOrder(ctx, &Order{SessionID: id})
		must(t, err)
		time.Sleep(2 * time.Millisecond)
	}
	ids := func(os []Order) []string {
		var out []string
		for _, o := range os {
			out = append(out, o.SessionID)
		}
		return out
	}
	retry, err := s.OrdersToRetry(ctx, time.Now(), 0)
	must(t, err)
	if got := ids(retry); !slices.Equal(got, []string{"cs_a", "cs_b", "cs_c"}) {
		t.Fatalf("OrdersToRetry before claims = %v", got)
	}
	if retry, _ := s.OrdersToRetry(ctx, time.Now(), 2); len(retry) != 2 {
		t.Fatalf("OrdersToRetry(limit 2) returned %d", len(retry))
	}

	// This pusher will "crash". The lease must outlast the checks below on a
	// loaded machine under the race detector (80ms did not).
	const lease = time.Second
	_, ok, err := s.ClaimOrder(ctx, "cs_a", lease)
	claimedAt := time.Now() // the lease ends before claimedAt+lease
	must(t, err)
	if !ok {
		t.Fatal("cs_a not claimed")
	}
	_, _, err = s.ClaimOrder(ctx, "cs_b", time.Hour)
	must(t, err)
	retry, err = s.OrdersToRetry(ctx, time.Now(), 0)
	must(t, err)
	if got := ids(retry); !slices.Equal(got, []string{"cs_c"}) {
		t.Fatalf("OrdersToRetry with live leases = %v", got)
	}
	retry, err = s.OrdersToRetry(ctx, time.Now().Add(2*lease), 0)
	must(t, err)
	if got := ids(retry); !slices.Equal(got, []string{"cs_a", "cs_c"}) {
		t.Fatalf("OrdersToRetry after cs_a's lease = %v", got)
	}
	if _, ok, _ := s.ClaimOrder(ctx, "cs_a", time.Minute); ok {
		t.Fatal("cs_a claimed again before its lease expired")
	}
	time.Sleep(time.Until(claimedAt.Add(lease + 20*time.Millisecond)))
	o, ok, err := s.ClaimOrder(ctx, "cs_a", time.Minute)
	must(t, err)
	if !ok || o.Attempts != 2 {
		t.Fatalf("reclaim after expired lease = %+v, %v", o, ok)
	}

	// A failed push is retried until MaxOrderAttempts.
	for i := 1; i <= MaxOrderAttempts; i++ {
		o, ok, err := s.ClaimOrder(ctx, "cs_c", time.Minute)
		must(t, err)
		if !ok || o.Attempts != i {
			t.Fatalf("claim %d of failing order = %+v, %v", i, o, ok)
		}
		must(t, s.CompleteOrder(ctx, "cs_c", OrderFailed, "", "backend down "+strconv.Itoa(i)))
		o, _ = s.GetOrder(ctx, "cs_c")
		if o.State != OrderFailed || o.LastError != "backend down "+strconv.Itoa(i) {
			t.Fatalf("after failure %d: %+v", i, o)
		}
		retry, _ = s.OrdersToRetry(ctx, time.Now(), 0)
		if in := slices.Contains(ids(retry), "cs_c"); in != (i < MaxOrderAttempts) {
			t.Fatalf("after %d failures OrdersToRetry contains cs_c = %v", i, in)
		}
	}
	if o, ok, err := s.ClaimOrder(ctx, "cs_c", time.Minute); err != nil || ok || o.State != OrderFailed {
		t.Fatalf("claim after %d failures = %+v, %v, %v", MaxOrderAttempts, o, ok, err)
	}
	if _, _, err := s.ClaimOrder(ctx, "cs_b", 0); err == nil {
		t.Fatal("ClaimOrder accepted a zero lease")
	}
}

func testOrderPayment(t *testing.T, e env) {
	s := e.new(t)
	_, err := s.RecordOrder(ctx, &Order{SessionID: "cs_p", AmountTotal: 5000, Currency: "eur", Capture: CapturePending})
	must(t, err)
	must(t, s.UpdateOrderPayment(ctx, "cs_p", func(o *Order) error {
		if o.AmountTotal != 5000 || o.Capture != CapturePending {
			return fmt.Errorf("fn saw %+v", o)
		}
		o.Capture = CaptureCaptured
		o.PaymentIntentID = "pi_9"
		o.AmountRefunded = 100
		o.Refund = RefundPending
		o.LastError = "note"
		o.State = OrderAccepted // not a payment field: ignored
		o.BackendRef = "ignored"
		return nil
	}))
	o, err := s.GetOrder(ctx, "cs_p")
	must(t, err)
	if o.Capture != CaptureCaptured || o.PaymentIntentID != "pi_9" || o.AmountRefunded != 100 || o.Refund != RefundPending ||
		o.LastError != "note" || o.State != OrderReceived || o.BackendRef != "" {
		t.Fatalf("after UpdateOrderPayment: %+v", o)
	}

	setter, ok := s.(interface {
		SetOrderJSON(ctx context.Context, sessionID string, orderJSON []byte) error
	})
	if !ok {
		t.Fatal("store has no SetOrderJSON")
	}
	must(t, setter.SetOrderJSON(ctx, "cs_p", []byte(`{"kind":"mapped"}`)))
	if o, _ := s.GetOrder(ctx, "cs_p"); string(o.OrderJSON) != `{"kind":"mapped"}` || o.Capture != CaptureCaptured {
		t.Fatalf("after SetOrderJSON: %+v", o)
	}
	wantErr(t, setter.SetOrderJSON(ctx, "nope", nil), ErrNotFound)

	sentinel := errors.New("stripe down")
	err = s.UpdateOrderPayment(ctx, "cs_p", func(o *Order) error { o.AmountRefunded = 1; return sentinel })
	wantErr(t, err, sentinel)
	if o, _ := s.GetOrder(ctx, "cs_p"); o.AmountRefunded != 100 {
		t.Fatalf("failed update was written: %+v", o)
	}
	if err := s.UpdateOrderPayment(ctx, "cs_p", func(o *Order) error { o.Refund = "bogus"; return nil }); err == nil {
		t.Fatal("invalid refund state accepted")
	}
	wantErr(t, s.UpdateOrderPayment(ctx, "nope", func(*Order) error { return nil }), ErrNotFound)

	// Read-modify-write cycles do not lose updates.
	const n = 25
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.UpdateOrderPayment(ctx, "cs_p", func(o *Order) error { o.AmountRefunded++; return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if o, _ := s.GetOrder(ctx, "cs_p"); o.AmountRefunded != 100+n {
		t.Fatalf("AmountRefunded = %d after %d concurrent increments, want %d", o.AmountRefunded, n, 100+n)
	}
}

// settleOrder puts an order in state with the given payment states and
// updated_at (received_at too, so RecentOrders would list it by that time).
func settleOrder(t *testing.T, s Store, id, state, capture, refund string, at time.Time) {
	t.Helper()
	_, err := s.RecordOrder(ctx, &Order{SessionID: id, PaymentIntentID: "pi_" + id, Capture: capture, Refund: refund})
	must(t, err)
	if state != OrderReceived {
		_, ok, err := s.ClaimOrder(ctx, id, time.Minute)
		must(t, err)
		if !ok {
			t.Fatalf("%s not claimed", id)
		}
	}
	switch state {
	case OrderAccepted, OrderRejected, OrderFailed:
		must(t, s.CompleteOrder(ctx, id, state, "", "why"))
	}
	b := baseOf(s)
	_, err = b.w.ExecContext(ctx, b.q(`UPDATE orders SET updated_at = ?, received_at = ? WHERE session_id = ?`), b.tv(at), b.tv(at), id)
	must(t, err)
}

func orderIDs(list []Order) []string {
	out := make([]string, len(list))
	for i, o := range list {
		out[i] = o.SessionID
	}
	return out
}

func testOrdersToSettle(t *testing.T, e env) {
	s := e.new(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	// Candidates, in updated_at order.
	settleOrder(t, s, "rej_auth", OrderRejected, CapturePending, "", at(-24*365)) // a year old
	settleOrder(t, s, "acc_pending", OrderAccepted, CapturePending, "", at(1))
	settleOrder(t, s, "rej_paid", OrderRejected, CaptureCaptured, "", at(2))
	settleOrder(t, s, "rej_cancel_failed", OrderRejected, CaptureFailed, "", at(3))
	settleOrder(t, s, "acc_failed", OrderAccepted, CaptureFailed, "", at(4))
	settleOrder(t, s, "rej_refund_failed", OrderRejected, CaptureCaptured, RefundFailed, at(5))
	settleOrder(t, s, "rej_refund_pending", OrderRejected, CaptureCaptured, RefundPending, at(5)) // tie: by session id
	// Settled, or not the sweep's to settle.
	settleOrder(t, s, "acc_captured", OrderAccepted, CaptureCaptured, "", at(0))
	settleOrder(t, s, "acc_update_refund_failed", OrderAccepted, CaptureCaptured, RefundFailed, at(0))
	settleOrder(t, s, "rej_refunded", OrderRejected, CaptureCaptured, RefundRefunded, at(0))
	settleOrder(t, s, "rej_released", OrderRejected, CaptureNotRequired, "", at(0))
	settleOrder(t, s, "rej_unknown", OrderRejected, "", "", at(0))
	settleOrder(t, s, "failed_auth", OrderFailed, CapturePending, "", at(0))
	settleOrder(t, s, "pushing_auth", OrderPushing, CapturePending, "", at(0))
	settleOrder(t, s, "received_auth", OrderReceived, CapturePending, "", at(0))
	// Newer settled orders than RecentOrders' window would show.
	for i := range 30 {
		settleOrder(t, s, fmt.Sprintf("new_%02d", i), OrderAccepted, CaptureCaptured, "", at(100+i))
	}

	all := SettleQuery{CaptureAccepted: true, RefundRejected: true}
	for _, tc := range []struct {
		name  string
		q     SettleQuery
		limit int
		want  []string
	}{
		{"everything", all, 0, []string{"rej_auth", "acc_pending", "rej_paid", "rej_cancel_failed", "acc_failed", "rej_refund_failed", "rej_refund_pending"}},
		{"limit", all, 2, []string{"rej_auth", "acc_pending"}},
		{"only releases", SettleQuery{}, 0, []string{"rej_auth", "rej_cancel_failed"}},
		{"capture on acceptance", SettleQuery{CaptureAccepted: true}, 0, []string{"rej_auth", "acc_pending", "rej_cancel_failed", "acc_failed"}},
		{"refund rejected", SettleQuery{RefundRejected: true}, 0, []string{"rej_auth", "rej_paid", "rej_cancel_failed", "rej_refund_failed", "rej_refund_pending"}},
		{"updated before", SettleQuery{CaptureAccepted: true, RefundRejected: true, UpdatedBefore: at(3)}, 0, []string{"rej_auth", "acc_pending", "rej_paid"}},
	} {
		got, err := s.OrdersToSettle(ctx, tc.q, tc.limit)
		must(t, err)
		if !slices.Equal(orderIDs(got), tc.want) {
			t.Errorf("%s: OrdersToSettle = %q, want %q", tc.name, orderIDs(got), tc.want)
		}
	}
	recent, err := s.RecentOrders(ctx, 30)
	must(t, err)
	if slices.Contains(orderIDs(recent), "rej_auth") {
		t.Fatal("test setup: the old order should be outside RecentOrders' window")
	}
	got, err := s.OrdersToSettle(ctx, all, 1)
	must(t, err)
	if len(got) != 1 || got[0].PaymentIntentID != "pi_rej_auth" || got[0].State != OrderRejected || got[0].Capture != CapturePending {
		t.Fatalf("OrdersToSettle row: %+v", got)
	}

	// Settling an order takes it out; a failed settlement moves it to the back.
	must(t, s.UpdateOrderPayment(ctx, "rej_auth", func(o *Order) error { o.Capture = CaptureNotRequired; return nil }))
	must(t, s.UpdateOrderPayment(ctx, "acc_pending", func(o *Order) error { o.Capture, o.LastError = CaptureFailed, "declined"; return nil }))
	got, err = s.OrdersToSettle(ctx, all, 0)
	must(t, err)
	if want := []string{"rej_paid", "rej_cancel_failed", "acc_failed", "rej_refund_failed", "rej_refund_pending", "acc_pending"}; !slices.Equal(orderIDs(got), want) {
		t.Fatalf("after settling and failing: %q, want %q", orderIDs(got), want)
	}

	// The query reads the partial index.
	b := baseOf(s)
	query, args := b.settleQuery(SettleQuery{CaptureAccepted: true, UpdatedBefore: at(3)}, 1000)
	conn, err := b.r.Conn(ctx)
	must(t, err)
	defer conn.Close()
	explain := "EXPLAIN QUERY PLAN "
	if b.dialect == dialectPostgres {
		// Tiny tables are read sequentially whatever the indexes; ask
		// whether the planner can use the index at all.
		_, err := conn.ExecContext(ctx, `SET enable_seqscan = off`)
		must(t, err)
		defer conn.ExecContext(ctx, `RESET enable_seqscan`)
		explain = "EXPLAIN "
	}
	rows, err := conn.QueryContext(ctx, explain+b.q(query), args...)
	must(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	must(t, err)
	var plan []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		must(t, rows.Scan(ptrs...))
		plan = append(plan, fmt.Sprint(vals[len(vals)-1]))
	}
	must(t, rows.Err())
	t.Logf("plan:\n%s", strings.Join(plan, "\n"))
	if !slices.ContainsFunc(plan, func(l string) bool { return strings.Contains(l, "orders_to_settle") }) {
		t.Fatalf("OrdersToSettle does not use the orders_to_settle index:\n%s", strings.Join(plan, "\n"))
	}
}

func testOrderUpdates(t *testing.T, e env) {
	s := e.new(t)
	started, err := s.BeginOrderUpdate(ctx, "upd_1", "cs_1", "refund", []byte(`{"amount":100}`))
	must(t, err)
	if !started {
		t.Fatal("first BeginOrderUpdate not started")
	}
	if started, err := s.BeginOrderUpdate(ctx, "upd_1", "cs_1", "refund", nil); err != nil || started {
		t.Fatalf("repeated BeginOrderUpdate = %v, %v", started, err)
	}
	must(t, s.FinishOrderUpdate(ctx, "upd_1", "refunded", "re_1"))
	if started, err := s.BeginOrderUpdate(ctx, "upd_1", "cs_1", "refund", nil); err != nil || started {
		t.Fatalf("BeginOrderUpdate after finish = %v, %v", started, err)
	}
	var session, kind, outcome, refund string
	var payload []byte
	must(t, baseOf(s).r.QueryRowContext(ctx, baseOf(s).q(`SELECT session_id, kind, payload, outcome, refund_id
		FROM order_updates WHERE update_id = ?`), "upd_1").Scan(&session, &kind, &payload, &outcome, &refund))
	if session != "cs_1" || kind != "refund" || string(payload) != `{"amount":100}` || outcome != "refunded" || refund != "re_1" {
		t.Fatalf("stored update: %s %s %s %s %s", session, kind, payload, outcome, refund)
	}
	wantErr(t, s.FinishOrderUpdate(ctx, "nope", "x", ""), ErrNotFound)

	// Racing deliveries of one update: one processes it.
	var startedN atomic.Int32
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.BeginOrderUpdate(ctx, "upd_race", "cs_1", "cancel", nil)
			if err != nil {
				t.Error(err)
			}
			if ok {
				startedN.Add(1)
			}
		}()
	}
	wg.Wait()
	if startedN.Load() != 1 {
		t.Fatalf("%d racing BeginOrderUpdate calls started", startedN.Load())
	}

	// An update begun long ago and never finished (crashed processor) is
	// handed out again, once.
	b := baseOf(s)
	_, err = b.w.ExecContext(ctx, b.q(`UPDATE order_updates SET started_at = ? WHERE update_id = ?`),
		b.tv(time.Now().Add(-OrderUpdateReclaimAfter-time.Minute)), "upd_race")
	must(t, err)
	if started, err := s.BeginOrderUpdate(ctx, "upd_race", "cs_1", "cancel", nil); err != nil || !started {
		t.Fatalf("stale update not reclaimed: %v, %v", started, err)
	}
	if started, err := s.BeginOrderUpdate(ctx, "upd_race", "cs_1", "cancel", nil); err != nil || started {
		t.Fatalf("reclaimed update handed out twice: %v, %v", started, err)
	}
}

// ------------------------------------------------------------------ runs

func testRuns(t *testing.T, e env) {
	s := e.new(t)
	tick := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	id1, err := s.StartRun(ctx, "catalog", tick, "host-a")
	must(t, err)
	id2, err := s.StartRun(ctx, "inventory", tick, "host-b")
	must(t, err)
	id3, err := s.StartRun(ctx, "catalog", tick.Add(time.Hour), "host-a")
	must(t, err)
	must(t, s.FinishRun(ctx, id1, "ok", "42 rows"))
	wantErr(t, s.FinishRun(ctx, 999999, "ok", ""), ErrNotFound)

	runs, err := s.RecentRuns(ctx, "catalog", 0)
	must(t, err)
	if len(runs) != 2 || runs[0].ID != id3 || runs[1].ID != id1 {
		t.Fatalf("RecentRuns = %+v", runs)
	}
	r1 := runs[1]
	if r1.Job != "catalog" || !r1.Tick.Equal(tick) || r1.Host != "host-a" || r1.StartedAt.IsZero() ||
		r1.FinishedAt.Before(r1.StartedAt) || r1.Outcome != "ok" || r1.Message != "42 rows" {
		t.Fatalf("finished run = %+v", r1)
	}
	if !runs[0].FinishedAt.IsZero() || runs[0].Outcome != "" {
		t.Fatalf("running run = %+v", runs[0])
	}
	if runs, _ := s.RecentRuns(ctx, "catalog", 1); len(runs) != 1 || runs[0].ID != id3 {
		t.Fatalf("RecentRuns(1) = %+v", runs)
	}
	last, err := s.LastRuns(ctx)
	must(t, err)
	if len(last) != 2 || last[0].ID != id3 || last[1].ID != id2 || last[1].Job != "inventory" {
		t.Fatalf("LastRuns = %+v", last)
	}
}

// ------------------------------------------------------------------ tick locks

func testTickLocks(t *testing.T, e env) {
	dsn := e.fresh(t)
	s1, s2 := e.open(t, dsn), e.open(t, dsn)
	t1 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Minute)

	unlock, ok, err := s1.TryLockTick(ctx, "catalog", t1)
	must(t, err)
	if !ok {
		t.Fatal("first TryLockTick failed")
	}
	for _, s := range []Store{s1, s2} {
		if _, ok, err := s.TryLockTick(ctx, "catalog", t1); err != nil || ok {
			t.Fatalf("same tick locked twice: %v, %v", ok, err)
		}
		if _, ok, err := s.TryLockTick(ctx, "catalog", t2); err != nil || ok {
			t.Fatalf("next tick locked while the job runs: %v, %v", ok, err)
		}
	}
	u2, ok, err := s2.TryLockTick(ctx, "inventory", t1)
	must(t, err)
	if !ok {
		t.Fatal("another job was blocked")
	}
	u2()
	unlock()
	unlock() // idempotent

	if _, ok, err := s2.TryLockTick(ctx, "catalog", t1); err != nil || ok {
		t.Fatalf("a tick that already ran was locked again: %v, %v", ok, err)
	}
	u3, ok, err := s2.TryLockTick(ctx, "catalog", t2)
	must(t, err)
	if !ok {
		t.Fatal("next tick not lockable after unlock")
	}
	u3()

	// Close releases locks still held.
	s3 := e.open(t, dsn)
	_, ok, err = s3.TryLockTick(ctx, "closing", t1)
	must(t, err)
	if !ok {
		t.Fatal("lock on s3 failed")
	}
	must(t, s3.Close())
	u4, ok, err := s1.TryLockTick(ctx, "closing", t2)
	must(t, err)
	if !ok {
		t.Fatal("lock not released by Close")
	}
	u4()
}

func testTickLockRace(t *testing.T, e env) {
	dsn := e.fresh(t)
	stores := []Store{e.open(t, dsn), e.open(t, dsn)}
	tick := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for round := range 3 {
		tick := tick.Add(time.Duration(round) * time.Minute)
		var wins atomic.Int32
		var unlocks sync.Map
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				unlock, ok, err := stores[i%2].TryLockTick(ctx, "race", tick)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					wins.Add(1)
					unlocks.Store(i, unlock)
				}
			}()
		}
		close(start)
		wg.Wait()
		unlocks.Range(func(_, v any) bool { v.(func())(); return true })
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d of 20 racing TryLockTick calls on two stores won, want 1", round, wins.Load())
		}
	}
}

func testTickLockHostDies(t *testing.T, e env) {
	if e.driver != "postgres" {
		t.Skip("host death releases the lock only on PostgreSQL (SQLite locks are process-local)")
	}
	dsn := e.fresh(t)
	dying, survivor := e.open(t, dsn), e.open(t, dsn)
	tick := time.Date(2026, 1, 1, 13, 0, 0, 0, time.UTC)
	_, ok, err := dying.TryLockTick(ctx, "sync", tick)
	must(t, err)
	if !ok {
		t.Fatal("lock failed")
	}
	if _, ok, _ := survivor.TryLockTick(ctx, "sync", tick); ok {
		t.Fatal("lock not exclusive")
	}
	// Kill the dying host's connection, as a crash would.
	key := dying.(*pgStore).tickKey("sync")
	var killed int
	must(t, baseOf(survivor).r.QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = $1`, key).Scan(&killed))
	if killed != 1 {
		t.Fatalf("terminated %d backends", killed)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		unlock, ok, err := survivor.TryLockTick(ctx, "sync", tick)
		must(t, err)
		if ok {
			unlock() // the tick did not finish on the dead host, so it may run here
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lock of a dead host was never released")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testPingClose(t *testing.T, e env) {
	s, err := Open(ctx, e.driver, e.fresh(t))
	must(t, err)
	must(t, s.Ping(ctx))
	must(t, s.Close())
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}

// ------------------------------------------------------------------ prune

func testPrune(t *testing.T, e env) {
	s := e.new(t)
	// Hooks: one answered long ago (by the clock Prune is given), one
	// answered now, one still being answered.
	for _, id := range []string{"old", "new"} {
		_, _, err := s.BeginHook(ctx, id, "k", time.Minute)
		must(t, err)
		must(t, s.FinishHook(ctx, id, []byte(`{}`)))
		if id == "old" {
			time.Sleep(10 * time.Millisecond)
		}
	}
	_, _, err := s.BeginHook(ctx, "open", "k", time.Hour)
	must(t, err)
	oldRec, err := s.GetHook(ctx, "old")
	must(t, err)
	newRec, err := s.GetHook(ctx, "new")
	must(t, err)
	cut := oldRec.CreatedAt.Add(newRec.CreatedAt.Sub(oldRec.CreatedAt) / 2)

	// Runs: job a twice, job b once, and an unfinished run of c.
	var runIDs []int64
	for _, job := range []string{"a", "a", "b", "c"} {
		id, err := s.StartRun(ctx, job, time.Time{}, "h")
		must(t, err)
		if job != "c" {
			must(t, s.FinishRun(ctx, id, "ok", ""))
		}
		runIDs = append(runIDs, id)
	}

	// Upload errors: an upload finished long ago, one finished now, one
	// still in flight.
	oldU, newU, openU := newUpload(t, s, "catalog"), newUpload(t, s, "catalog"), newUpload(t, s, "catalog")
	oldU.Status, oldU.FinishedAt = UploadSucceededWithErrors, time.Now().Add(-100*24*time.Hour)
	must(t, s.UpdateUpload(ctx, oldU))
	newU.Status = UploadSucceededWithErrors
	must(t, s.UpdateUpload(ctx, newU))
	for _, u := range []*Upload{oldU, newU, openU} {
		rows := make([]UploadErrorRow, pruneBatch+5) // more than one batch
		for i := range rows {
			rows[i] = UploadErrorRow{Line: i + 2, ItemID: fmt.Sprint("sku-", i), Message: "m", Source: ErrorSourceLocal}
		}
		must(t, s.AddUploadErrors(ctx, u.ID, rows))
	}

	// Nothing is kept forever by default... a zero Retention prunes nothing.
	p, err := s.Prune(ctx, time.Now(), Retention{})
	must(t, err)
	if p.Total() != 0 {
		t.Fatalf("zero retention pruned %+v", p)
	}

	day := 24 * time.Hour
	p, err = s.Prune(ctx, cut.Add(day), Retention{Hooks: day, Runs: time.Nanosecond, UploadErrors: 90 * day})
	must(t, err)
	if p.Hooks != 1 || p.Runs != 1 || p.UploadErrors != int64(pruneBatch+5) {
		t.Fatalf("pruned %+v, want 1 hook, 1 run, %d upload errors", p, pruneBatch+5)
	}
	_, err = s.GetHook(ctx, "old")
	wantErr(t, err, ErrNotFound)
	if r, err := s.GetHook(ctx, "new"); err != nil || r.Response == nil {
		t.Fatalf("new hook: %+v %v", r, err)
	}
	if r, err := s.GetHook(ctx, "open"); err != nil || r.Response != nil {
		t.Fatalf("open hook: %+v %v", r, err)
	}
	runs, err := s.RecentRuns(ctx, "a", 0)
	must(t, err)
	if len(runs) != 1 || runs[0].ID != runIDs[1] {
		t.Fatalf("runs of a after prune: %+v (want only the newest, %d)", runs, runIDs[1])
	}
	for _, job := range []string{"b", "c"} {
		if runs, err := s.RecentRuns(ctx, job, 0); err != nil || len(runs) != 1 {
			t.Fatalf("runs of %s after prune: %+v %v", job, runs, err)
		}
	}
	for _, c := range []struct {
		u    *Upload
		want int
	}{{oldU, 0}, {newU, pruneBatch + 5}, {openU, pruneBatch + 5}} {
		got, err := s.UploadErrors(ctx, c.u.ID, 0)
		must(t, err)
		if len(got) != c.want {
			t.Fatalf("upload %d keeps %d error rows, want %d", c.u.ID, len(got), c.want)
		}
	}
	if _, err := s.GetUpload(ctx, oldU.ID); err != nil {
		t.Fatalf("the pruned upload's own record: %v", err)
	}
}
