// Package idset is an exact set of 64-bit id hashes, each remembered with
// the row that first used it, whose memory does not grow with the number of
// ids. The feed builder in the host and the csvdir plugin both use it to
// find duplicate ids in catalogs of millions of rows. It lives under proto/
// because that is the one tree both sides import (the host never imports
// the SDK or a plugin, a plugin never imports the host); like the packed
// batch codec, it is shared code, not wire format, and depends on nothing
// but the standard library.
//
// Layout, an LSM tree in miniature: recent ids live in an open-addressing
// table of a fixed size. When the table is half full its entries are sorted
// and written to a temp file (a run), and the table starts over. Every
// spilled id is also in one Bloom filter (2 to 4 bytes an id), and each run
// keeps the first hash of every 6 KiB block in memory, so a lookup costs
// two cache lines for an id that is new (nearly every id: its table slot and
// its Bloom block) and one block read per run from the page cache for the
// rare Bloom hit (a filter per run had cost a cache miss per run). Runs of
// the same size are merged once there are fanIn of them, so the number of
// runs grows with the logarithm of the catalog.
//
// The table grows four times over at a time: by doubling it rehashed every
// id eight times on its way to 131,072, and allocated whole from the start,
// even a thousand ids touched all 768 of its pages, each a page fault.
//
// Answers are exact for the hashes: a hash reported as present was inserted
// before, with that row. Callers that hash strings (maphash) accept a 64-bit
// collision, below 10⁻⁷ for a feed of a million ids.
package idset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"sort"
)

// DefaultBudget is the memory of the in-memory table: 2^18 slots of 12
// bytes. It holds 131,072 ids before the first spill, so catalogs of that
// size never touch the disk, and bigger ones cost no more than this plus
// the Bloom filter.
const DefaultBudget = 3 << 20

const (
	entrySize   = 12  // hash (8) + row (4), little endian
	blockLen    = 512 // entries per block, the unit of a lookup's read
	blockBytes  = blockLen * entrySize
	bitsPerID   = 16 // Bloom filter: ~0.1% false positives with blocks of 512 bits
	bloomProbes = 7
	fanIn       = 4 // runs of one level merged into one of the next
	minSlots    = 1024
	maxRow      = 1<<31 - 1
)

// Set is not safe for concurrent use. Close it to release its temp files.
type Set struct {
	dir      string
	maxSlots int
	// The table, open addressing in two arrays (12 bytes a slot, where a
	// slice of structs would pad to 16); key 0 is an empty slot.
	keys  []uint64
	rows  []uint32
	shift uint // 64 - log2(len(keys)): a hash's home slot is its top bits
	n     int
	runs  []*run
	// bloom holds every spilled hash; it is rebuilt bigger (from the runs)
	// when they would hold more than bloomCap.
	bloom    bloom
	bloomCap int
	block    []byte // read buffer for one block
	wbuf     []byte // write buffer of new runs
	err      error  // sticky: a set that failed to spill cannot answer exactly
}

type entry struct {
	h   uint64
	row uint32
}

// New returns a Set that spills to temp files in dir ("" = os.TempDir())
// once its table would exceed budget bytes (0 = DefaultBudget). The table
// starts small and grows to the budget, so small sets stay small.
func New(dir string, budget int) *Set {
	if budget <= 0 {
		budget = DefaultBudget
	}
	slots := minSlots
	for slots*2*12 <= budget {
		slots *= 2
	}
	return &Set{dir: dir, maxSlots: slots}
}

// Len returns the number of ids in the set.
func (s *Set) Len() int {
	n := s.n
	for _, r := range s.runs {
		n += r.n
	}
	return n
}

// Runs returns the number of spilled runs (for tests and diagnostics).
func (s *Set) Runs() int { return len(s.runs) }

