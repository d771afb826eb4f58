package main

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acs-connector/acs-connector/sdk"
)

// config is the plugin's block in the host config. See sample.yaml and
// README.md.
type config struct {
	Driver              string            `json:"driver"`
	DSN                 string            `json:"dsn"`
	Currency            string            `json:"currency"`
	MoneyUnits          string            `json:"money_units"`
	QueryTimeout        string            `json:"query_timeout"`
	AvailabilityTimeout string            `json:"availability_timeout"`
	MaxOpenConns        int               `json:"max_open_conns"`
	CursorColumn        string            `json:"cursor_column"`
	Params              map[string]string `json:"params"`
	Queries             queries           `json:"queries"`
}

type queries struct {
	Catalog              string `json:"catalog"`
	CatalogIncremental   string `json:"catalog_incremental"`
	Inventory            string `json:"inventory"`
	InventoryIncremental string `json:"inventory_incremental"`
	Prices               string `json:"prices"`
	PricesIncremental    string `json:"prices_incremental"`
	Availability         string `json:"availability"`
	OrderLookup          string `json:"order_lookup"`
	OrderInsert          string `json:"order_insert"`
	OrderLineInsert      string `json:"order_line_insert"`
	OrderUpdates         string `json:"order_updates"`
	OrderUpdatesAck      string `json:"order_updates_ack"`
}

const (
	driverPostgres = "postgres"
	driverSQLite   = "sqlite"

	defaultQueryTimeout        = 30 * time.Second
	defaultAvailabilityTimeout = 2 * time.Second
	defaultMaxOpenConns        = 10
)

// settings is a validated config.
type settings struct {
	driver       string
	dsn          string // as the driver gets it (SQLite defaults added)
	secrets      []string
	currency     string
	minorUnits   bool
	queryTimeout time.Duration
	availTimeout time.Duration
	maxOpenConns int
	cursorColumn string
	params       map[string]string
	q            queries
}

