package store

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
)

// runSyncSuite is the SyncMethods part of runSuite (both databases).
func runSyncSuite(t *testing.T, e env) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, env)
	}{
		{"AcceptedHashesFor", testAcceptedHashesFor},
		{"VanishedItems", testVanishedItems},
		{"VanishedItemsPaged", testVanishedItemsPaged},
		{"ForgetItemsWithHash", testForgetItemsWithHash},
		{"DeleteUpload", testDeleteUpload},
		{"DeleteUploadErrors", testDeleteUploadErrors},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, e) })
	}
}

// acceptRows stages rows in a new upload of job and accepts it.
func acceptRows(t *testing.T, s Store, job string, rows []RowHash) *Upload {
	t.Helper()
	u := newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, u.ID, rows))
	must(t, s.AcceptUpload(ctx, job, u.ID, nil))
	return u
}

func testAcceptedHashesFor(t *testing.T, e env) {
	s := e.new(t)
	const job = "inventory"
	var rows []RowHash
	for i := 0; i < 2500; i++ { // more than one id batch
		rows = append(rows, RowHash{fmt.Sprintf("sku-%05d", i), fmt.Sprintf("h%d", i)})
	}
	acceptRows(t, s, job, rows)
	acceptRows(t, s, "other", []RowHash{{"sku-00001", "other"}})
	must(t, s.ForgetItems(ctx, job, []string{"sku-00002"}))
	// Staged but not accepted: invisible.
	u := newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, u.ID, []RowHash{{"sku-00003", "staged"}, {"new", "staged"}}))

	ids := []string{"sku-00001", "sku-00002", "sku-00003", "new", "never", "sku-02499"}
	for i := 100; i < 2300; i++ {
		ids = append(ids, fmt.Sprintf("sku-%05d", i))
	}
	got, err := s.AcceptedHashesFor(ctx, job, ids)
	must(t, err)
	if len(got) != 3+2200 {
		t.Fatalf("got %d hashes, want %d", len(got), 3+2200)
	}
	for id, want := range map[string]string{"sku-00001": "h1", "sku-00003": "h3", "sku-02499": "h2499", "sku-01500": "h1500"} {
		if got[id] != want {
			t.Errorf("hash of %s = %q, want %q", id, got[id], want)
		}
	}
	for _, id := range []string{"sku-00002", "new", "never"} {
		if h, ok := got[id]; ok {
			t.Errorf("%s should have no accepted hash, got %q", id, h)
		}
	}
	empty, err := s.AcceptedHashesFor(ctx, job, nil)
	must(t, err)
	if len(empty) != 0 {
		t.Fatalf("no ids: %v", empty)
	}
}

func vanished(t *testing.T, s Store, job string, uploads ...int64) []string {
	t.Helper()
	var out []string
	must(t, s.VanishedItems(ctx, job, uploads, func(id string) error { out = append(out, id); return nil }))
	return out
}

