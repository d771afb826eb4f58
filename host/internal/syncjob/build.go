package syncjob

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/feed"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/store"
	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
	"github.com/acs-connector/acs-connector/proto/gcheadroom"
)

// stageFlush is how many staged rows are buffered before they go to the
// store.
const stageFlush = 5000

// part is one feed part being written.
type part struct {
	n      int
	path   string
	f      *os.File
	h      hash.Hash // nil when the content hash is not needed
	upload *store.Upload
	size   int64
	rows   int
	sha    string
	closed bool
}

func (p *part) Write(b []byte) (int, error) {
	if p.h != nil {
		p.h.Write(b)
	}
	n, err := p.f.Write(b)
	p.size += int64(n)
	return n, err
}

func (p *part) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if p.h != nil {
		p.sha = hex.EncodeToString(p.h.Sum(nil))
	}
	return p.f.Close()
}

// buildOut is what a build produced.
type buildOut struct {
	stats     feed.Stats
	read      int // records from the plugin
	rejected  int // rows the plugin rejected (part of stats.Invalid)
	unchanged int // rows skipped as already accepted
	deleted   int // delete=true rows written
	live      int // valid rows that are not deletions
	vanished  int // delete=true rows for ids gone from the backend (part of deleted)
	// held counts the ids gone from the backend whose deletion was not
	// sent because there were more than maxDeletions allows.
	held   int
	parts  []*part
	cursor string
	// content identifies what the build says about the catalog: the header
	// and the hashes of its live rows and explicit deletions, in order.
	// Rows for vanished ids are left out, so that the run after a deletion
	// is recognised as unchanged.
	content string
}

// build streams one plugin read into a feed.Builder.
type build struct {
	r        *Runner
	job      string
	kind     feed.Kind
	readKind pluginmgr.ReadKind
	plugin   *pluginmgr.Plugin
	source   string
	cursor   string
	dir      string
	// single, when set, is the one output file (Export; no parts).
	single  string
	errPath string
	maxPart int64
	// stage: create upload records and stage row hashes (Run).
	stage bool
	// incremental: skip rows whose hash Stripe accepted before.
	incremental bool
	// deletions: full catalog run that appends delete=true rows for
	// accepted ids that vanished, unless more than maxDeletions did.
	deletions    bool
	maxDeletions config.Limit
	api          string

	ctx     context.Context
	b       *feed.Builder
	errs    *lazyFile
	out     buildOut
	cur     *part
	pending []store.RowHash // rows to stage under pendPart
	pendPt  *part
	keep    []string // present-but-invalid ids seen before any part existed
	invalid []string // ids of this batch's rejected rows (deletion runs)
	header  []string // the feed's columns
	cols    []string // the columns of the previous batch

	hbuf     []byte
	contentH hash.Hash
}

// run reads the plugin to the end and closes the builder. On error the parts
// written so far are left for discard.
func (b *build) run(ctx context.Context) (buildOut, error) {
	b.ctx = ctx
	if b.errPath != "" {
		_ = os.Remove(b.errPath)
		b.errs = &lazyFile{path: b.errPath}
	}
	err := b.stream(ctx)
	if err == nil && b.deletions && b.stage && b.out.live > 0 {
		var n int
		if n, err = b.countVanished(ctx); err == nil {
			if b.maxDeletions.Allows(n, b.out.live+n) {
				err = b.addVanished(ctx)
			} else {
				b.out.held = n
			}
		}
	}
	if b.b != nil {
		stats, cerr := b.b.Close()
		b.out.stats = stats
		if err == nil && cerr != nil {
			err = fmt.Errorf("build %s feed: %w", b.kind, cerr)
		}
	}
	if err == nil {
		err = b.flush(ctx)
	}
	if b.contentH != nil {
		b.out.content = hex.EncodeToString(b.contentH.Sum(nil))
	}
	if b.errs != nil {
		if cerr := b.errs.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("error report: %w", cerr)
		}
	}
	for _, p := range b.out.parts {
		_ = p.Close() // a failed build may leave the current part open
	}
	return b.out, err
}

type batchOrErr struct {
	b   *pb.RecordBatch
	err error
	// The batch's rows, decoded on the receiving goroutine; they point into
	// b's BatchBuffer and into the decoder's slices.
	recs   []pb.Row
	bad    []pb.RowError
	decErr error
}

