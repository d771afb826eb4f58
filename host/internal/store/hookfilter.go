package store

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// hookFilter is a Bloom filter of the hook ids in the table, so that
// BeginHook on SQLite skips its read for an id that was never answered:
// nearly every hook. It is filled from the table in the background when
// the store opens (until then every BeginHook reads) and from every answer
// stored after that. A false positive only costs the read it would have
// made anyway; deleted ids (pruning) stay in the filter, with the same
// effect. Sized at open for twice the table, at least a million ids,
// 16 bits an id (0.24% false positives at that size).
type hookFilter struct {
	seed   maphash.Seed
	bits   []atomic.Uint64
	mask   uint64
	loaded atomic.Bool
}

const hookFilterHashes = 4

func newHookFilter(ids int) *hookFilter {
	n := uint64(1 << 20)
	for n < uint64(2*ids) {
		n <<= 1
	}
	// 16 bits an id: n ids -> n/4 words of 64 bits.
	return &hookFilter{seed: maphash.MakeSeed(), bits: make([]atomic.Uint64, n/4), mask: n*16 - 1}
}

func (f *hookFilter) positions(id string) [hookFilterHashes]uint64 {
	h := maphash.String(f.seed, id)
	h1, h2 := h, h>>32|h<<32|1
	var p [hookFilterHashes]uint64
	for i := range p {
		p[i] = (h1 + uint64(i)*h2) & f.mask
	}
	return p
}

func (f *hookFilter) add(id string) {
	for _, b := range f.positions(id) {
		f.bits[b>>6].Or(1 << (b & 63))
	}
}

// mayHave is false only when id is certainly not in the table: the filter
// is loaded and id was never added.
func (f *hookFilter) mayHave(id string) bool {
	if !f.loaded.Load() {
		return true
	}
	for _, b := range f.positions(id) {
		if f.bits[b>>6].Load()&(1<<(b&63)) == 0 {
			return false
		}
	}
	return true
}

// load adds every id in the table, then marks the filter usable. On an
// error it stays unloaded, and BeginHook keeps reading.
func (f *hookFilter) load(ctx context.Context, s *sqliteStore) error {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM hooks`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return err
		}
		f.add(id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	f.loaded.Store(true)
	return nil
}

// startHookFilter sizes the filter for the table and fills it in the
// background; wg tracks the fill so Close can wait for it.
func startHookFilter(ctx context.Context, s *sqliteStore, wg *sync.WaitGroup) *hookFilter {
	var n int
	_ = s.r.QueryRowContext(ctx, `SELECT count(*) FROM hooks`).Scan(&n)
	f := newHookFilter(n)
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A failed load only costs speed: the filter stays unloaded and
		// every BeginHook reads the table, as it would without one.
		_ = f.load(ctx, s)
	}()
	return f
}
