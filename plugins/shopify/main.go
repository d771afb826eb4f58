// Command acs-plugin-shopify serves a Shopify product CSV export (a file or
// a directory of exports) to acs-connector: catalog, inventory and price
// feeds, availability checks, and orders written to an outbox directory.
// See README.md for the column mapping.
package main

import (
	"errors"
	"sync"
	"time"

	_ "embed"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/outbox"
)

const version = "0.1.0"

//go:embed sample.yaml
var sampleConfig string

type plugin struct {
	sdk.UnimplementedPlugin

	mu  sync.RWMutex
	cfg *config

	avail  availCache
	outbox outbox.Writer

	// fixedDay pins the export's snapshot day (sale windows) in tests.
	fixedDay time.Time
}

func newPlugin() *plugin { return &plugin{} }

func (p *plugin) Info() sdk.Info {
	return sdk.Info{
		Name:         "shopify",
		Version:      version,
		Description:  "Shopify product CSV export (every dialect from the classic Handle export to the 2025 template) as catalog, inventory and price feeds; orders to an outbox directory",
		SampleConfig: sampleConfig,
	}
}

func (p *plugin) config() (*config, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.cfg == nil {
		return nil, errors.New("the shopify plugin is not configured")
	}
	return p.cfg, nil
}

func main() { sdk.Serve(newPlugin()) }
