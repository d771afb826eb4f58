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
	w.recs = append(w.recs, r)
	for k, v := range r.Fields {
		w.bytes += len(k) + len(v)
	}
	if len(w.recs) >= w.batchSize || w.bytes >= w.maxBytes {
		return w.flush()
	}
	return nil
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
func (w *RecordWriter) Written() int { return w.sent + len(w.recs) }

func (w *RecordWriter) flush() error {
	if len(w.recs) == 0 && len(w.rejects) == 0 {
		return nil
	}
	return w.send()
}

// close sends what is left, plus the final cursor even when there are no
// records, so an empty incremental read still advances the cursor.
func (w *RecordWriter) close() error { return w.send() }

func (w *RecordWriter) send() error {
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
