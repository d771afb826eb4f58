package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/acs-connector/acs-connector/sdk"
)

// stockEntry is one id's state for availability checks.
type stockEntry struct {
	stock
	// reason is set when the id is in the export but cannot be sold.
	reason string
}

// availCache holds the export's stock by feed id. It is rebuilt when the
// export's files change (names, sizes or modification times) or the config
// does; a check holds the lock while rebuilding, so concurrent checks wait
// for one load instead of each reading the export.
type availCache struct {
	mu    sync.Mutex
	cfg   *config
	sig   string
	items map[string]stockEntry
}

func (c *availCache) reset() {
	c.mu.Lock()
	c.cfg, c.sig, c.items = nil, "", nil
	c.mu.Unlock()
}

// statSignature identifies the export's current version cheaply.
func statSignature(cfg *config) (string, []string, error) {
	files, err := exportFiles(cfg.Export)
	if err != nil {
		return "", nil, err
	}
	var b strings.Builder
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return "", nil, fmt.Errorf("export: %w", err)
		}
		fmt.Fprintf(&b, "%s|%d|%d\n", f, st.Size(), st.ModTime().UnixNano())
	}
	return b.String(), files, nil
}

func (c *availCache) get(ctx context.Context, p *plugin, cfg *config) (map[string]stockEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sig, files, err := statSignature(cfg)
	if err != nil {
		return nil, err
	}
	if c.cfg == cfg && c.sig == sig && c.items != nil {
		return c.items, nil
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("export: no *.csv file in %s", cfg.Export)
	}
	items := map[string]stockEntry{}
	// Sale dates do not matter here; no content hashes either.
	snap := &snapshot{files: files}
	_, err = p.scan(ctx, cfg, snap, func(o *outcome) error {
		if o.id == "" {
			return nil
		}
		if len(o.problems) > 0 {
			if _, ok := items[o.id]; !ok {
				items[o.id] = stockEntry{reason: "not sold: the product is not in the catalog (" + o.problems[0].msg + ")"}
			}
			return nil
		}
		items[o.id] = stockEntry{stock: o.stock}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.cfg, c.sig, c.items = cfg, sig, items
	return items, nil
}

// CheckAvailability answers from the export: untracked variants are always
// available, tracked ones when the quantity covers the request or the
// variant keeps selling when out of stock (backorder). Quantities of lines
// with the same SKU are added up. Drafts and rejected rows are unknown SKUs.
func (p *plugin) CheckAvailability(ctx context.Context, req *sdk.AvailabilityRequest, resp *sdk.AvailabilityResponse) error {
	cfg, err := p.config()
	if err != nil {
		return err
	}
	items, err := p.avail.get(ctx, p, cfg)
	if err != nil {
		return err
	}
	want := map[string]int64{}
	for _, it := range req.Items {
		want[it.SKU] += max(it.Quantity, 1)
	}
	for _, it := range req.Items {
		e, ok := items[it.SKU]
		q := want[it.SKU]
		a := sdk.ItemAvailability{SKU: it.SKU}
		switch {
		case !ok:
			a.Reason = "unknown SKU: not in the Shopify export (or its product is a draft)"
		case e.reason != "":
			a.Reason = e.reason
		case !e.tracked:
			a.Available, a.QuantityAvailable = true, q
		case e.qty >= q:
			a.Available, a.QuantityAvailable = true, e.qty
		case e.cont:
			a.Available, a.QuantityAvailable = true, max(e.qty, 0)
		case e.qty <= 0:
			a.Reason = "out of stock"
		default:
			a.QuantityAvailable = e.qty
			a.Reason = fmt.Sprintf("only %d in stock", e.qty)
		}
		resp.Items = append(resp.Items, a)
	}
	return nil
}
