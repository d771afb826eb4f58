package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", no cgo

	"github.com/acs-connector/acs-connector/sdk"
)

// statement is one configured SQL statement, rewritten for the driver.
type statement struct {
	// name is the config key, e.g. "catalog_incremental"; errors and
	// record origins use it.
	name string
	parsed
}

// args binds the statement's placeholders: call-specific values first,
// then the config's params.
func (s *statement) args(vals map[string]any, params map[string]string) []any {
	out := make([]any, len(s.Names))
	for i, n := range s.Names {
		if v, ok := vals[n]; ok {
			out[i] = v
		} else if v, ok := params[n]; ok {
			out[i] = v
		}
	}
	return out
}

// state is a configured plugin: settings, pool and statements. It is
// replaced as a whole on reconfiguration.
type state struct {
	*settings
	db *sql.DB

	feeds   [3]*feedQueries
	avail   *statement
	lookup  *statement
	insert  *statement
	lines   *statement
	updates *statement
	ack     *statement
}

type feedQueries struct {
	full, incr *statement
}

func (st *state) close() error {
	if st.db == nil {
		return nil
	}
	return st.db.Close()
}

func (st *state) capabilities() []string {
	var caps []string
	for k, f := range st.feeds {
		if f != nil {
			c := feedKind(k).String()
			if f.incr != nil {
				c += " (incremental)"
			}
			caps = append(caps, c)
		}
	}
	if st.avail != nil {
		caps = append(caps, sdk.CapAvailability)
	}
	if st.insert != nil {
		caps = append(caps, sdk.CapFulfillment)
	}
	if st.updates != nil {
		caps = append(caps, sdk.CapOrderUpdates)
	}
	return caps
}

func (st *state) pg() bool { return st.driver == driverPostgres }

