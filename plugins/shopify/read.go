package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
)

// mappingVersion is part of the cursor: bump it when the mapping changes,
// so hosts holding an old cursor get everything again.
const mappingVersion = "shopify-mapping-1"

// snapshot is the export as of one read: its files, their content hashes,
// the cursor (fingerprint) and the sale window derived from it.
type snapshot struct {
	files     []string
	hashes    [][]byte
	cursor    string
	saleDates string
}

// takeSnapshot hashes the export files. The cursor covers the mapping
// version, the config, the file names and contents, and the sale window, so
// it changes exactly when the records would.
func (p *plugin) takeSnapshot(cfg *config) (*snapshot, error) {
	files, err := exportFiles(cfg.Export)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("export: no *.csv file in %s", cfg.Export)
	}
	s := &snapshot{files: files}
	fp := sha256.New()
	cj, _ := json.Marshal(cfg)
	fmt.Fprintf(fp, "%s\x00%s\x00", mappingVersion, cj)
	var newest time.Time
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		if st.ModTime().After(newest) {
			newest = st.ModTime()
		}
		sum, err := hashFile(f)
		if err != nil {
			return nil, err
		}
		s.hashes = append(s.hashes, sum)
		fmt.Fprintf(fp, "%s\x00%x\x00", filepath.Base(f), sum)
	}
	s.saleDates = saleWindow(p.snapshotDay(newest))
	fp.Write([]byte(s.saleDates))
	s.cursor = "v1:" + hex.EncodeToString(fp.Sum(nil)[:20])
	return s, nil
}

func hashFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("export: read %s: %w", path, err)
	}
	return h.Sum(nil), nil
}

// snapshotDay is the UTC day the export was taken: the newest file's
// modification time (tests pin it).
func (p *plugin) snapshotDay(mod time.Time) time.Time {
	if !p.fixedDay.IsZero() {
		return p.fixedDay
	}
	return mod.UTC()
}

// saleWindow is the sale_price_effective_date of a variant whose Compare At
// Price is above its price: Shopify's sale has no dates (it lasts until the
// merchant edits the compare-at price), Stripe requires a range, so the sale
// runs from the day the export was taken for one year. A newer export
// starts a new window.
func saleWindow(day time.Time) string {
	start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	return start.Format("2006-01-02") + "/" + start.AddDate(1, 0, 0).Format("2006-01-02")
}

// scanStats counts what a scan did with the rows.
type scanStats struct {
	products, records, rejects, excluded int
}