var (
	currencyRE = regexp.MustCompile(`^[A-Za-z]{3}$`)
	nameRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validate checks everything that needs no database and fills defaults.
func (c *config) validate(resp *sdk.ConfigureResponse) *settings {
	s := &settings{params: c.Params, q: c.Queries}
	switch strings.ToLower(strings.TrimSpace(c.Driver)) {
	case "postgres", "postgresql", "pgx":
		s.driver = driverPostgres
	case "sqlite", "sqlite3":
		s.driver = driverSQLite
	case "":
		resp.AddError("driver", "required: postgres or sqlite")
	default:
		resp.AddError("driver", "unknown driver %q (want postgres or sqlite)", c.Driver)
	}
	if strings.TrimSpace(c.DSN) == "" {
		resp.AddError("dsn", "required: the database connection string (PostgreSQL URL or key=value string, SQLite file path)")
	} else {
		s.dsn, s.secrets = c.DSN, dsnSecrets(c.DSN)
		if s.driver == driverSQLite {
			path, dsn, err := sqliteDSN(c.DSN)
			if err != nil {
				resp.AddError("dsn", "%s", err)
			} else if path != "" {
				if _, err := os.Stat(path); err != nil {
					resp.AddError("dsn", "the SQLite database file does not exist or cannot be read (relative paths are resolved against the plugin's working directory)")
				}
			}
			s.dsn = dsn
		}
		if s.driver == driverPostgres {
			if _, err := pgx.ParseConfig(c.DSN); err != nil {
				resp.AddError("dsn", "not a valid PostgreSQL connection string")
			}
		}
	}

	s.currency = "USD"
	if c.Currency != "" {
		if !currencyRE.MatchString(c.Currency) {
			resp.AddError("currency", "%q is not an ISO 4217 currency code (e.g. USD)", c.Currency)
		}
		s.currency = strings.ToUpper(c.Currency)
	}
	switch strings.ToLower(c.MoneyUnits) {
	case "", "major":
	case "minor":
		s.minorUnits = true
	default:
		resp.AddError("money_units", "%q: want major (amounts like 19.99) or minor (whole minor units like 1999)", c.MoneyUnits)
	}
	s.queryTimeout = parseDuration(resp, "query_timeout", c.QueryTimeout, defaultQueryTimeout)
	s.availTimeout = parseDuration(resp, "availability_timeout", c.AvailabilityTimeout, defaultAvailabilityTimeout)
	s.maxOpenConns = c.MaxOpenConns
	switch {
	case c.MaxOpenConns < 0:
		resp.AddError("max_open_conns", "must not be negative")
	case c.MaxOpenConns == 0:
		s.maxOpenConns = defaultMaxOpenConns
	}
	s.cursorColumn = strings.ToLower(strings.TrimSpace(c.CursorColumn))
	if s.cursorColumn != "" && !nameRE.MatchString(s.cursorColumn) {
		resp.AddError("cursor_column", "%q is not a column name", c.CursorColumn)
	}
	if s.cursorColumn != "" && isFeedColumn(kindCatalog, s.cursorColumn) {
		resp.AddError("cursor_column", "%q is a feed column; use a column such as updated_at", c.CursorColumn)
	}
	for name := range c.Params {
		switch {
		case !nameRE.MatchString(name):
			resp.AddError("params."+name, "parameter names are letters, digits and _ (used as :%s)", name)
		case builtinParam(name):
			resp.AddError("params."+name, ":%s is set by the plugin; pick another name", name)
		}
	}

	q := &c.Queries
	incr := []struct{ name, base, incr string }{
		{"catalog", q.Catalog, q.CatalogIncremental},
		{"inventory", q.Inventory, q.InventoryIncremental},
		{"prices", q.Prices, q.PricesIncremental},
	}
	for _, x := range incr {
		if blank(x.incr) {
			continue
		}
		if blank(x.base) {
			resp.AddError("queries."+x.name+"_incremental", "needs queries.%s for full reads", x.name)
		}
		if s.cursorColumn == "" {
			resp.AddError("cursor_column", "required with queries.%s_incremental: the result column whose largest value becomes the next cursor (e.g. updated_at)", x.name)
		}
	}
	if !blank(q.OrderInsert) && blank(q.OrderLookup) {
		resp.AddError("queries.order_lookup", "required with order_insert: returns the existing order's reference for :session_id (idempotency)")
	}
	if blank(q.OrderInsert) && (!blank(q.OrderLineInsert) || !blank(q.OrderLookup)) {
		resp.AddError("queries.order_insert", "required with order_line_insert/order_lookup")
	}
	if !blank(q.OrderUpdates) && blank(q.OrderUpdatesAck) {
		resp.AddError("queries.order_updates_ack", "required with order_updates: marks an update as applied so it is not returned again")
	}
	if blank(q.OrderUpdates) && !blank(q.OrderUpdatesAck) {
		resp.AddError("queries.order_updates", "required with order_updates_ack")
	}
	if blank(q.Catalog) && blank(q.Inventory) && blank(q.Prices) && blank(q.Availability) && blank(q.OrderInsert) && blank(q.OrderUpdates) {
		resp.AddError("queries", "no queries configured; set at least one of catalog, inventory, prices, availability, order_insert, order_updates")
	}
	return s
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

func parseDuration(resp *sdk.ConfigureResponse, field, v string, def time.Duration) time.Duration {
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		resp.AddError(field, "%q is not a positive duration (e.g. 30s, 2s, 500ms)", v)
		return def
	}
	return d
}

// sqliteDSN adds the plugin's SQLite defaults to dsn unless it sets them:
// a 5s busy timeout (concurrent order inserts wait instead of failing),
// BEGIN IMMEDIATE for write transactions (no lock-upgrade deadlocks), and
// foreign key enforcement (as PostgreSQL has). It also returns the file path
// when dsn is a plain path, so Configure can check that the file exists
// instead of letting SQLite create an empty database.
func sqliteDSN(dsn string) (path, out string, err error) {
	base, query, _ := strings.Cut(dsn, "?")
	if base == ":memory:" || strings.HasPrefix(base, "file:") {
		path = ""
	} else {
		path = base
	}
	if _, err := url.ParseQuery(query); err != nil {
		return "", "", fmt.Errorf("the SQLite DSN's ?options are malformed")
	}
	var add []string
	if !strings.Contains(query, "busy_timeout") {
		add = append(add, "_pragma=busy_timeout(5000)")
	}
	if !strings.Contains(query, "foreign_keys") {
		add = append(add, "_pragma=foreign_keys(1)")
	}
	if !strings.Contains(query, "_txlock") {
		add = append(add, "_txlock=immediate")
	}
	out = dsn
	if len(add) > 0 {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		out = dsn + sep + strings.Join(add, "&")
	}
	return path, out, nil
}

// dsnSecrets returns the strings that must never appear in a log line or an
// error: the DSN itself and its password.
func dsnSecrets(dsn string) []string {
	out := []string{dsn}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
		}
		if p := u.Query().Get("password"); p != "" {
			out = append(out, p)
		}
	}
	for _, m := range kvPasswordRE.FindAllStringSubmatch(dsn, -1) {
		p := strings.Trim(m[1], "'")
		if p != "" {
			out = append(out, p)
		}
	}
	// Longest first, so a password inside the DSN is replaced as part of
	// the whole DSN where both occur.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

var kvPasswordRE = regexp.MustCompile(`(?i)\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// redact removes secrets from a message.
func redact(msg string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= 3 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}

// builtinParam reports whether name is a placeholder the plugin fills.
func builtinParam(name string) bool {
	switch name {
	case "cursor", "sku", "quantity", "session_id", "limit", "id", "order_ref", "order_uuid":
		return true
	}
	_, ok := orderParamNames[name]
	if !ok {
		_, ok = lineParamNames[name]
	}
	return ok
}
