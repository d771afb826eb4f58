package feed

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestBuilderDuplicatesAcrossSpills runs enough ids through a Builder with a
// tiny duplicate-id budget that the set spills and merges runs, and checks
// that every duplicate names the right first row, that no unique id is taken
// for a duplicate, and that the temp files are gone.
func TestBuilderDuplicatesAcrossSpills(t *testing.T) {
	dir := t.TempDir()
	var m memParts
	var errs strings.Builder
	// 1024 slots: a spill every 512 ids.
	b, err := NewBuilder(Product, m.open, &errs, Options{TempDir: dir, DuplicateBudget: 1024 * 16})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6000
	rec := productRecord("")
	idIdx := indexOf(rec.Columns, "id")
	add := func(id string) (bool, []Problem) {
		t.Helper()
		vals := append([]string(nil), rec.Values...)
		vals[idIdx] = id
		ok, err := b.Add(Record{Origin: "products.csv:" + id, Columns: rec.Columns, Values: vals})
		if err != nil {
			t.Fatal(err)
		}
		return ok, b.LastProblems()
	}
	firstRow := map[string]int{}
	row := 0
	for i := range n {
		id := fmt.Sprintf("SKU-%05d", i)
		row++
		if ok, ps := add(id); !ok {
			t.Fatalf("row %d (%s) rejected: %v", row, id, ps)
		}
		firstRow[id] = row
		if i%500 == 499 {
			// A repeat of an id from long ago (spilled, possibly merged)
			// and of a recent one (still in the table).
			for _, old := range []string{fmt.Sprintf("SKU-%05d", i/7), fmt.Sprintf("SKU-%05d", i-1)} {
				row++
				ok, ps := add(old)
				want := fmt.Sprintf("duplicate id %q, first used in row %d", old, firstRow[old])
				if ok || len(ps) != 1 || ps[0].Column != "id" || ps[0].Row != row || ps[0].Message != want {
					t.Fatalf("row %d (%s): ok=%v problems=%v; want %q", row, old, ok, ps, want)
				}
			}
		}
	}
	if b.files.ids.Runs() == 0 {
		t.Fatal("the set never spilled; the test does not test spilling")
	}
	st, err := b.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.Valid != n || st.Invalid != 2*(n/500) {
		t.Errorf("stats = %+v", st)
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("temp files left behind: %v", es)
	}
}

// TestBuilderSpillFailureIsAnError: a duplicate check that cannot spill
// fails the build rather than letting duplicates through.
func TestBuilderSpillFailureIsAnError(t *testing.T) {
	var m memParts
	b, err := NewBuilder(Product, m.open, nil, Options{TempDir: t.TempDir() + "/missing", DuplicateBudget: 1024 * 16})
	if err != nil {
		t.Fatal(err)
	}
	rec := productRecord("")
	idIdx := indexOf(rec.Columns, "id")
	for i := range 2000 {
		rec.Values[idIdx] = fmt.Sprintf("SKU-%05d", i)
		if _, err = b.Add(rec); err != nil {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "duplicate-id") {
		t.Fatalf("Add error = %v, want a duplicate-id set failure", err)
	}
	if _, cerr := b.Close(); cerr == nil {
		t.Error("Close after a failed spill returned no error")
	}
}