func testVanishedItems(t *testing.T, e env) {
	s := e.new(t)
	const job = "catalog"
	acceptRows(t, s, job, []RowHash{{"a", "1"}, {"b", "1"}, {"c", "1"}, {"d", "1"}, {"e", "1"}, {"f", "1"}})
	acceptRows(t, s, "other", []RowHash{{"x", "1"}})
	must(t, s.ForgetItems(ctx, job, []string{"f"})) // forgotten: not "vanished" again

	// This run staged b and d in one part, e and a new item in another.
	p1, p2 := newUpload(t, s, job), newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, p1.ID, []RowHash{{"b", "2"}, {"d", "2"}}))
	must(t, s.StageRows(ctx, job, p2.ID, []RowHash{{"e", "2"}, {"new", "2"}}))
	// An unrelated staged upload does not count as "present".
	other := newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, other.ID, []RowHash{{"a", "9"}}))

	if got, want := vanished(t, s, job, p1.ID, p2.ID), []string{"a", "c"}; !slices.Equal(got, want) {
		t.Fatalf("vanished = %q, want %q", got, want)
	}
	if got, want := vanished(t, s, job, p1.ID), []string{"a", "c", "e"}; !slices.Equal(got, want) {
		t.Fatalf("vanished (part 1 only) = %q, want %q", got, want)
	}
	if got := vanished(t, s, "nothing-accepted", p1.ID); len(got) != 0 {
		t.Fatalf("job without accepted rows: %q", got)
	}
	for _, c := range []struct {
		job     string
		uploads []int64
		want    int
	}{{job, []int64{p1.ID, p2.ID}, 2}, {job, []int64{p1.ID}, 3}, {"nothing-accepted", []int64{p1.ID}, 0}} {
		if n, err := s.CountVanished(ctx, c.job, c.uploads); err != nil || n != c.want {
			t.Fatalf("CountVanished(%s, %v) = %d, %v; want %d", c.job, c.uploads, n, err, c.want)
		}
	}
	if _, err := s.CountVanished(ctx, job, nil); err == nil {
		t.Fatal("CountVanished without uploads should be refused")
	}

	stop := errors.New("stop")
	calls := 0
	if err := s.VanishedItems(ctx, job, []int64{p1.ID}, func(string) error { calls++; return stop }); err != stop || calls != 1 {
		t.Fatalf("callback error: err %v after %d calls", err, calls)
	}
	if err := s.VanishedItems(ctx, job, nil, func(string) error { return nil }); err == nil {
		t.Fatal("VanishedItems without uploads should be refused (everything would vanish)")
	}
	// The callback may use the store (SQLite in-memory has one connection).
	must(t, s.VanishedItems(ctx, job, []int64{p1.ID, p2.ID}, func(id string) error {
		_, err := s.AcceptedHashesFor(ctx, job, []string{id})
		return err
	}))
}

func testVanishedItemsPaged(t *testing.T, e env) {
	s := e.new(t)
	const job = "catalog"
	const page = 400 // several pages without a big table (the race detector slows SQLite down a lot)
	baseOf(s).syncPage = page
	n := 2*page + 70
	rows := make([]RowHash, n)
	for i := range rows {
		rows[i] = RowHash{fmt.Sprintf("item-%06d", i), "h"}
	}
	acceptRows(t, s, job, rows)
	// Keep every third item.
	var kept []RowHash
	var want []string
	for i, r := range rows {
		if i%3 == 0 {
			kept = append(kept, r)
		} else {
			want = append(want, r.ItemID)
		}
	}
	u := newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, u.ID, kept))
	got := vanished(t, s, job, u.ID)
	if !sort.StringsAreSorted(got) || !slices.Equal(got, want) {
		t.Fatalf("got %d vanished ids (sorted %v), want %d", len(got), sort.StringsAreSorted(got), len(want))
	}
}

func testForgetItemsWithHash(t *testing.T, e env) {
	s := e.new(t)
	const job = "catalog"
	const del = "-"
	acceptRows(t, s, job, []RowHash{{"a", "1"}, {"b", "1"}, {"c", "1"}})
	older := newUpload(t, s, job) // staged before the deletion, accepted after it
	must(t, s.StageRows(ctx, job, older.ID, []RowHash{{"b", "old"}}))
	u := newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, u.ID, []RowHash{{"a", del}, {"b", del}, {"c", "2"}}))
	must(t, s.AcceptUpload(ctx, job, u.ID, []string{"a"})) // Stripe rejected the deletion of a
	n, err := s.ForgetItemsWithHash(ctx, job, del)
	must(t, err)
	if n != 1 {
		t.Fatalf("forgot %d items, want 1", n)
	}
	if got, want := accepted(t, s, job), map[string]string{"a": "1", "c": "2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("accepted = %v, want %v", got, want)
	}
	// The tombstone keeps the older upload from bringing b back.
	must(t, s.AcceptUpload(ctx, job, older.ID, nil))
	if got := accepted(t, s, job); got["b"] != "" {
		t.Fatalf("older upload resurrected a deleted item: %v", got)
	}
	if n, err := s.ForgetItemsWithHash(ctx, job, del); err != nil || n != 0 {
		t.Fatalf("second call: %d %v", n, err)
	}
	if _, err := s.ForgetItemsWithHash(ctx, job, ""); err == nil {
		t.Fatal("empty hash should be refused")
	}
}