// Insert adds hash h, first used in row, unless it is already in the set;
// then it returns the row that inserted it and dup = true. Rows are kept
// as 31-bit numbers (larger ones are clamped). err reports a temp file that
// could not be written or read; the set is unusable after one.
func (s *Set) Insert(h uint64, row int) (first int, dup bool, err error) {
	if s.err != nil {
		return 0, false, s.err
	}
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	if 2*(s.n+1) > len(s.keys) {
		if len(s.keys) < s.maxSlots {
			s.grow()
		} else if err := s.spill(); err != nil {
			s.err = err
			return 0, false, err
		}
	}
	mask := uint64(len(s.keys) - 1)
	i := h >> s.shift
	for ; s.keys[i] != 0; i = (i + 1) & mask {
		if s.keys[i] == h {
			return int(s.rows[i]), true, nil
		}
	}
	if len(s.runs) > 0 && s.bloom.has(h) {
		for _, r := range s.runs {
			row, ok, err := r.lookup(h, &s.block)
			if err != nil {
				s.err = err
				return 0, false, err
			}
			if ok {
				return row, true, nil
			}
		}
	}
	s.keys[i], s.rows[i] = h, uint32(min(max(row, 0), maxRow))
	s.n++
	return 0, false, nil
}

// grow replaces the table by one four times as big (at most maxSlots),
// holding the same entries.
func (s *Set) grow() {
	oldKeys, oldRows := s.keys, s.rows
	size := min(s.maxSlots, max(minSlots, 4*len(oldKeys)))
	s.keys, s.rows = make([]uint64, size), make([]uint32, size)
	s.shift = uint(64 - bits.TrailingZeros(uint(size)))
	mask := uint64(size - 1)
	for j, h := range oldKeys {
		if h == 0 {
			continue
		}
		i := h >> s.shift
		for s.keys[i] != 0 {
			i = (i + 1) & mask
		}
		s.keys[i], s.rows[i] = h, oldRows[j]
	}
}

// spill writes the table as a sorted run and empties it, then merges runs
// while fanIn of them share a level.
func (s *Set) spill() error {
	n := s.sorted()
	if spilled := s.Len() - s.n; spilled+n > s.bloomCap {
		if err := s.growBloom(spilled + n); err != nil {
			return err
		}
	}
	w, err := s.newRun(n, 0)
	if err != nil {
		return err
	}
	for i := range n {
		w.add(entry{h: s.keys[i], row: s.rows[i]})
		s.bloom.add(s.keys[i])
	}
	clear(s.keys)
	s.n = 0
	r, err := w.finish()
	if err != nil {
		return err
	}
	s.runs = append(s.runs, r)
	for {
		k := len(s.runs)
		lvl := s.runs[k-1].level
		j := k - 1
		for j > 0 && s.runs[j-1].level == lvl {
			j--
		}
		if k-j < fanIn {
			return nil
		}
		if err := s.merge(j); err != nil {
			return err
		}
	}
}

// growBloom replaces the Bloom filter by one for at least need ids (four
// tables' worth at first, then twice the last), holding every id spilled so
// far, read back from the runs: each id is read again about once over the
// life of the set.
func (s *Set) growBloom(need int) error {
	c := max(need, 2*s.bloomCap, 2*s.maxSlots)
	b := newBloom(c)
	for _, r := range s.runs {
		rd := runReader{f: r.f, end: int64(r.n) * entrySize, buf: make([]byte, 0, 8*blockBytes)}
		for {
			e, ok, err := rd.next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			b.add(e.h)
		}
	}
	s.bloom, s.bloomCap = b, c
	return nil
}

