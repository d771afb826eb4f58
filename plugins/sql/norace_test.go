//go:build !race

package main

import "time"

const (
	raceEnabled  = false
	streamBudget = 15 * time.Second
)
