package sdk

import (
	"context"
	"sort"
)

// RecordWriter batches records for the host. Write blocks while the host is
// behind (gRPC flow control), so a plugin streaming a million rows holds only
// a few batches in memory.
type RecordWriter struct {
	ctx       context.Context
	batchSize int
	maxBytes  int
	flushFn   func(columns []string, values [][]string, origins []string, rejects []RecordError, cursor string) error

	recs    []Record
	rejects []RecordError
	// Columnar pending rows from WriteValues; mutually exclusive with recs.
	cols    []string
	rows    [][]string
	origins []string
	bytes   int
	cursor  string
	sent    int
}

func newRecordWriter(ctx context.Context, batchSize int, flush func([]string, [][]string, []string, []RecordError, string) error) *RecordWriter {
	if batchSize <= 0 || batchSize > 5000 {
		batchSize = 500
	}
	return &RecordWriter{ctx: ctx, batchSize: batchSize, maxBytes: 1 << 20, flushFn: flush}
}

// Write queues one record.
func (w *RecordWriter) Write(r Record) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if len(w.rows) > 0 {
		if err := w.send(); err != nil {
			return err
		}
	}
	w.recs = append(w.recs, r)
	for k, v := range r.Fields {
		w.bytes += len(k) + len(v)
	}
	if len(w.recs) >= w.batchSize || w.bytes >= w.maxBytes {
		return w.flush()
	}
	return nil
}

// WriteValues queues one record given as values aligned with columns. It is
// the fast path for plugins that read tabular sources: no map per row, and
// the column list is sent once per batch. values is copied, so a reused
// slice (csv.Reader.ReuseRecord) is fine; pass the same columns slice for
// consecutive rows.
func (w *RecordWriter) WriteValues(origin string, columns, values []string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if len(columns) != len(values) {
		return errorf("WriteValues: %d columns but %d values (%s)", len(columns), len(values), origin)
	}
	if len(w.recs) > 0 || (len(w.rows) > 0 && !sameColumns(w.cols, columns)) {
		if err := w.send(); err != nil {
			return err
		}
	}
	if len(w.rows) == 0 {
		w.cols = columns
	}
	row := make([]string, len(values))
	copy(row, values)
	w.rows = append(w.rows, row)
	w.origins = append(w.origins, origin)
	for _, v := range values {
		w.bytes += len(v)
	}
	if len(w.rows) >= w.batchSize || w.bytes >= w.maxBytes {
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
	w.rejects = append(w.rejects, e)
	if len(w.rejects) >= w.batchSize {
		return w.flush()
	}
	return nil
}

// SetCursor records how to resume after the records written so far. The host
// stores the last cursor of a successful read and passes it back next time.
func (w *RecordWriter) SetCursor(c string) { w.cursor = c }

// Written counts records sent so far.
func (w *RecordWriter) Written() int { return w.sent + len(w.recs) + len(w.rows) }

func (w *RecordWriter) flush() error {
	if len(w.recs) == 0 && len(w.rows) == 0 && len(w.rejects) == 0 {
		return nil
	}
	return w.send()
}

// close sends what is left, plus the final cursor even when there are no
// records, so an empty incremental read still advances the cursor.
func (w *RecordWriter) close() error { return w.send() }

func (w *RecordWriter) send() error {
	if len(w.rows) > 0 {
		err := w.flushFn(w.cols, w.rows, w.origins, w.rejects, w.cursor)
		w.sent += len(w.rows)
		// The batch was handed to gRPC, which has marshalled it by now, so
		// the slices can be reused.
		w.rows, w.origins = w.rows[:0], w.origins[:0]
		w.rejects = w.rejects[:0]
		w.bytes = 0
		return err
	}
	columns := columnsOf(w.recs)
	index := make(map[string]int, len(columns))
	for i, c := range columns {
		index[c] = i
	}
	values := make([][]string, len(w.recs))
	origins := make([]string, len(w.recs))
	for i, r := range w.recs {
		row := make([]string, len(columns))
		for k, v := range r.Fields {
			row[index[k]] = v
		}
		values[i] = row
		origins[i] = r.Origin
	}
	err := w.flushFn(columns, values, origins, w.rejects, w.cursor)
	w.sent += len(w.recs)
	w.recs = w.recs[:0]
	w.rejects = w.rejects[:0]
	w.bytes = 0
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