// sorted compacts the table's entries to its front in ascending hash order.
// A slot's home is the hash's top bits, so the table is in hash order
// already except within a cluster of collisions and for the few entries
// that wrapped from the end to the start: an insertion sort after moving
// those to the back is linear, where a general sort cost half of a spill.
func (s *Set) sorted() int {
	keys, rows := s.keys, s.rows
	firstEmpty := 0
	for firstEmpty < len(keys) && keys[firstEmpty] != 0 {
		firstEmpty++
	}
	var wrapped []entry
	n := 0 // in place: the write index never passes the read index
	for i, h := range keys {
		if h == 0 {
			continue
		}
		if i < firstEmpty && int(h>>s.shift) > i {
			wrapped = append(wrapped, entry{h, rows[i]})
			continue
		}
		keys[n], rows[n] = h, rows[i]
		n++
	}
	for _, e := range wrapped {
		keys[n], rows[n] = e.h, e.row
		n++
	}
	for i := 1; i < n; i++ {
		h, row := keys[i], rows[i]
		j := i
		for j > 0 && keys[j-1] > h {
			keys[j], rows[j] = keys[j-1], rows[j-1]
			j--
		}
		keys[j], rows[j] = h, row
	}
	return n
}

// merge replaces runs[from:] (one level) by their merge at the next level.
// No hash is in two runs (Insert looks in all of them first), so this is a
// plain merge of sorted files.
func (s *Set) merge(from int) error {
	ins := s.runs[from:]
	total := 0
	rds := make([]runReader, len(ins))
	heads := make([]entry, len(ins))
	live := make([]bool, len(ins))
	for i, r := range ins {
		total += r.n
		rds[i] = runReader{f: r.f, end: int64(r.n) * entrySize, buf: make([]byte, 0, 2*blockBytes)}
		var err error
		if heads[i], live[i], err = rds[i].next(); err != nil {
			return err
		}
	}
	w, err := s.newRun(total, ins[0].level+1)
	if err != nil {
		return err
	}
	for {
		m := -1
		for i := range ins {
			if live[i] && (m < 0 || heads[i].h < heads[m].h) {
				m = i
			}
		}
		if m < 0 {
			break
		}
		w.add(heads[m])
		if heads[m], live[m], err = rds[m].next(); err != nil {
			w.r.close()
			return err
		}
	}
	out, err := w.finish()
	if err != nil {
		return err
	}
	for _, r := range ins {
		r.close()
	}
	s.runs = append(s.runs[:from], out)
	return nil
}

// newRun starts a run of n entries, to be added in ascending hash order.
func (s *Set) newRun(n, level int) (*runWriter, error) {
	f, err := os.CreateTemp(s.dir, "acs-idset-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("duplicate-id set: spill to disk: %w", err)
	}
	r := &run{f: f, path: f.Name(), level: level, fence: make([]uint64, 0, (n+blockLen-1)/blockLen)}
	// Unlinked at once where the OS allows it, so the file disappears
	// whatever happens to the process; elsewhere close removes it.
	if os.Remove(r.path) == nil {
		r.path = ""
	}
	if s.wbuf == nil {
		s.wbuf = make([]byte, 0, 8*blockBytes)
	}
	return &runWriter{r: r, want: n, buf: s.wbuf[:0]}, nil
}

// runWriter fills a new run; the first write error sticks.
type runWriter struct {
	r    *run
	want int
	buf  []byte
	err  error
}

func (w *runWriter) add(e entry) {
	r := w.r
	if r.n%blockLen == 0 {
		r.fence = append(r.fence, e.h)
	}
	r.n++
	w.buf = binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint64(w.buf, e.h), e.row)
	if len(w.buf)+entrySize > cap(w.buf) {
		w.flush()
	}
}

func (w *runWriter) flush() {
	if w.err == nil && len(w.buf) > 0 {
		_, w.err = w.r.f.Write(w.buf)
	}
	w.buf = w.buf[:0]
}

func (w *runWriter) finish() (*run, error) {
	w.flush()
	err := w.err
	if err == nil && w.r.n != w.want {
		err = fmt.Errorf("wrote %d entries, want %d", w.r.n, w.want)
	}
	if err != nil {
		w.r.close()
		return nil, fmt.Errorf("duplicate-id set: spill to disk: %w", err)
	}
	return w.r, nil
}

