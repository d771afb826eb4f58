package main

import (
	"slices"
	"strings"
	"testing"
)

func TestParseStatement(t *testing.T) {
	cases := []struct {
		name       string
		q          string
		pg         bool
		positional string
		sql        string
		names      []string
		returning  bool
		err        string
	}{
		{name: "named pg", pg: true,
			q:   "INSERT INTO o (a, b, c) VALUES (:session_id, :amount, :session_id)",
			sql: "INSERT INTO o (a, b, c) VALUES ($1, $2, $1)", names: []string{"session_id", "amount"}},
		{name: "named sqlite",
			q:   "INSERT INTO o (a, b, c) VALUES (:session_id, :amount, :session_id)",
			sql: "INSERT INTO o (a, b, c) VALUES (?1, ?2, ?1)", names: []string{"session_id", "amount"}},
		{name: "literals and comments untouched", pg: true,
			q:     "SELECT ':nope', \":nope\", x::text, '10:30' -- :nope\n /* :nope */ FROM t WHERE a = :yes",
			sql:   "SELECT ':nope', \":nope\", x::text, '10:30' -- :nope\n /* :nope */ FROM t WHERE a = $1",
			names: []string{"yes"}},
		{name: "escaped quote", q: "SELECT 'it''s :not' || :p", sql: "SELECT 'it''s :not' || ?1", names: []string{"p"}},
		{name: "pg E string", pg: true, q: `SELECT E'a\' :not' || :p`, sql: `SELECT E'a\' :not' || $1`, names: []string{"p"}},
		{name: "pg dollar quote", pg: true, q: "SELECT $fn$ :not $fn$, $$ :no $$, :p", sql: "SELECT $fn$ :not $fn$, $$ :no $$, $1", names: []string{"p"}},
		{name: "pg nested comment", pg: true, q: "SELECT /* a /* :x */ :y */ :p", sql: "SELECT /* a /* :x */ :y */ $1", names: []string{"p"}},
		{name: "positional pg", pg: true, positional: "cursor",
			q: "SELECT * FROM t WHERE a > $1 OR b > $1", sql: "SELECT * FROM t WHERE a > $1 OR b > $1", names: []string{"cursor"}},
		{name: "positional sqlite bare", positional: "cursor",
			q: "SELECT * FROM t WHERE a > ? OR b > ?", sql: "SELECT * FROM t WHERE a > ? OR b > ?", names: []string{"cursor", "cursor"}},
		{name: "pg question mark is an operator", pg: true, positional: "cursor",
			q: "SELECT * FROM t WHERE j ? 'k' AND a > :cursor", sql: "SELECT * FROM t WHERE j ? 'k' AND a > $1", names: []string{"cursor"}},
		{name: "positional refused", pg: true, q: "SELECT $1", err: "takes :name placeholders"},
		{name: "mixed refused", pg: true, positional: "cursor", q: "SELECT $1, :b", err: "mixes"},
		{name: "returning", pg: true, q: "INSERT INTO t VALUES (:a) RETURNING id", sql: "INSERT INTO t VALUES ($1) RETURNING id", names: []string{"a"}, returning: true},
		{name: "returning in a literal", q: "INSERT INTO t VALUES ('returning')", sql: "INSERT INTO t VALUES ('returning')"},
		{name: "unterminated", q: "SELECT 'abc", err: "unterminated"},
		{name: "sqlite bracket identifier", q: "SELECT [a:b] FROM t WHERE x = :p", sql: "SELECT [a:b] FROM t WHERE x = ?1", names: []string{"p"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseStatement(tc.q, tc.pg, tc.positional)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want error %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.SQL != tc.sql || !slices.Equal(p.Names, tc.names) || p.Returning != tc.returning {
				t.Errorf("got %q %v returning=%v\nwant %q %v returning=%v", p.SQL, p.Names, p.Returning, tc.sql, tc.names, tc.returning)
			}
		})
	}
}

func TestTrimStatement(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1;":                "SELECT 1",
		"SELECT 1 ; \n":            "SELECT 1",
		"SELECT 1; -- done\n":      "SELECT 1 -- done",
		"SELECT ';' AS x;;":        "SELECT ';' AS x",
		"SELECT 'a';":              "SELECT 'a'",
		"SELECT 1 /* c */":         "SELECT 1 /* c */",
		"SELECT 1; -- a\n -- b\n ": "SELECT 1 -- a\n -- b",
	} {
		if got := trimStatement(in, true); got != want {
			t.Errorf("trimStatement(%q) = %q, want %q", in, got, want)
		}
	}
}
