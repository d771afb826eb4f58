package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/acs-connector/acs-connector/sdk"
)

// config is the plugin's block in the host config.
type config struct {
	// Export is a Shopify product CSV export, or a directory of them (*.csv).
	Export string `json:"export"`
	// StoreURL is the shop's public address; link = StoreURL/products/<handle>.
	StoreURL string `json:"store_url"`
	// Currency of the export's prices (ISO 4217), default USD.
	Currency string `json:"currency"`
	// BrandFallback is the brand of products whose Vendor is empty.
	BrandFallback string `json:"brand_fallback"`
	// IncludeDrafts also emits draft, archived and unpublished products.
	IncludeDrafts bool `json:"include_drafts"`
	// Outbox is the directory PushOrder writes one JSON file per order to.
	Outbox string `json:"outbox"`
	// DescriptionMax caps description length in characters (1..5000).
	DescriptionMax int `json:"description_max"`
	// DefaultShipping is a feed shipping value for products that require shipping.
	DefaultShipping string `json:"default_shipping"`
	// ProductCategoryFallback is used when a product has no Product Category,
	// no Type and no Google product category.
	ProductCategoryFallback string `json:"product_category_fallback"`
}

const maxDescription = 5000

func (p *plugin) Configure(_ context.Context, req *sdk.ConfigureRequest, resp *sdk.ConfigureResponse) error {
	var c config
	if err := req.Decode(&c, resp); err != nil {
		return err
	}
	base := baseDir(req.Source)
	before := len(resp.Errors)
	c.validate(base, resp)
	if len(resp.Errors) > before {
		return nil
	}
	p.mu.Lock()
	p.cfg = &c
	p.mu.Unlock()
	p.avail.reset()
	// Load the availability cache now, so the first checkout hook (which
	// has 4 seconds) does not pay for reading the export.
	go func() {
		if _, err := p.avail.get(context.Background(), p, &c); err != nil {
			sdk.Logger().Warn("could not preload the export for availability checks", "error", err.Error())
		}
	}()
	return nil
}

// baseDir is the directory of the host config file when the host says where
// the block came from ("/etc/acs/config.yaml:14"), so relative paths in the
// block mean what they mean for the host's own paths. Otherwise relative
// paths are taken from the working directory.
func baseDir(source string) string {
	file := source
	if i := strings.LastIndexByte(source, ':'); i > 0 {
		file = source[:i]
	}
	if filepath.IsAbs(file) {
		return filepath.Dir(file)
	}
	return ""
}

func resolvePath(base, p string) string {
	if p == "" || filepath.IsAbs(p) || base == "" {
		return p
	}
	return filepath.Join(base, p)
}

// validate checks and normalises c, reporting each problem as a field error.
func (c *config) validate(base string, resp *sdk.ConfigureResponse) {
	if strings.TrimSpace(c.Export) == "" {
		resp.AddError("export", "required: a Shopify product CSV export file, or a directory of *.csv exports")
	} else {
		c.Export = resolvePath(base, c.Export)
		if st, err := os.Stat(c.Export); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				resp.AddError("export", "%s does not exist", c.Export)
			} else {
				resp.AddError("export", "%v", err)
			}
		} else if st.IsDir() {
			if files, err := exportFiles(c.Export); err != nil {
				resp.AddError("export", "%v", err)
			} else if len(files) == 0 {
				resp.AddError("export", "directory %s holds no *.csv file", c.Export)
			}
		}
	}

	c.StoreURL = strings.TrimRight(strings.TrimSpace(c.StoreURL), "/")
	if c.StoreURL == "" {
		resp.AddError("store_url", "required: the shop's public address, e.g. https://shop.example.com")
	} else if u, err := url.Parse(c.StoreURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		resp.AddError("store_url", "%q is not an absolute http(s) URL such as https://shop.example.com", c.StoreURL)
	}

	c.Currency = strings.ToUpper(strings.TrimSpace(c.Currency))
	if c.Currency == "" {
		c.Currency = "USD"
	}
	if len(c.Currency) != 3 || strings.Trim(c.Currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		resp.AddError("currency", "%q is not an ISO 4217 code such as USD", c.Currency)
	}

	switch {
	case c.DescriptionMax == 0:
		c.DescriptionMax = maxDescription
	case c.DescriptionMax < 0 || c.DescriptionMax > maxDescription:
		resp.AddError("description_max", "must be between 1 and %d (Stripe's limit), got %d", maxDescription, c.DescriptionMax)
	}

	c.BrandFallback = foldSpace(c.BrandFallback)
	c.ProductCategoryFallback = foldSpace(c.ProductCategoryFallback)
	c.DefaultShipping = strings.TrimSpace(c.DefaultShipping)
	if c.DefaultShipping != "" {
		if msg := checkShipping(c.DefaultShipping); msg != "" {
			resp.AddError("default_shipping", "%s", msg)
		}
	}

	if c.Outbox != "" {
		c.Outbox = resolvePath(base, c.Outbox)
		if err := os.MkdirAll(c.Outbox, 0o750); err != nil {
			resp.AddError("outbox", "cannot create %s: %v", c.Outbox, err)
		} else if st, err := os.Stat(c.Outbox); err != nil || !st.IsDir() {
			resp.AddError("outbox", "%s is not a directory", c.Outbox)
		}
	}
}

// checkShipping loosely validates a feed shipping value:
// country:delivery_area:service[:speed_range]:price, comma separated.
func checkShipping(v string) string {
	for _, tuple := range strings.Split(v, ",") {
		parts := strings.Split(strings.TrimSpace(tuple), ":")
		if len(parts) != 4 && len(parts) != 5 {
			return fmt.Sprintf("%q must be country:delivery_area:service[:speed_range]:price, e.g. US:ALL:Standard Shipping:3-5:0.00 USD", tuple)
		}
		if cc := parts[0]; len(cc) != 2 || strings.ToUpper(cc) != cc {
			return fmt.Sprintf("%q: %q is not an ISO 3166 country code such as US", tuple, cc)
		}
		amount, cur, ok := strings.Cut(strings.TrimSpace(parts[len(parts)-1]), " ")
		if !ok || len(cur) != 3 {
			return fmt.Sprintf("%q: the price must look like 4.99 USD", tuple)
		}
		if _, err := sdk.ParseDecimal(amount, cur); err != nil {
			return fmt.Sprintf("%q: price: %v", tuple, err)
		}
	}
	return ""
}

// exportFiles lists the CSV files of an export: the file itself, or the
// *.csv files of a directory (not recursive, hidden files skipped), sorted
// by name so every read sees them in the same order.
func exportFiles(export string) ([]string, error) {
	st, err := os.Stat(export)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if !st.IsDir() {
		return []string{export}, nil
	}
	entries, err := os.ReadDir(export)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.EqualFold(filepath.Ext(name), ".csv") {
			continue
		}
		files = append(files, filepath.Join(export, name))
	}
	sort.Strings(files)
	return files, nil
}
