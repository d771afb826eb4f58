package idset

import (
	"math/rand/v2"
	"os"
	"testing"
)

// smallBudget holds 1024 slots: a spill every 512 ids.
const smallBudget = 1024 * 16

func dirEntries(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestDuplicatesAcrossSpilledRuns checks that every repeat is found with the
// row that first used the hash, whether that is in the table, in a level-0
// run or in a merged run, and that nothing new is taken for a repeat.
func TestDuplicatesAcrossSpilledRuns(t *testing.T) {
	dir := t.TempDir()
	s := New(dir, smallBudget)
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 40_000
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = rng.Uint64()
	}
	first := map[uint64]int{}
	row := 0
	check := func(h uint64) {
		t.Helper()
		row++
		got, dup, err := s.Insert(h, row)
		if err != nil {
			t.Fatal(err)
		}
		want, seen := first[h]
		if dup != seen || (dup && got != want) {
			t.Fatalf("row %d: Insert(%x) = %d, %v; want %d, %v", row, h, got, dup, want, seen)
		}
		if !seen {
			first[h] = row
		}
	}
	for i, h := range keys {
		check(h)
		if i%7 == 3 {
			check(keys[rng.IntN(i+1)]) // a repeat of an earlier id, near or far
		}
	}
	for _, h := range keys[:2000] {
		check(h) // repeats of the oldest ids, long since merged
	}
	if s.Len() != n {
		t.Errorf("Len = %d, want %d", s.Len(), n)
	}
	if s.Runs() < 2 || s.Runs() > 3*fanIn {
		t.Errorf("%d runs for %d ids at 512 per spill; merging should keep a handful", s.Runs(), n)
	}
	if got := dirEntries(t, dir); got != 0 {
		t.Errorf("%d temp files visible while the set is open; want them unlinked", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Insert(1, 1); err == nil {
		t.Error("Insert after Close succeeded")
	}
}

func TestZeroHashAndRowClamp(t *testing.T) {
	s := New(t.TempDir(), smallBudget)
	defer s.Close()
	if _, dup, _ := s.Insert(0, 1<<40); dup {
		t.Fatal("first insert reported as duplicate")
	}
	if got, dup, _ := s.Insert(0, 5); !dup || got != maxRow {
		t.Fatalf("Insert(0) again = %d, %v; want %d, true", got, dup, maxRow)
	}
}

func TestNoSpillWithinBudget(t *testing.T) {
	dir := t.TempDir()
	s := New(dir, 0)
	defer s.Close()
	for i := 1; i <= 100_000; i++ {
		if _, dup, err := s.Insert(uint64(i)*0x9E3779B97F4A7C15, i); dup || err != nil {
			t.Fatal(i, dup, err)
		}
	}
	if s.Runs() != 0 {
		t.Errorf("%d runs for 100,000 ids within the default budget", s.Runs())
	}
}

func TestSpillErrorIsSticky(t *testing.T) {
	s := New("/nonexistent-idset-dir", smallBudget)
	defer s.Close()
	var err error
	for i := 1; i <= 2000 && err == nil; i++ {
		_, _, err = s.Insert(uint64(i)*0x9E3779B97F4A7C15, i)
	}
	if err == nil {
		t.Fatal("no error spilling into a missing directory")
	}
	if _, _, err2 := s.Insert(12345, 1); err2 == nil {
		t.Error("Insert after a failed spill succeeded")
	}
}

func TestBloomFalsePositiveRate(t *testing.T) {
	const n = 100_000
	b := newBloom(n)
	rng := rand.New(rand.NewPCG(3, 4))
	for range n {
		b.add(rng.Uint64())
	}
	fp := 0
	for range n {
		if b.has(rng.Uint64()) {
			fp++
		}
	}
	if rate := float64(fp) / n; rate > 0.02 {
		t.Errorf("false positive rate %.3f, want below 2%%", rate)
	}
}

func BenchmarkInsert1M(b *testing.B) {
	for range b.N {
		s := New(b.TempDir(), 0)
		for i := 1; i <= 1_000_000; i++ {
			if _, _, err := s.Insert(uint64(i)*0x9E3779B97F4A7C15, i); err != nil {
				b.Fatal(err)
			}
		}
		s.Close()
	}
}

func BenchmarkInsert1MNoSpill(b *testing.B) {
	for range b.N {
		s := New(b.TempDir(), 64<<20)
		for i := 1; i <= 1_000_000; i++ {
			if _, _, err := s.Insert(uint64(i)*0x9E3779B97F4A7C15, i); err != nil {
				b.Fatal(err)
			}
		}
		s.Close()
	}
}

// TestSortedKeepsEveryEntryInOrder fills tables to the spill point many
// times, wrapped clusters included, and checks the compaction that a spill
// writes: ascending hashes, each with its own row, none lost.
func TestSortedKeepsEveryEntryInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 200 {
		s := New(t.TempDir(), smallBudget)
		want := map[uint64]uint32{}
		for len(want) < 512 {
			h := rng.Uint64() | 1
			if round%2 == 0 && len(want) < 64 {
				h |= 0xFFF0 << 48 // crowd the end of the table so clusters wrap
			}
			if _, ok := want[h]; ok {
				continue
			}
			if _, dup, err := s.Insert(h, len(want)+1); dup || err != nil {
				t.Fatal(dup, err)
			}
			want[h] = uint32(len(want) + 1)
		}
		n := s.sorted()
		if n != len(want) {
			t.Fatalf("round %d: %d entries after compaction, want %d", round, n, len(want))
		}
		for i := range n {
			if i > 0 && s.keys[i-1] >= s.keys[i] {
				t.Fatalf("round %d: entry %d out of order", round, i)
			}
			if want[s.keys[i]] != s.rows[i] {
				t.Fatalf("round %d: hash %x has row %d, want %d", round, s.keys[i], s.rows[i], want[s.keys[i]])
			}
		}
		s.Close()
	}
}