// stream reads batches (received and decoded one ahead on a goroutine, so
// protobuf and packed decoding overlap validation) and feeds them to the
// builder.
func (b *build) stream(ctx context.Context) error {
	st, err := b.plugin.Read(ctx, b.readKind, b.cursor, b.r.opt.BatchSize)
	if err != nil {
		return fmt.Errorf("read %s from plugin %s: %w", b.kind, b.source, err)
	}
	defer st.Close()
	done := make(chan struct{})
	defer close(done)
	// One batch queued is enough to overlap decoding with validation; each
	// more is another ~1 MiB (the message) held live and doubled by the
	// GC's headroom.
	ch := make(chan batchOrErr, 1)
	go func() {
		defer close(ch)
		// A batch and its rows live in a BatchBuffer and a decoder, both
		// overwritten by the next batch received into them. At most three
		// batches are in hand at once: the one the builder is on, the one
		// queued, and the one being received and decoded here (its send
		// waits until the builder has taken the queued one, so is done
		// with the one before, and has released its values). So three
		// buffers in turn never overwrite rows in use, and a whole read
		// goes through the same three batches' worth of memory.
		var (
			bufs [3]pb.BatchBuffer
			decs [3]pb.BatchDecoder
		)
		for i := 0; ; i++ {
			slot := i % len(bufs)
			err := st.NextInto(&bufs[slot])
			it := batchOrErr{err: err}
			if err == nil {
				it.b = bufs[slot].Batch
				it.recs, it.bad, it.decErr = decs[slot].Decode(it.b)
			}
			select {
			case ch <- it:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for it := range ch {
		if it.err == io.EOF {
			return nil
		}
		if it.err != nil {
			if errors.Is(it.err, pluginmgr.ErrUnavailable) {
				return fmt.Errorf("plugin %s stopped in the middle of the %s feed after %d records; nothing was uploaded: %w",
					b.source, b.kind, b.out.read, it.err)
			}
			return fmt.Errorf("read %s from plugin %s after %d records: %w", b.kind, b.source, b.out.read, it.err)
		}
		b.out.cursor = it.b.GetCursor()
		if err := b.batch(ctx, it); err != nil {
			return err
		}
		if b.b != nil {
			// The batch's memory is received into again once the next
			// one is taken from ch.
			b.b.ReleaseValues()
		}
		if err := b.r.step(ctx, "batch", nil); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return errors.New("record stream ended without EOF")
}

// outputColumns is the feed header: the columns the plugin sends (plus
// delete for a catalog run with deletions), in spec order. Columns outside
// the spec are kept so that the builder names them in its error.
func outputColumns(k feed.Kind, cols []string, withDelete bool) []string {
	if len(cols) == 0 {
		return nil // feed.Columns(k)
	}
	want := make(map[string]bool, len(cols)+1)
	for _, c := range cols {
		want[c] = true
	}
	if withDelete {
		want["delete"] = true
	}
	out := make([]string, 0, len(want))
	for _, c := range feed.Columns(k) {
		if want[c] {
			out = append(out, c)
			delete(want, c)
		}
	}
	for _, c := range cols {
		if want[c] {
			out = append(out, c)
			delete(want, c)
		}
	}
	return out
}

func (b *build) newBuilder(cols []string) error {
	var errw io.Writer
	if b.errs != nil {
		errw = b.errs
	}
	b.header = outputColumns(b.kind, cols, b.deletions)
	if b.header == nil {
		b.header = feed.Columns(b.kind)
	}
	// The duplicate-id set spills beside the feed it checks: a directory
	// the run can write, on the disk that holds the feed anyway.
	tmp := b.dir
	if b.single != "" {
		tmp = filepath.Dir(b.single)
	}
	fb, err := feed.NewBuilder(b.kind, b.openPart, errw, feed.Options{Columns: b.header, MaxPartBytes: b.maxPart,
		TempDir: tmp, DuplicateBudget: b.r.opt.DuplicateBudget})
	if err != nil {
		return fmt.Errorf("plugin %s: %w", b.source, err)
	}
	b.b = fb
	if b.stage {
		b.contentH = sha256.New()
		fmt.Fprintf(b.contentH, "%s\x00%s\n", b.kind, strings.Join(b.header, ","))
	}
	return nil
}

// openPart is the builder's part opener: a file, and for a Run an upload
// record in status building (rows are staged against it).
func (b *build) openPart(n int) (io.WriteCloser, error) {
	p := &part{n: n, path: partPath(b.dir, n)}
	if b.single != "" {
		if n > 1 {
			return nil, errors.New("export: a second part was opened")
		}
		p.path = b.single
	}
	if b.stage {
		p.h = sha256.New()
	}
	f, err := os.Create(p.path)
	if err != nil {
		return nil, err
	}
	p.f = f
	if b.stage {
		u := &store.Upload{Job: b.job, Kind: b.kind.String(), Source: b.source, Part: n, API: b.api, Status: StatusBuilding}
		if err := b.r.st.CreateUpload(b.ctx, u); err != nil {
			f.Close()
			return nil, err
		}
		p.upload = u
	}
	b.out.parts = append(b.out.parts, p)
	b.cur = p
	return p, nil
}

func colIndex(cols []string, name string) int {
	for i, c := range cols {
		if c == name {
			return i
		}
	}
	return -1
}

func (b *build) batch(ctx context.Context, it batchOrErr) error {
	bt := it.b
	cols := bt.GetColumns()
	// Every batch carries its own copy of the column names. Handing the
	// builder the first copy again lets it recognise the columns by
	// pointer instead of comparing the names on every row.
	if slices.Equal(cols, b.cols) {
		cols = b.cols
	} else if len(cols) > 0 {
		b.cols = cols
	}
	if b.b == nil {
		if err := b.newBuilder(cols); err != nil {
			return err
		}
	}
	for _, e := range bt.GetErrors() {
		b.out.rejected++
		if err := b.b.AddRejected(e.GetOrigin(), e.GetField(), e.GetMessage(), e.GetPartial()); err != nil {
			return fmt.Errorf("build %s feed: %w", b.kind, err)
		}
		if b.deletions {
			if id := strings.TrimSpace(e.GetPartial()["id"]); id != "" {
				b.invalid = append(b.invalid, id)
			}
		}
	}
	recs, bad, err := it.recs, it.bad, it.decErr
	if err != nil {
		return fmt.Errorf("read %s from plugin %s: %w", b.kind, b.source, err)
	}
	for _, e := range bad {
		b.out.rejected++
		if err := b.b.AddRejected(e.Origin, e.Column, e.Message, nil); err != nil {
			return fmt.Errorf("build %s feed: %w", b.kind, err)
		}
	}
	if len(recs) == 0 {
		if err := b.keepInvalid(ctx); err != nil {
			return err
		}
		return b.maybeFlush(ctx)
	}
	idIdx, delIdx := colIndex(cols, "id"), colIndex(cols, "delete")
	var accepted map[string]string
	if b.incremental && b.stage && idIdx >= 0 {
		ids := make([]string, 0, len(recs))
		for _, rec := range recs {
			if v := rec.Values; idIdx < len(v) {
				if id := strings.TrimSpace(v[idIdx]); id != "" {
					ids = append(ids, id)
				}
			}
		}
		var err error
		if accepted, err = b.r.st.AcceptedHashesFor(ctx, b.job, ids); err != nil {
			return err
		}
	}
	for _, rec := range recs {
		b.out.read++
		vals := rec.Values
		id, h := "", ""
		if idIdx >= 0 && idIdx < len(vals) {
			id = strings.TrimSpace(vals[idIdx])
		}
		if b.stage {
			h = b.rowHash(cols, vals)
			if old, ok := accepted[id]; ok && old == h {
				b.out.unchanged++
				continue
			}
		}
		// BatchDecoder returned only rows whose values are valid UTF-8.
		valid, err := b.b.Add(feed.Record{Origin: rec.Origin, Columns: cols, Values: vals, ValidUTF8: true})
		if err != nil {
			return fmt.Errorf("build %s feed: %w", b.kind, err)
		}
		if !valid {
			if b.deletions && id != "" && !idProblem(b.b.LastProblems()) {
				b.invalid = append(b.invalid, strings.Clone(id))
			}
			continue
		}
		b.cur.rows++
		if delIdx >= 0 && delIdx < len(vals) && strings.TrimSpace(vals[delIdx]) == "true" {
			b.out.deleted++
			if b.contentH != nil {
				fmt.Fprintf(b.contentH, "-%s\n", id)
			}
			h = deletedHash
		} else {
			b.out.live++
			if b.contentH != nil {
				b.contentH.Write([]byte(h))
				b.contentH.Write([]byte{'\n'})
			}
		}
		if b.stage {
			if err := b.stageRow(ctx, id, h); err != nil {
				return err
			}
		}
	}
	if err := b.keepInvalid(ctx); err != nil {
		return err
	}
	return b.maybeFlush(ctx)
}

// keepInvalid marks the batch's rejected ids that Stripe has (an accepted
// hash) as present, so that the deletion pass does not delete them.
func (b *build) keepInvalid(ctx context.Context) error {
	if len(b.invalid) == 0 || !b.stage {
		b.invalid = b.invalid[:0]
		return nil
	}
	acc, err := b.r.st.AcceptedHashesFor(ctx, b.job, b.invalid)
	if err != nil {
		return err
	}
	for _, id := range b.invalid {
		if _, ok := acc[id]; ok {
			if err := b.keepID(id); err != nil {
				return err
			}
		}
	}
	b.invalid = b.invalid[:0]
	return nil
}

// idProblem reports a row rejected for its id (empty, malformed, duplicate):
// such a row says nothing about whether the item is still in the backend.
func idProblem(ps []feed.Problem) bool {
	for _, p := range ps {
		if p.Column == "id" {
			return true
		}
	}
	return false
}

// keepID stages an id that is in the backend but whose row was rejected, so
// that the deletion pass does not take it for gone.
func (b *build) keepID(id string) error {
	if !b.stage {
		return nil
	}
	if b.cur == nil {
		b.keep = append(b.keep, id)
		return nil
	}
	return b.stageRow(b.ctx, id, presentHash)
}

// stageRow buffers one row hash for the current part. Only incremental
// feeds (which compare with them) and catalogs with deletions (which need
// every id) keep row hashes: a catalog with deletions off has no use for
// them.
func (b *build) stageRow(ctx context.Context, id, h string) error {
	if !b.incremental && !b.deletions {
		return nil
	}
	if b.pendPt != b.cur {
		if err := b.flush(ctx); err != nil {
			return err
		}
		b.pendPt = b.cur
	}
	// Decoded values point into the plugin's batch buffer; clone the id so
	// pending rows do not keep whole batches alive.
	b.pending = append(b.pending, store.RowHash{ItemID: strings.Clone(id), Hash: h})
	return nil
}

func (b *build) maybeFlush(ctx context.Context) error {
	if len(b.pending) >= stageFlush || (len(b.keep) > 0 && b.cur != nil) {
		return b.flush(ctx)
	}
	return nil
}

// flush writes the buffered row hashes to the store.
func (b *build) flush(ctx context.Context) error {
	if !b.stage {
		return nil
	}
	if len(b.keep) > 0 && b.cur != nil {
		keep := b.keep
		b.keep = nil
		for _, id := range keep {
			if err := b.stageRow(ctx, id, presentHash); err != nil {
				return err
			}
		}
	}
	if len(b.pending) == 0 || b.pendPt == nil {
		return nil
	}
	rows := b.pending
	b.pending = b.pending[:0]
	if err := b.r.st.StageRows(ctx, b.job, b.pendPt.upload.ID, rows); err != nil {
		return err
	}
	return nil
}

// countVanished counts the accepted ids the run did not stage: what
// addVanished would delete. One count query, and none at all when
// max_deletions is off.
func (b *build) countVanished(ctx context.Context) (int, error) {
	if b.maxDeletions.Off() {
		return 0, nil
	}
	if err := b.flush(ctx); err != nil {
		return 0, err
	}
	return b.r.st.CountVanished(ctx, b.job, b.partUploads())
}

func (b *build) partUploads() []int64 {
	ids := make([]int64, 0, len(b.out.parts))
	for _, p := range b.out.parts {
		ids = append(ids, p.upload.ID)
	}
	return ids
}

// addVanished appends a delete=true row for every accepted id the run did
// not stage.
func (b *build) addVanished(ctx context.Context) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	cols := []string{"id", "delete"}
	return b.r.st.VanishedItems(ctx, b.job, b.partUploads(), func(id string) error {
		valid, err := b.b.Add(feed.Record{Origin: "deleted from " + b.source, Columns: cols, Values: []string{id, "true"}})
		if err != nil {
			return fmt.Errorf("build %s feed: %w", b.kind, err)
		}
		if !valid {
			return nil // reported in the error report
		}
		b.cur.rows++
		b.out.deleted++
		b.out.vanished++
		if err := b.stageRow(ctx, id, deletedHash); err != nil {
			return err
		}
		return b.maybeFlush(ctx)
	})
}

// rowHash identifies a row's content: 64-bit xxHash over the column names
// and values, in hex. It only has to tell one item's old row from its new
// one (a collision would skip one change with probability 2^-64), so a fast
// non-cryptographic hash will do; SHA-256 here cost 5% of a catalog run.
func (b *build) rowHash(cols, vals []string) string {
	buf := b.hbuf[:0]
	for i, v := range vals {
		if i < len(cols) {
			buf = append(buf, cols[i]...)
		}
		buf = append(buf, 0x1f)
		buf = append(buf, v...)
		buf = append(buf, 0x1e)
	}
	b.hbuf = buf
	var sum [8]byte
	var out [16]byte
	binary.BigEndian.PutUint64(sum[:], xxhash.Sum64(buf))
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// discard forgets a build that will not be uploaded: its upload records and
// staged rows, and its part files. The error report stays.
func (b *build) discard(ctx context.Context) {
	for _, p := range b.out.parts {
		_ = p.Close()
		if p.upload != nil && p.upload.ImportID == "" {
			if err := b.r.st.DeleteUpload(ctx, p.upload.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				b.r.log.Warn("could not remove the record of an unsent feed part", "job", b.job, "upload", p.upload.ID, "err", err)
			}
		}
		if b.single == "" {
			_ = os.Remove(p.path)
		}
	}
}

// lazyFile creates its file at the first write.
type lazyFile struct {
	path string
	f    *os.File
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil {
		f, err := os.Create(l.path)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	return l.f.Write(p)
}

func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	return f.Close()
}

// Export builds and validates a job's feed into outPath without uploading
// it (acs-connector feed export): a full read of the plugin, every valid row
// in one file, rejected rows in errorsPath ("" discards them). Incremental
// filtering and deletions need the upload history and are not applied.
// While it runs, the process's GC collects exportHeadroom above the live heap:
// call it from one-shot commands, not from a daemon serving hooks.
func (r *Runner) Export(ctx context.Context, j *config.Job, outPath, errorsPath string) (feed.Stats, error) {
	kind, readKind, err := feedKind(j.Type)
	if err != nil {
		return feed.Stats{}, err
	}
	p, err := r.plugin(j)
	if err != nil {
		return feed.Stats{}, err
	}
	if outPath == "" {
		return feed.Stats{}, errors.New("export: no output file")
	}
	if err := os.MkdirAll(filepath.Dir(outPath), 0o750); err != nil {
		return feed.Stats{}, fmt.Errorf("export: %w", err)
	}
	defer gcheadroom.Start(exportHeadroom)()
	tmp := outPath + ".tmp"
	b := &build{r: r, job: jobName(j), kind: kind, readKind: readKind, plugin: p, source: j.Plugin,
		single: tmp, errPath: errorsPath}
	out, err := b.run(ctx)
	if err != nil {
		_ = os.Remove(tmp)
		return out.stats, fmt.Errorf("export %s: %w", jobName(j), err)
	}
	if len(out.parts) == 0 {
		// No valid row: the file is the header alone.
		if err := writeHeaderOnly(tmp, b); err != nil {
			return out.stats, fmt.Errorf("export %s: %w", jobName(j), err)
		}
	}
	if err := os.Rename(tmp, outPath); err != nil {
		_ = os.Remove(tmp)
		return out.stats, fmt.Errorf("export %s: %w", jobName(j), err)
	}
	return out.stats, nil
}

func writeHeaderOnly(path string, b *build) error {
	cols := b.header
	if cols == nil {
		cols = feed.Columns(b.kind)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write(cols)
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