// runReader reads a run's entries in order, a few blocks at a time.
type runReader struct {
	f        *os.File
	off, end int64
	buf      []byte
	pos      int
}

func (rd *runReader) next() (entry, bool, error) {
	if rd.pos == len(rd.buf) {
		if rd.off == rd.end {
			return entry{}, false, nil
		}
		b := rd.buf[:min(int64(cap(rd.buf)), rd.end-rd.off)]
		if _, err := rd.f.ReadAt(b, rd.off); err != nil {
			return entry{}, false, fmt.Errorf("duplicate-id set: read spilled run: %w", err)
		}
		rd.buf, rd.pos, rd.off = b, 0, rd.off+int64(len(b))
	}
	e := decode(rd.buf[rd.pos:])
	rd.pos += entrySize
	return e, true, nil
}

// Close removes the temp files. The set is empty and unusable afterwards.
func (s *Set) Close() error {
	var errs []error
	for _, r := range s.runs {
		errs = append(errs, r.close())
	}
	s.runs, s.keys, s.rows, s.n, s.bloom = nil, nil, nil, 0, nil
	if s.err == nil {
		s.err = errors.New("duplicate-id set: closed")
	}
	return errors.Join(errs...)
}

// run is one sorted temp file of entries.
type run struct {
	f     *os.File
	path  string // set while the file still has a name to remove
	n     int
	level int
	fence []uint64 // first hash of each block
}

func (r *run) lookup(h uint64, buf *[]byte) (row int, ok bool, err error) {
	b := sort.Search(len(r.fence), func(i int) bool { return r.fence[i] > h }) - 1
	if b < 0 {
		return 0, false, nil
	}
	cnt := min(blockLen, r.n-b*blockLen)
	if cap(*buf) < blockBytes {
		*buf = make([]byte, blockBytes)
	}
	blk := (*buf)[:cnt*entrySize]
	if _, err := r.f.ReadAt(blk, int64(b)*blockBytes); err != nil {
		return 0, false, fmt.Errorf("duplicate-id set: read spilled run: %w", err)
	}
	i := sort.Search(cnt, func(i int) bool { return binary.LittleEndian.Uint64(blk[i*entrySize:]) >= h })
	if i < cnt {
		if e := decode(blk[i*entrySize:]); e.h == h {
			return int(e.row), true, nil
		}
	}
	return 0, false, nil
}

func (r *run) close() error {
	err := r.f.Close()
	if r.path != "" {
		if rerr := os.Remove(r.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
		r.path = ""
	}
	return err
}

func decode(b []byte) entry {
	return entry{h: binary.LittleEndian.Uint64(b), row: binary.LittleEndian.Uint32(b[8:])}
}

// bloom is a blocked Bloom filter: every probe of one key falls in the same
// 512-bit block, so a negative answer costs one cache line.
type bloom []uint64

func newBloom(n int) bloom {
	blocks := max(1, (n*bitsPerID+511)/512)
	return make(bloom, blocks*8)
}

func (b bloom) pos(h uint64) (blk []uint64, g uint64) {
	nb := uint64(len(b) / 8)
	hi, _ := bits.Mul64(h, nb) // h spread over [0, nb) without a division
	// The bit positions come from a second mix of h, so they do not
	// correlate with the block choice (which uses h's high bits).
	return b[hi*8 : hi*8+8], h * 0x9E3779B97F4A7C15
}

func (b bloom) add(h uint64) {
	blk, g := b.pos(h)
	for range bloomProbes {
		p := g >> 55 // 9 bits: 0..511
		blk[p>>6] |= 1 << (p & 63)
		g = bits.RotateLeft64(g, 9)
	}
}

func (b bloom) has(h uint64) bool {
	blk, g := b.pos(h)
	for range bloomProbes {
		p := g >> 55
		if blk[p>>6]&(1<<(p&63)) == 0 {
			return false
		}
		g = bits.RotateLeft64(g, 9)
	}
	return true
}