// errorf wraps err with context, removing the DSN and its password from the
// message (a driver error may quote the connection string).
func (st *state) errorf(err error, format string, args ...any) error {
	return &redactedError{msg: redact(fmt.Sprintf(format, args...)+": "+err.Error(), st.secrets), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// stmtSpec says what a config key accepts.
type stmtSpec struct {
	key *string
	// name is the config key under queries.
	name string
	// positional names the single value $1 / ? stands for, if the statement
	// may use positional placeholders.
	positional string
	// builtin lists the placeholders the plugin fills for this statement.
	builtin map[string]struct{}
	// required lists placeholders the statement must use.
	required []string
}

func set(names ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(names))
	for _, n := range names {
		m[n] = struct{}{}
	}
	return m
}

// newState parses the statements, connects and checks the queries against
// the database. Problems go to resp; the returned state is nil only when it
// holds nothing to close.
func newState(ctx context.Context, s *settings, resp *sdk.ConfigureResponse) *state {
	st := &state{settings: s}
	q := &st.q
	none := set()
	lineNames := set()
	for n := range orderParamNames {
		lineNames[n] = struct{}{}
	}
	for n := range lineParamNames {
		lineNames[n] = struct{}{}
	}
	lineNames["order_ref"] = struct{}{}
	specs := []struct {
		spec stmtSpec
		dst  **statement
	}{
		{stmtSpec{key: &q.Availability, name: "availability", positional: "sku", builtin: set("sku", "quantity"), required: []string{"sku"}}, &st.avail},
		{stmtSpec{key: &q.OrderLookup, name: "order_lookup", positional: "session_id", builtin: set("session_id"), required: []string{"session_id"}}, &st.lookup},
		{stmtSpec{key: &q.OrderInsert, name: "order_insert", builtin: orderParamNames, required: []string{"session_id"}}, &st.insert},
		{stmtSpec{key: &q.OrderLineInsert, name: "order_line_insert", builtin: lineNames}, &st.lines},
		{stmtSpec{key: &q.OrderUpdates, name: "order_updates", positional: "limit", builtin: set("limit")}, &st.updates},
		{stmtSpec{key: &q.OrderUpdatesAck, name: "order_updates_ack", positional: "id", builtin: set("id"), required: []string{"id"}}, &st.ack},
	}
	feedSpecs := []struct {
		k          feedKind
		full, incr *string
	}{
		{kindCatalog, &q.Catalog, &q.CatalogIncremental},
		{kindInventory, &q.Inventory, &q.InventoryIncremental},
		{kindPrices, &q.Prices, &q.PricesIncremental},
	}
	for _, f := range feedSpecs {
		full := st.parse(resp, stmtSpec{key: f.full, name: f.k.String(), builtin: none})
		if full == nil {
			continue
		}
		fq := &feedQueries{full: full}
		fq.incr = st.parse(resp, stmtSpec{key: f.incr, name: f.k.String() + "_incremental", positional: "cursor", builtin: set("cursor"), required: []string{"cursor"}})
		st.feeds[f.k] = fq
	}
	for _, x := range specs {
		*x.dst = st.parse(resp, x.spec)
	}
	if len(resp.Errors) > 0 {
		return nil
	}

	driverName := "pgx"
	if !st.pg() {
		driverName = "sqlite"
	}
	db, err := sql.Open(driverName, st.dsn)
	if err != nil {
		resp.AddError("dsn", "%s", redact(err.Error(), st.secrets))
		return nil
	}
	db.SetMaxOpenConns(st.maxOpenConns)
	db.SetMaxIdleConns(st.maxOpenConns)
	st.db = db

	cctx, cancel := context.WithTimeout(ctx, st.queryTimeout)
	defer cancel()
	if err := db.PingContext(cctx); err != nil {
		resp.AddError("dsn", "cannot connect to the database: %s", redact(err.Error(), st.secrets))
		return st
	}
	for k, f := range st.feeds {
		if f == nil {
			continue
		}
		needCursor := f.incr != nil
		for _, stmt := range []*statement{f.full, f.incr} {
			if stmt == nil {
				continue
			}
			cols, err := st.resultColumns(cctx, stmt)
			if err != nil {
				resp.AddError("queries."+stmt.name, "%s", err)
				continue
			}
			for _, msg := range checkColumns(feedKind(k), cols, st.cursorColumn, needCursor) {
				resp.AddError("queries."+stmt.name, "%s", msg)
			}
		}
	}
	st.checkSelect(cctx, resp, st.avail, []string{"available_quantity"}, []string{"available_quantity", "tracked"})
	st.checkSelect(cctx, resp, st.lookup, nil, nil)
	st.checkSelect(cctx, resp, st.updates, []string{"id", "checkout_session_id", "kind"}, updateColumns)
	for _, stmt := range []*statement{st.insert, st.lines, st.ack} {
		if stmt == nil {
			continue
		}
		ps, err := db.PrepareContext(cctx, stmt.SQL)
		if err != nil {
			resp.AddError("queries."+stmt.name, "%s", redact(err.Error(), st.secrets))
			continue
		}
		ps.Close()
	}
	return st
}

// parse reads one statement from the config; nil when it is not set or has
// problems (added to resp).
func (st *state) parse(resp *sdk.ConfigureResponse, sp stmtSpec) *statement {
	if blank(*sp.key) {
		return nil
	}
	field := "queries." + sp.name
	p, err := parseStatement(trimStatement(*sp.key, st.pg()), st.pg(), sp.positional)
	if err != nil {
		resp.AddError(field, "%s", err)
		return nil
	}
	var unknown []string
	used := map[string]bool{}
	for _, n := range p.Names {
		used[n] = true
		if _, ok := sp.builtin[n]; ok {
			continue
		}
		if _, ok := st.params[n]; ok {
			continue
		}
		unknown = append(unknown, ":"+n)
	}
	if len(unknown) > 0 {
		known := make([]string, 0, len(sp.builtin)+len(st.params))
		for n := range sp.builtin {
			known = append(known, ":"+n)
		}
		for n := range st.params {
			known = append(known, ":"+n)
		}
		sort.Strings(known)
		msg := "unknown placeholder(s) " + strings.Join(dedupe(unknown), ", ")
		if len(known) > 0 {
			msg += "; known here: " + strings.Join(known, ", ")
		} else {
			msg += "; this query takes no parameters besides those under params"
		}
		resp.AddError(field, "%s", msg)
		return nil
	}
	for _, r := range sp.required {
		if !used[r] {
			how := ":" + r
			if sp.positional == r {
				if st.pg() {
					how += " (or $1)"
				} else {
					how += " (or ?)"
				}
			}
			resp.AddError(field, "must use the placeholder %s", how)
			return nil
		}
	}
	return &statement{name: sp.name, parsed: p}
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// resultColumns runs a SELECT with LIMIT 0 to learn its result columns
// without reading data. Placeholders are bound to NULL.
func (st *state) resultColumns(ctx context.Context, stmt *statement) ([]string, error) {
	q := "SELECT * FROM (\n" + stmt.SQL + "\n) acs_columns_check LIMIT 0"
	args := stmt.args(nil, st.params)
	rows, err := st.db.QueryContext(ctx, q, args...)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("checking the query's columns took longer than query_timeout (%s)", st.queryTimeout)
		}
		return nil, errors.New(redact(err.Error(), st.secrets))
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil || st.pg() {
		return cols, err
	}
	// SQLite renames repeated names in a subquery ("price", "price:1");
	// undo that so a duplicate is reported as one.
	seen := map[string]bool{}
	for i, c := range cols {
		if base, n, ok := strings.Cut(c, ":"); ok && seen[base] && allDigits(n) {
			cols[i] = base
		}
		seen[cols[i]] = true
	}
	return cols, nil
}

// checkSelect checks a SELECT's result columns: required ones present, no
// column outside allowed (nil allows anything).
func (st *state) checkSelect(ctx context.Context, resp *sdk.ConfigureResponse, stmt *statement, required, allowed []string) {
	if stmt == nil {
		return
	}
	field := "queries." + stmt.name
	cols, err := st.resultColumns(ctx, stmt)
	if err != nil {
		resp.AddError(field, "%s", err)
		return
	}
	if len(cols) == 0 {
		resp.AddError(field, "returns no columns")
		return
	}
	seen := map[string]bool{}
	for _, c := range cols {
		c = strings.ToLower(c)
		if c == "session_id" && stmt == st.updates {
			c = "checkout_session_id"
		}
		seen[c] = true
		if allowed != nil && !contains(allowed, c) {
			resp.AddError(field, "column %q is not one this query returns (want %s)", c, strings.Join(allowed, ", "))
		}
	}
	for _, r := range required {
		if !seen[r] {
			resp.AddError(field, "must return a %q column", r)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
