package main

import (
	"context"
	_ "embed"
	"errors"
	"sync"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/outbox"
)

const pluginVersion = "0.1.0"

//go:embed sample.yaml
var sampleConfig string

// plugin is the csvdir backend. Its settings are replaced as a whole by
// Configure; everything else reads a snapshot through current().
type plugin struct {
	mu sync.RWMutex
	st *configured

	outbox  outbox.Writer // PushOrder's files, one per session
	inboxMu sync.Mutex    // serialises acks
}

// configured is one applied configuration and the caches built on it.
type configured struct {
	s     *settings
	stock *stockCache
}

// New returns an unconfigured csvdir plugin.
func New() *plugin { return &plugin{} }

var (
	_ sdk.CatalogReader       = (*plugin)(nil)
	_ sdk.InventoryReader     = (*plugin)(nil)
	_ sdk.PriceReader         = (*plugin)(nil)
	_ sdk.AvailabilityChecker = (*plugin)(nil)
	_ sdk.CheckoutCustomizer  = (*plugin)(nil)
	_ sdk.OrderPusher         = (*plugin)(nil)
	_ sdk.OrderUpdateSource   = (*plugin)(nil)
	_ sdk.Stopper             = (*plugin)(nil)
)

func (p *plugin) Info() sdk.Info {
	return sdk.Info{
		Name:    "csvdir",
		Version: pluginVersion,
		Description: "CSV files in a directory: products.csv (+ inventory.csv, prices.csv) as the catalog, " +
			"paid orders written to an outbox directory, order updates read from an inbox directory",
		SampleConfig: sampleConfig,
	}
}

// Configure validates the block and, when it has no errors, replaces the
// running configuration. The stock index is warmed in the background so the
// first availability check does not pay for parsing the files.
func (p *plugin) Configure(ctx context.Context, req *sdk.ConfigureRequest, resp *sdk.ConfigureResponse) error {
	var cfg config
	if err := req.Decode(&cfg, resp); err != nil {
		return err
	}
	s := cfg.check(resp)
	if len(resp.Errors) > 0 {
		return nil
	}
	c := &configured{s: s, stock: newStockCache(s)}
	p.mu.Lock()
	old := p.st
	p.st = c
	p.mu.Unlock()
	if old != nil {
		old.stock.release()
	}
	if req.OneShot {
		// A one-shot command (feed export, sync) never checks availability;
		// reading the whole file a second time would only slow it down.
		collectAtCeiling()
		return nil
	}
	go func() {
		if _, err := c.stock.get(context.Background()); err != nil {
			sdk.Logger().Warn("csvdir: could not load stock for the availability check", "error", err.Error())
		}
	}()
	return nil
}

var errNotConfigured = errors.New("csvdir: not configured")

func (p *plugin) current() (*configured, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.st == nil {
		return nil, errNotConfigured
	}
	return p.st, nil
}

// Stop drops the in-memory stock index.
func (p *plugin) Stop(context.Context) error {
	p.mu.RLock()
	st := p.st
	p.mu.RUnlock()
	if st != nil {
		st.stock.release()
	}
	return nil
}

// ReadCatalog streams products.csv as product feed records.
func (p *plugin) ReadCatalog(ctx context.Context, req *sdk.ReadRequest, w *sdk.RecordWriter) error {
	st, err := p.current()
	if err != nil {
		return err
	}
	s := st.s
	return s.stream(ctx, req, w, readSpec{kind: "catalog", path: s.productsPath, m: s.cols, want: productColumns})
}

// ReadInventory streams inventory.csv when it exists, otherwise the
// inventory columns of products.csv.
func (p *plugin) ReadInventory(ctx context.Context, req *sdk.ReadRequest, w *sdk.RecordWriter) error {
	st, err := p.current()
	if err != nil {
		return err
	}
	s := st.s
	anyOf := []string{sdk.FieldAvailability, sdk.FieldInventoryQuantity}
	ok, err := exists(s.inventoryPath)
	if err != nil {
		return err
	}
	if ok {
		return s.stream(ctx, req, w, readSpec{kind: "inventory", path: s.inventoryPath, m: s.invCols, want: inventoryColumns,
			aux: []string{sdk.FieldInventoryNotTracked}, skipNotTracked: true, anyOf: anyOf})
	}
	return s.stream(ctx, req, w, readSpec{kind: "inventory", path: s.productsPath, m: s.cols, want: inventoryColumns,
		aux: []string{sdk.FieldInventoryNotTracked, sdk.FieldDelete}, skipNotTracked: true, skipDeleted: true, anyOf: anyOf})
}

// ReadPrices streams prices.csv when it exists, otherwise the price columns
// of products.csv.
func (p *plugin) ReadPrices(ctx context.Context, req *sdk.ReadRequest, w *sdk.RecordWriter) error {
	st, err := p.current()
	if err != nil {
		return err
	}
	s := st.s
	anyOf := []string{sdk.FieldPrice}
	ok, err := exists(s.pricesPath)
	if err != nil {
		return err
	}
	if ok {
		return s.stream(ctx, req, w, readSpec{kind: "prices", path: s.pricesPath, m: s.priceCols, want: priceColumns, anyOf: anyOf})
	}
	return s.stream(ctx, req, w, readSpec{kind: "prices", path: s.productsPath, m: s.cols, want: priceColumns,
		aux: []string{sdk.FieldDelete}, skipDeleted: true, anyOf: anyOf})
}