// scan maps the whole export and calls fn for each variant outcome that is
// a record or a reject (drafts are counted, not passed on). Ids are unique
// in a scan: a later variant reusing an id is rejected, naming the first.
func (p *plugin) scan(ctx context.Context, cfg *config, snap *snapshot, fn func(*outcome) error) (scanStats, error) {
	var st scanStats
	env := &mapEnv{cfg: cfg, saleDates: snap.saleDates, warn: func(origin, msg string) {
		sdk.Logger().Debug(msg, "origin", origin)
	}}
	seenHandles := map[string]string{}
	seenIDs := map[string]string{}
	for i, file := range snap.files {
		var want []byte
		if snap.hashes != nil {
			want = snap.hashes[i]
		}
		warned := false
		err := readExportFile(ctx, file, want, seenHandles, func(h *header, prod *product) error {
			if !warned {
				warned = true
				sdk.Logger().Debug("export file", "file", filepath.Base(file), "dialect", h.dialect, "columns", h.ncols)
				if !h.has(fQty) {
					sdk.Logger().Warn("the export has no inventory quantity column (a multi-location store's export); variants are sent as inventory_not_tracked", "file", filepath.Base(file))
				}
			}
			st.products++
			for _, o := range mapProduct(env, h, prod) {
				switch {
				case o.excluded != "":
					st.excluded++
					continue
				case len(o.problems) == 0 && o.id != "":
					if first, dup := seenIDs[o.id]; dup {
						o.fail(sdk.FieldID, "id %q is already used by %s; SKUs must be unique", o.id, first)
					} else {
						seenIDs[o.id] = o.origin
					}
				}
				if len(o.problems) > 0 {
					st.rejects++
				} else {
					st.records++
				}
				if err := fn(&o); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// reject turns a failed outcome into the sdk's RecordError: the first
// problem's field, every problem's message.
func (o *outcome) reject() sdk.RecordError {
	msgs := make([]string, len(o.problems))
	for i, pr := range o.problems {
		msgs[i] = pr.msg
		if i > 0 {
			msgs[i] = pr.field + ": " + pr.msg
		}
	}
	var partial map[string]string
	if len(o.fields) > 0 {
		partial = o.fields
	}
	return sdk.RecordError{Origin: o.origin, Field: o.problems[0].field, Message: strings.Join(msgs, "; "), Partial: partial}
}

type readKind int

const (
	readCatalog readKind = iota
	readInventory
	readPrices
)

func (k readKind) String() string {
	return [...]string{"catalog", "inventory", "prices"}[k]
}

var (
	inventoryFields = []string{sdk.FieldID, sdk.FieldAvailability, sdk.FieldInventoryQuantity}
	priceFields     = []string{sdk.FieldID, sdk.FieldPrice, sdk.FieldSalePrice, sdk.FieldSalePriceDates}
)

func (p *plugin) ReadCatalog(ctx context.Context, req *sdk.ReadRequest, w *sdk.RecordWriter) error {
	return p.read(ctx, req, w, readCatalog)
}

func (p *plugin) ReadInventory(ctx context.Context, req *sdk.ReadRequest, w *sdk.RecordWriter) error {
	return p.read(ctx, req, w, readInventory)
}

func (p *plugin) ReadPrices(ctx context.Context, req *sdk.ReadRequest, w *sdk.RecordWriter) error {
	return p.read(ctx, req, w, readPrices)
}

// read streams one feed. An unchanged export (the host's cursor equals the
// current fingerprint) sends nothing. Any file that cannot be read fails the
// whole read: a partial catalog would make the host delete the products of
// the unread file.
func (p *plugin) read(ctx context.Context, req *sdk.ReadRequest, w *sdk.RecordWriter, kind readKind) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg, err := p.config()
	if err != nil {
		return err
	}
	snap, err := p.takeSnapshot(cfg)
	if err != nil {
		return err
	}
	if req.Cursor != "" && req.Cursor == snap.cursor {
		w.SetCursor(snap.cursor)
		sdk.Logger().Info("export unchanged since the last read; nothing to send", "feed", kind.String())
		return nil
	}
	untracked := 0
	st, err := p.scan(ctx, cfg, snap, func(o *outcome) error {
		if len(o.problems) > 0 {
			return w.Reject(o.reject())
		}
		switch kind {
		case readInventory:
			// Stripe's inventory feed has no inventory_not_tracked column
			// and requires a quantity; untracked variants keep the state
			// the catalog feed gave them.
			if !o.stock.tracked {
				untracked++
				return nil
			}
			return w.Write(sdk.Record{Origin: o.origin, Fields: pick(o.fields, inventoryFields)})
		case readPrices:
			return w.Write(sdk.Record{Origin: o.origin, Fields: pick(o.fields, priceFields)})
		}
		return w.Write(sdk.Record{Origin: o.origin, Fields: o.fields})
	})
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("read %s: %w", kind, err)
	}
	w.SetCursor(snap.cursor)
	sdk.Logger().Info("read export", "feed", kind.String(), "files", len(snap.files), "products", st.products,
		"records", st.records-untracked, "rejected", st.rejects, "drafts_left_out", st.excluded, "untracked_left_out", untracked)
	return nil
}

func pick(fields map[string]string, keys []string) map[string]string {
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		if v := fields[k]; v != "" {
			out[k] = v
		}
	}
	return out
}
