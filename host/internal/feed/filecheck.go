package feed

import (
	"fmt"
	"hash/maphash"
)

// FileCheck finds problems that need more than one row. Today that is a
// duplicate id: the first valid row with an id wins and later rows with the
// same id are reported, so one product never silently overwrites another in
// the same upload.
//
// Call Check only for rows that Schema.Check found valid; a row is recorded
// only when Check returns no new problem, so a rejected row never makes a
// later, valid one a duplicate. Ids are kept as 64-bit hashes (12 bytes per
// id instead of the string); the chance that two different ids collide in a
// feed of a million rows is below 10⁻⁷.
type FileCheck struct {
	idx  int
	seed maphash.Seed
	ids  hashSet
}

// NewFileCheck returns a FileCheck for rows of schema s.
func NewFileCheck(s *Schema) *FileCheck {
	return &FileCheck{idx: s.pos[cID], seed: maphash.MakeSeed()}
}

// Check appends cross-row problems of row (data row number rowNum) to dst.
func (f *FileCheck) Check(row []string, rowNum int, dst []Problem) []Problem {
	if f.idx < 0 || f.idx >= len(row) {
		return dst
	}
	id := trim(row[f.idx])
	if id == "" {
		return dst
	}
	if first, dup := f.ids.insert(maphash.String(f.seed, id), rowNum); dup {
		return append(dst, Problem{Row: rowNum, Column: "id", Message: fmt.Sprintf("duplicate id %s, first used in row %d", quote(id), first)})
	}
	return dst
}

// hashSet is an open-addressing set of 64-bit hashes with the row that
// inserted each. One probe usually settles an insert, which matters when a
// 100,000-row feed no longer fits the CPU caches.
type hashSet struct {
	keys []uint64 // 0 = empty slot
	rows []int32
	n    int
}

func (s *hashSet) insert(h uint64, row int) (first int, dup bool) {
	if h == 0 {
		h = 1
	}
	if 2*(s.n+1) > len(s.keys) {
		s.grow()
	}
	mask := uint64(len(s.keys) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.keys[i] {
		case 0:
			s.keys[i], s.rows[i] = h, int32(min(row, 1<<31-1))
			s.n++
			return 0, false
		case h:
			return int(s.rows[i]), true
		}
	}
}

func (s *hashSet) grow() {
	old, oldRows := s.keys, s.rows
	size := max(1024, 2*len(old))
	s.keys, s.rows = make([]uint64, size), make([]int32, size)
	mask := uint64(size - 1)
	for j, h := range old {
		if h == 0 {
			continue
		}
		i := h & mask
		for s.keys[i] != 0 {
			i = (i + 1) & mask
		}
		s.keys[i], s.rows[i] = h, oldRows[j]
	}
}
