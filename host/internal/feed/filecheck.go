package feed

import (
	"fmt"
	"hash/maphash"

	"github.com/acs-connector/acs-connector/proto/idset"
)

// FileCheck finds problems that need more than one row. Today that is a
// duplicate id: the first valid row with an id wins and later rows with the
// same id are reported, so one product never silently overwrites another in
// the same upload.
//
// Call Check only for rows that Schema.Check found valid; a row is recorded
// only when Check returns no new problem, so a rejected row never makes a
// later, valid one a duplicate. Ids are kept as 64-bit hashes; the chance
// that two different ids collide in a feed of a million rows is below 10⁻⁷.
// The set has a fixed memory budget and spills to temp files beyond it
// (idset), so a catalog of millions of ids costs no more memory than one of
// a hundred thousand. Close removes those files.
type FileCheck struct {
	idx  int
	seed maphash.Seed
	ids  *idset.Set
}

// NewFileCheck returns a FileCheck for rows of schema s. Spilled ids go to
// temp files in dir ("" = the system temp dir); budget is the memory of
// the in-memory part (0 = idset.DefaultBudget).
func NewFileCheck(s *Schema, dir string, budget int) *FileCheck {
	return &FileCheck{idx: s.pos[cID], seed: maphash.MakeSeed(), ids: idset.New(dir, budget)}
}

// Check appends cross-row problems of row (data row number rowNum) to dst.
// err is an I/O failure of the spilled id set; the check cannot go on
// after one.
func (f *FileCheck) Check(row []string, rowNum int, dst []Problem) ([]Problem, error) {
	if f.idx < 0 || f.idx >= len(row) {
		return dst, nil
	}
	id := trim(row[f.idx])
	if id == "" {
		return dst, nil
	}
	first, dup, err := f.ids.Insert(maphash.String(f.seed, id), rowNum)
	if err != nil {
		return dst, fmt.Errorf("duplicate-id check at row %d: %w", rowNum, err)
	}
	if dup {
		return append(dst, Problem{Row: rowNum, Column: "id", Message: fmt.Sprintf("duplicate id %s, first used in row %d", quote(id), first)}), nil
	}
	return dst, nil
}

// Close removes the temp files of the id set.
func (f *FileCheck) Close() error { return f.ids.Close() }
