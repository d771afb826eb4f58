//go:build race

package main

import "time"

// The race detector slows everything down several times, and the SQLite
// driver (C transpiled to Go) some hundred times: under -race its streaming
// check reads fewer rows.
const (
	raceEnabled  = true
	streamBudget = 60 * time.Second
)
