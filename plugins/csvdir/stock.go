package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
)

// stockEntry is what the availability check knows about one SKU.
type stockEntry struct {
	qty        int64
	avail      availCode
	hasQty     bool
	badQty     bool // the file has a quantity that is not a whole number
	notTracked bool
}

// availCode is the availability column as a byte, so the index holds no
// substring of a CSV line (which would keep the whole line alive).
type availCode uint8

const (
	availNone availCode = iota // empty or not a feed value
	availInStock
	availOutOfStock
	availPreorder
	availBackorder
)

func availOf(v string) availCode {
	switch normAvailability(v) {
	case sdk.InStock:
		return availInStock
	case sdk.OutOfStock:
		return availOutOfStock
	case sdk.Preorder:
		return availPreorder
	case sdk.Backorder:
		return availBackorder
	}
	return availNone
}

// stockIndex is an immutable snapshot of stock. It is keyed by a seeded
// 64-bit hash of the id rather than the id itself: that holds a
// million-SKU catalog in about 40 MB instead of 100+, and the per-index
// random seed makes a collision both unforgeable and, at a million ids,
// about a 1-in-30-million chance.
type stockIndex struct {
	items   map[uint64]stockEntry
	seed    maphash.Seed
	sources [2]fileStamp
}

func (idx *stockIndex) key(id string) uint64 { return maphash.String(idx.seed, id) }

// fileStamp identifies a version of a file well enough to notice a change.
type fileStamp struct {
	exists bool
	size   int64
	mod    time.Time
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileStamp{}, nil
	}
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{exists: true, size: fi.Size(), mod: fi.ModTime()}, nil
}

// stockCache holds the stock index in memory and reloads it when
// products.csv or inventory.csv changes (size or modification time). The
// availability check runs inside Stripe's 4-second approval window, so the
// files are parsed once per change, not once per call.
type stockCache struct {
	s   *settings
	mu  sync.Mutex
	idx *stockIndex
}

func newStockCache(s *settings) *stockCache { return &stockCache{s: s} }

// get returns the current index, reloading it first if a source changed.
// Concurrent callers wait for one reload.
func (c *stockCache) get(ctx context.Context) (*stockIndex, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var now [2]fileStamp
	var err error
	if now[0], err = stamp(c.s.productsPath); err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	if now[1], err = stamp(c.s.inventoryPath); err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	if c.idx != nil && c.idx.sources == now {
		return c.idx, nil
	}
	start := time.Now()
	idx, err := c.s.loadStock(ctx)
	if err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	// Stamps taken before loading: a change during the load triggers another
	// reload on the next call rather than being missed.
	idx.sources = now
	c.idx = idx
	sdk.Logger().Debug("csvdir: stock index loaded", "skus", len(idx.items), "took", time.Since(start).String())
	return idx, nil
}

func (c *stockCache) release() {
	c.mu.Lock()
	c.idx = nil
	c.mu.Unlock()
}

// loadStock builds the index from products.csv (every product id, with its
// availability columns when it has them), then overlays inventory.csv when it
// exists. Rows the feed reads reject are skipped here too.
func (s *settings) loadStock(ctx context.Context) (*stockIndex, error) {
	idx := &stockIndex{items: make(map[uint64]stockEntry), seed: maphash.MakeSeed()}
	stockCols := []string{sdk.FieldID, sdk.FieldAvailability, sdk.FieldInventoryQuantity, sdk.FieldInventoryNotTracked}
	if err := s.scanStock(ctx, s.productsPath, s.cols, stockCols, idx, false); err != nil {
		return nil, err
	}
	ok, err := exists(s.inventoryPath)
	if err != nil {
		return nil, err
	}
	if ok {
		if err := s.scanStock(ctx, s.inventoryPath, s.invCols, stockCols, idx, true); err != nil {
			return nil, err
		}
	}
	return idx, nil
}

