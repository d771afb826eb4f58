package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
)

// recordSink is the part of *sdk.RecordWriter a read uses.
type recordSink interface {
	WriteValues(origin string, columns, values []string) error
	Reject(e sdk.RecordError) error
	SetCursor(c string)
}

// read streams one feed query into w: each row is converted and written as
// it arrives (rows.Next), so memory stays flat however large the table is.
// With a cursor and an incremental query, the incremental query runs with
// the cursor bound as its parameter; otherwise the full query runs.
func (st *state) read(ctx context.Context, k feedKind, cursor string, w recordSink) error {
	fq := st.feeds[k]
	if fq == nil {
		return fmt.Errorf("no queries.%s configured: %w", k, sdk.ErrUnimplemented)
	}
	stmt := fq.full
	if cursor != "" && fq.incr != nil {
		stmt = fq.incr
		// An incremental read that finds nothing keeps the cursor.
		w.SetCursor(cursor)
	}
	start := time.Now()
	n, rejected, err := st.stream(ctx, stmt, cursor, fq.incr != nil, w)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("query %s: %w", stmt.name, ctx.Err())
		}
		return err
	}
	sdk.Logger().Debug("read done", "query", stmt.name, "rows", n, "rejected", rejected, "elapsed", time.Since(start).String())
	return nil
}

// column is how one result column is handled.
type column struct {
	out    int // index in the written values, or -1
	cursor bool
	name   string
	conv   converter
}

func (st *state) stream(ctx context.Context, stmt *statement, cursor string, track bool, w recordSink) (rows int, rejected int, err error) {
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// query_timeout bounds the wait for the first row. After that the read
	// runs as long as the host keeps consuming: a big catalog streams for
	// minutes, paced by the host.
	var timedOut atomic.Bool
	timer := time.AfterFunc(st.queryTimeout, func() { timedOut.Store(true); cancel() })
	defer timer.Stop()
	timeoutErr := func(err error) error {
		if timedOut.Load() {
			return fmt.Errorf("query %s: no rows after %s (query_timeout)", stmt.name, st.queryTimeout)
		}
		return st.errorf(err, "query %s", stmt.name)
	}

	vals := map[string]any{"cursor": cursor}
	res, err := st.db.QueryContext(qctx, stmt.SQL, stmt.args(vals, st.params)...)
	if err != nil {
		return 0, 0, timeoutErr(err)
	}
	defer res.Close()

	types, err := res.ColumnTypes()
	if err != nil {
		return 0, 0, timeoutErr(err)
	}
	cols := make([]column, len(types))
	var names []string
	cursorIdx := -1
	for i, t := range types {
		name := strings.ToLower(t.Name())
		c := column{out: -1, name: name}
		dbType := strings.ToUpper(t.DatabaseTypeName())
		switch {
		case track && name == st.cursorColumn:
			c.cursor = true
			cursorIdx = i
		case name == st.cursorColumn:
			// The cursor column of a kind without an incremental query
			// is ignored.
		case !isFeedColumn(stmt.kind(), name):
			return 0, 0, fmt.Errorf("query %s: result column %q is not a column of Stripe's %s feed", stmt.name, name, stmt.kind().feedName())
		default:
			c.out = len(names)
			names = append(names, name)
			c.conv = converter{
				kind:     kindOf(name),
				float32:  st.pg() && (dbType == "FLOAT4" || dbType == "REAL"),
				date:     dbType == "DATE",
				currency: st.currency,
				minor:    st.minorUnits,
			}
		}
		cols[i] = c
	}
	if !contains(names, sdk.FieldID) {
		return 0, 0, fmt.Errorf("query %s: returns no id column", stmt.name)
	}

	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	out := make([]string, len(names))
	prefix := "query " + stmt.name + " row "
	var maxCursor any
	first := true
	for res.Next() {
		if first {
			timer.Stop()
			first = false
		}
		rows++
		if err := res.Scan(ptrs...); err != nil {
			return rows, rejected, timeoutErr(err)
		}
		origin := prefix + strconv.Itoa(rows)
		var bad *sdk.RecordError
		for i := range cols {
			c := &cols[i]
			if c.cursor {
				if raw[i] != nil && cursorLess(maxCursor, raw[i]) {
					maxCursor = cloneValue(raw[i])
				}
				continue
			}
			if c.out < 0 {
				continue
			}
			s, err := c.conv.convert(raw[i])
			if err != nil {
				bad = &sdk.RecordError{Origin: origin, Field: c.name, Message: c.name + " " + err.Error()}
				break
			}
			out[c.out] = s
		}
		if bad != nil {
			bad.Partial = partial(cols, raw, names)
			rejected++
			if err := w.Reject(*bad); err != nil {
				return rows, rejected, err
			}
			continue
		}
		if err := w.WriteValues(origin, names, out); err != nil {
			return rows, rejected, err
		}
	}
	timer.Stop()
	if err := res.Err(); err != nil {
		return rows, rejected, timeoutErr(err)
	}
	if track && cursorIdx >= 0 && maxCursor != nil {
		w.SetCursor(st.cursorText(maxCursor))
	}
	return rows, rejected, nil
}

// partial maps what could be converted of a rejected row, for the error
// report.
func partial(cols []column, raw []any, names []string) map[string]string {
	m := make(map[string]string, len(names))
	for i := range cols {
		c := &cols[i]
		if c.out < 0 {
			continue
		}
		if s, err := c.conv.convert(raw[i]); err == nil && s != "" {
			m[c.name] = s
		}
	}
	return m
}

// kind returns the feed a feed statement belongs to.
func (s *statement) kind() feedKind {
	switch {
	case strings.HasPrefix(s.name, "inventory"):
		return kindInventory
	case strings.HasPrefix(s.name, "prices"):
		return kindPrices
	}
	return kindCatalog
}

func cloneValue(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}

// cursorLess reports whether a < b for cursor values; nil is smallest.
// Values of the same type compare naturally; anything else compares as text.
func cursorLess(a, b any) bool {
	if a == nil {
		return true
	}
	switch x := a.(type) {
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Before(y)
		}
	case int64:
		if y, ok := b.(int64); ok {
			return x < y
		}
	case float64:
		if y, ok := b.(float64); ok {
			return x < y
		}
	}
	return asString(a) < asString(b)
}

// cursorText formats the cursor so that the database compares it correctly
// when it comes back as the incremental query's parameter:
//
//   - PostgreSQL timestamps: RFC 3339 with microseconds, which PostgreSQL
//     parses for timestamp and timestamptz parameters.
//   - SQLite timestamps (columns declared DATE/DATETIME/TIMESTAMP, which the
//     driver parses): SQLite's own "YYYY-MM-DD HH:MM:SS[.fff]" text, so a
//     text comparison against stored CURRENT_TIMESTAMP-style values works.
//   - Numbers and text: as they are.
func (st *state) cursorText(v any) string {
	switch x := v.(type) {
	case time.Time:
		if st.pg() {
			return x.Format(time.RFC3339Nano)
		}
		s := x.Format("2006-01-02 15:04:05.999999999")
		if _, off := x.Zone(); off != 0 {
			s += x.Format("-07:00")
		}
		return s
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return asString(v)
}
