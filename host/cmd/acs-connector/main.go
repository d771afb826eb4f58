// Command acs-connector keeps a merchant's catalog in Stripe's Agentic
// Commerce Suite current, answers Stripe's checkout hooks, and fulfils,
// captures and refunds the orders, with backend plugins doing the
// backend-specific work.
package main

import (
	"os"

	"github.com/acs-connector/acs-connector/host/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