func testDeleteUpload(t *testing.T, e env) {
	s := e.new(t)
	const job = "catalog"
	acceptRows(t, s, job, []RowHash{{"a", "1"}})
	u := newUpload(t, s, job)
	rows := make([]RowHash, rowChunk+500) // more than one chunk of staged rows
	for i := range rows {
		rows[i] = RowHash{fmt.Sprintf("i%05d", i), "2"}
	}
	must(t, s.StageRows(ctx, job, u.ID, rows))
	must(t, s.AddUploadErrors(ctx, u.ID, []UploadErrorRow{{Line: 2, ItemID: "bad", Message: "m", Source: ErrorSourceLocal}}))
	keep := newUpload(t, s, job)
	must(t, s.StageRows(ctx, job, keep.ID, []RowHash{{"k", "1"}}))

	must(t, s.DeleteUpload(ctx, u.ID))
	recent, err := s.RecentUploads(ctx, 0)
	must(t, err)
	for _, r := range recent {
		if r.ID == u.ID {
			t.Fatal("deleted upload still listed")
		}
	}
	// Its staged rows are gone: accepting it finds no upload, and the other
	// upload's rows are untouched.
	wantErr(t, s.AcceptUpload(ctx, job, u.ID, nil), ErrNotFound)
	if got := vanished(t, s, job, keep.ID); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("vanished after delete = %q", got)
	}
	must(t, s.AcceptUpload(ctx, job, keep.ID, nil))
	if got, want := accepted(t, s, job), map[string]string{"a": "1", "k": "1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("accepted = %v, want %v", got, want)
	}
	wantErr(t, s.DeleteUpload(ctx, u.ID), ErrNotFound)
	_, err = s.GetUpload(ctx, u.ID)
	wantErr(t, err, ErrNotFound)

	// An upload Stripe knows stays on record.
	sent := newUpload(t, s, job)
	sent.ImportID, sent.Status = "impset_1", "pending"
	must(t, s.UpdateUpload(ctx, sent))
	if err := s.DeleteUpload(ctx, sent.ID); err == nil {
		t.Fatal("DeleteUpload removed an upload with an import id")
	}
	if _, err := s.GetUploadByImportID(ctx, "impset_1"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUpload(ctx, sent.ID)
	must(t, err)
	sameFields(t, "GetUpload", got, sent)
}

func testDeleteUploadErrors(t *testing.T, e env) {
	s := e.new(t)
	u := newUpload(t, s, "catalog")
	must(t, s.AddUploadErrors(ctx, u.ID, []UploadErrorRow{
		{Line: 1, ItemID: "a", Message: "local", Source: ErrorSourceLocal},
		{Line: 2, ItemID: "b", Message: "stripe", Source: ErrorSourceStripe},
		{Line: 3, ItemID: "c", Message: "stripe", Source: ErrorSourceStripe},
	}))
	must(t, s.DeleteUploadErrors(ctx, u.ID, ErrorSourceStripe))
	got, err := s.UploadErrors(ctx, u.ID, 0)
	must(t, err)
	if len(got) != 1 || got[0].ItemID != "a" {
		t.Fatalf("after deleting stripe rows: %+v", got)
	}
	must(t, s.DeleteUploadErrors(ctx, u.ID, ""))
	got, err = s.UploadErrors(ctx, u.ID, 0)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("after deleting all: %+v", got)
	}
}
