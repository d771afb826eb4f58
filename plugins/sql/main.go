// Command acs-plugin-sql is the acs-connector backend for merchants whose
// catalog, stock and orders live in a SQL database (PostgreSQL or SQLite).
// Everything it does is driven by SQL written in its config: SELECTs whose
// result column names are Stripe feed columns, an availability query, and
// the INSERTs that record a paid order, run in one transaction and made
// idempotent by the order table's unique checkout session id. See README.md.
package main

import (
	"context"
	_ "embed"
	"errors"
	"strings"
	"sync/atomic"

	"github.com/acs-connector/acs-connector/sdk"
)

//go:embed sample.yaml
var sampleConfig string

// version is the plugin's own version (set with -ldflags "-X main.version=..."
// when wanted).
var version = "0.1.0"

type plugin struct {
	st atomic.Pointer[state]
}

func newPlugin() *plugin { return &plugin{} }

func (*plugin) Info() sdk.Info {
	return sdk.Info{
		Name:    "sql",
		Version: version,
		Description: "PostgreSQL and SQLite backend: feeds from SELECT queries (result columns named like feed columns), " +
			"availability from a parameterized query, orders inserted in one transaction, order updates from a table.",
		SampleConfig: sampleConfig,
	}
}

var errInvalidConfig = errors.New("invalid config")

// Configure validates the block, connects, and checks every query against
// the database (feed queries run with LIMIT 0 so their result columns can be
// checked; other statements are prepared). On any problem the previous
// configuration, if any, stays in force.
func (p *plugin) Configure(ctx context.Context, req *sdk.ConfigureRequest, resp *sdk.ConfigureResponse) error {
	var c config
	if err := req.Decode(&c, resp); err != nil {
		return err
	}
	s := c.validate(resp)
	if len(resp.Errors) > 0 {
		return errInvalidConfig
	}
	st := newState(ctx, s, resp)
	if len(resp.Errors) > 0 {
		if st != nil {
			st.close()
		}
		return errInvalidConfig
	}
	if old := p.st.Swap(st); old != nil {
		// sql.DB.Close waits for queries in flight, so a read that started
		// on the old configuration finishes; don't make Configure wait.
		go old.close()
	}
	sdk.Logger().Info("sql plugin configured", "driver", s.driver, "source", req.Source, "capabilities", st.capabilities())
	return nil
}

// Stop closes the database pool.
func (p *plugin) Stop(context.Context) error {
	if st := p.st.Swap(nil); st != nil {
		return st.close()
	}
	return nil
}

var errNotConfigured = errors.New("the sql plugin is not configured")

func (p *plugin) state() (*state, error) {
	st := p.st.Load()
	if st == nil {
		return nil, errNotConfigured
	}
	return st, nil
}

func (p *plugin) ReadCatalog(ctx context.Context, req *sdk.ReadRequest, w *sdk.RecordWriter) error {
	return p.read(ctx, kindCatalog, req.Cursor, w)
}

func (p *plugin) ReadInventory(ctx context.Context, req *sdk.ReadRequest, w *sdk.RecordWriter) error {
	return p.read(ctx, kindInventory, req.Cursor, w)
}

func (p *plugin) ReadPrices(ctx context.Context, req *sdk.ReadRequest, w *sdk.RecordWriter) error {
	return p.read(ctx, kindPrices, req.Cursor, w)
}

func (p *plugin) read(ctx context.Context, k feedKind, cursor string, w recordSink) error {
	st, err := p.state()
	if err != nil {
		return err
	}
	return st.read(ctx, k, cursor, w)
}

func (p *plugin) CheckAvailability(ctx context.Context, req *sdk.AvailabilityRequest, resp *sdk.AvailabilityResponse) error {
	st, err := p.state()
	if err != nil {
		return err
	}
	return st.checkAvailability(ctx, req, resp)
}

func (p *plugin) PushOrder(ctx context.Context, req *sdk.PushOrderRequest, resp *sdk.PushOrderResponse) error {
	st, err := p.state()
	if err != nil {
		return err
	}
	return st.pushOrder(ctx, req, resp)
}

func (p *plugin) ReadOrderUpdates(ctx context.Context, req *sdk.OrderUpdatesRequest, resp *sdk.OrderUpdatesResponse) error {
	st, err := p.state()
	if err != nil {
		return err
	}
	return st.readOrderUpdates(ctx, req, resp)
}

func (p *plugin) AckOrderUpdates(ctx context.Context, ids []string) error {
	st, err := p.state()
	if err != nil {
		return err
	}
	return st.ackOrderUpdates(ctx, ids)
}

func main() { sdk.Serve(newPlugin()) }

// ConfiguredCapabilities narrows the declared capabilities to the queries
// the config provides, so the host's `config check` reports a job whose
// query is missing instead of failing at run time. Before Configure
// everything the plugin implements is offered.
func (p *plugin) ConfiguredCapabilities() []string {
	st := p.st.Load()
	if st == nil {
		return sdk.ImplementedCapabilities(p)
	}
	var caps []string
	for _, c := range st.capabilities() {
		caps = append(caps, strings.TrimSuffix(c, " (incremental)"))
	}
	return caps
}
