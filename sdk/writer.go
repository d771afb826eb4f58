package sdk

import (
	"context"
	"sort"

	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

// RecordWriter batches records for the host. Write blocks while the host is
// behind (gRPC flow control), so a plugin streaming a million rows holds only
// a few batches in memory.
type RecordWriter struct {
	ctx       context.Context
	batchSize int
	maxBytes  int
	flushFn   func(b *batch) error

	recs     []Record
	recBytes int
	// Rows from WriteValues go straight into b.packed, the wire encoding
	// (pb.AppendPacked), rather than into a copied []string per row that
	// the flush then encodes: one copy of each value instead of a slice
	// allocation plus a copy. Mutually exclusive with recs.
	b    batch
	sent int
	// repeats: the host decodes RecordBatch.packed_repeats, so rows from
	// WriteValues are packed with repeated values as one-byte markers.
	repeats bool
	packer  pb.RepeatPacker
}

// batch is what a flush hands to the transport: rows already packed. The
// transport must be done with it when flushFn returns (gRPC's Send marshals
// before it returns), because packed and rejects are reused.
type batch struct {
	cols    []string
	packed  []byte
	count   int
	rejects []RecordError
	cursor  string
}

func newRecordWriter(ctx context.Context, batchSize int, repeats bool, flush func(*batch) error) *RecordWriter {
	if batchSize <= 0 || batchSize > 5000 {
		batchSize = 500
	}
	return &RecordWriter{ctx: ctx, batchSize: batchSize, maxBytes: 1 << 20, flushFn: flush, repeats: repeats}
}

// Write queues one record.
func (w *RecordWriter) Write(r Record) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if w.b.count > 0 {
		if err := w.send(); err != nil {
			return err
		}
	}
	w.recs = append(w.recs, r)
	for k, v := range r.Fields {
		w.recBytes += len(k) + len(v)
	}
	if len(w.recs) >= w.batchSize || w.recBytes >= w.maxBytes {
		return w.flush()
	}
	return nil
}

// WriteValues queues one record given as values aligned with columns. It is
// the fast path for plugins that read tabular sources: no map per row, and
// the column list is sent once per batch. A value equal to the previous
// row's in the same column (brand, category, shipping, a description shared
// by a product's variants) is sent as a one-byte marker when the host
// supports it, so there is no need to blank repeated values. values is
// copied before WriteValues returns, so a reused slice (csv.Reader.ReuseRecord)
// is fine; pass the same columns slice for consecutive rows.
func (w *RecordWriter) WriteValues(origin string, columns, values []string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if len(columns) != len(values) {
		return errorf("WriteValues: %d columns but %d values (%s)", len(columns), len(values), origin)
	}
	if len(w.recs) > 0 || (w.b.count > 0 && !sameColumns(w.b.cols, columns)) {
		if err := w.send(); err != nil {
			return err
		}
	}
	if w.b.count == 0 {
		w.b.cols = columns
		w.startPacking()
	}
	w.pack(origin, values)
	w.b.count++
	if w.b.count >= w.batchSize || len(w.b.packed) >= w.maxBytes {
		return w.send()
	}
	return nil
}

func sameColumns(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) > 0 && &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Reject reports a source row that could not become a record. It is never
// dropped: the host puts it in the feed's error report.
func (w *RecordWriter) Reject(e RecordError) error {
	w.b.rejects = append(w.b.rejects, e)
	if len(w.b.rejects) >= w.batchSize {
		return w.flush()
	}
	return nil
}

// SetCursor records how to resume after the records written so far. The host
// stores the last cursor of a successful read and passes it back next time.
func (w *RecordWriter) SetCursor(c string) { w.b.cursor = c }

// Written counts records sent so far.
func (w *RecordWriter) Written() int { return w.sent + len(w.recs) + w.b.count }

func (w *RecordWriter) flush() error {
	if len(w.recs) == 0 && w.b.count == 0 && len(w.b.rejects) == 0 {
		return nil
	}
	return w.send()
}

// close sends what is left, plus the final cursor even when there are no
// records, so an empty incremental read still advances the cursor.
func (w *RecordWriter) close() error { return w.send() }

// startPacking empties the batch's packed rows for a new batch.
func (w *RecordWriter) startPacking() {
	w.b.packed = w.b.packed[:0]
	w.packer.Reset()
}

// pack appends one row to the batch, with repeats when the host takes them.
func (w *RecordWriter) pack(origin string, values []string) {
	if w.repeats {
		w.b.packed = w.packer.Append(w.b.packed, origin, values)
	} else {
		w.b.packed = pb.AppendPacked(w.b.packed, origin, values)
	}
}

func (w *RecordWriter) send() error {
	if w.b.count == 0 {
		// Map records (or only rejects and the cursor): pack them under
		// the union of their fields.
		w.b.cols = columnsOf(w.recs)
		index := make(map[string]int, len(w.b.cols))
		for i, c := range w.b.cols {
			index[c] = i
		}
		row := make([]string, len(w.b.cols))
		w.startPacking()
		for _, r := range w.recs {
			clear(row)
			for k, v := range r.Fields {
				row[index[k]] = v
			}
			w.pack(r.Origin, row)
		}
		w.b.count = len(w.recs)
	}
	err := w.flushFn(&w.b)
	w.sent += w.b.count
	// flushFn has handed the batch to gRPC, which marshalled it before
	// returning, so the buffers can be reused.
	w.b.count = 0
	w.b.packed = w.b.packed[:0]
	w.b.rejects = w.b.rejects[:0]
	w.recs = w.recs[:0]
	w.recBytes = 0
	return err
}

// columnsOf returns the union of field names in a batch, sorted so batches
// with the same fields have the same header.
func columnsOf(recs []Record) []string {
	seen := make(map[string]struct{}, 32)
	var cols []string
	for _, r := range recs {
		for k := range r.Fields {
			if _, ok := seen[k]; !ok {
				seen[k] = struct{}{}
				cols = append(cols, k)
			}
		}
	}
	sort.Strings(cols)
	return cols
}