func (s *settings) scanStock(ctx context.Context, path string, m mapping, cols []string, idx *stockIndex, overlay bool) error {
	c, err := openCSV(path, s.comma)
	if err != nil {
		return err
	}
	defer c.f.Close()
	p, err := resolve(c.name, c.header, m, cols, sdk.FieldDelete)
	if err != nil {
		return err
	}
	pos := map[string]int{}
	for _, o := range p.outs {
		pos[o.name] = o.idx
	}
	idCol := p.outs[p.idPos].idx
	availCol, hasAvail := pos[sdk.FieldAvailability]
	qtyCol, hasQtyCol := pos[sdk.FieldInventoryQuantity]
	ntCol, hasNT := pos[sdk.FieldInventoryNotTracked]
	var seen map[uint64]bool // ids of this file, for overlays
	if overlay {
		seen = make(map[uint64]bool)
	}
	skipped, rows := 0, 0
	for {
		rec, err := c.r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				skipped++
				continue
			}
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if rows++; rows&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(rec) != len(c.header) {
			skipped++
			continue
		}
		id := strings.TrimSpace(rec[idCol])
		k := idx.key(id)
		if _, dup := idx.items[k]; id == "" || (overlay && seen[k]) || (!overlay && dup) {
			skipped++
			continue
		}
		if p.deleted >= 0 && normBool(strings.TrimSpace(rec[p.deleted])) == "true" {
			continue
		}
		if overlay {
			seen[k] = true
		}
		e := idx.items[k]
		if hasAvail {
			e.avail = availOf(strings.TrimSpace(rec[availCol]))
		}
		if hasQtyCol {
			e.hasQty, e.badQty, e.qty = false, false, 0
			if v := strings.TrimSpace(rec[qtyCol]); v != "" {
				if n, err := parseQuantity(v); err == nil {
					e.hasQty, e.qty = true, n
				} else {
					e.badQty = true
				}
			}
		}
		if hasNT {
			e.notTracked = normBool(strings.TrimSpace(rec[ntCol])) == "true"
		}
		idx.items[k] = e
	}
	if skipped > 0 {
		sdk.Logger().Warn("csvdir: rows skipped for the availability check; the feed's error report names them", "file", c.name, "rows", skipped)
	}
	return nil
}

// answer decides whether want units of sku can be sold.
func (idx *stockIndex) answer(sku string, want int64) sdk.ItemAvailability {
	a := sdk.ItemAvailability{SKU: sku}
	e, ok := idx.items[idx.key(sku)]
	switch {
	case !ok:
		a.Reason = "unknown product"
	case e.avail == availOutOfStock:
		a.Reason = "out of stock"
	case e.notTracked || e.avail == availBackorder || e.avail == availPreorder:
		a.Available, a.QuantityAvailable = true, max(want, e.qty)
	case e.badQty:
		a.Reason = "stock level unknown"
	case !e.hasQty:
		// In stock with no count kept: nothing limits the sale.
		a.Available, a.QuantityAvailable = true, want
	case e.qty >= want:
		a.Available, a.QuantityAvailable = true, e.qty
	case e.qty <= 0:
		a.Reason = "out of stock"
	default:
		a.QuantityAvailable = e.qty
		a.Reason = "only " + strconv.FormatInt(e.qty, 10) + " left"
	}
	return a
}

// CheckAvailability answers from the cached stock index. Lines of the same
// SKU are added up and answered once.
func (p *plugin) CheckAvailability(ctx context.Context, req *sdk.AvailabilityRequest, resp *sdk.AvailabilityResponse) error {
	st, err := p.current()
	if err != nil {
		return err
	}
	idx, err := st.stock.get(ctx)
	if err != nil {
		return err
	}
	want := make(map[string]int64, len(req.Items))
	var order []string
	for _, it := range req.Items {
		if _, ok := want[it.SKU]; !ok {
			order = append(order, it.SKU)
		}
		want[it.SKU] += max(it.Quantity, 1)
	}
	for _, sku := range order {
		resp.Items = append(resp.Items, idx.answer(sku, want[sku]))
	}
	return nil
}
