package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/acs-connector/acs-connector/sdk"
)

// config is the plugin's block in the host YAML (received as JSON).
type config struct {
	Dir               string            `json:"dir"`
	ProductsFile      string            `json:"products_file"`
	InventoryFile     string            `json:"inventory_file"`
	PricesFile        string            `json:"prices_file"`
	Columns           map[string]string `json:"columns"`
	InventoryColumns  map[string]string `json:"inventory_columns"`
	PricesColumns     map[string]string `json:"prices_columns"`
	Currency          string            `json:"currency"`
	Delimiter         *string           `json:"delimiter"`
	Outbox            string            `json:"outbox"`
	Inbox             string            `json:"inbox"`
	RejectUnknownSKUs *bool             `json:"reject_unknown_skus"`
	ShippingOptions   []shippingConfig  `json:"shipping_options"`
	TaxRates          []taxRateConfig   `json:"tax_rates"`
}

type shippingConfig struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Amount    decimal  `json:"amount"`
	Currency  string   `json:"currency"`
	Countries []string `json:"countries"`
	MinDays   int64    `json:"min_days"`
	MaxDays   int64    `json:"max_days"`
}

type taxRateConfig struct {
	Country    string  `json:"country"`
	State      string  `json:"state"`
	Name       string  `json:"name"`
	Percentage float64 `json:"percentage"`
	Inclusive  bool    `json:"inclusive"`
}

// decimal is an amount written either as a string ("5.00") or, because YAML
// turns an unquoted 5.00 into a number, as a JSON number.
type decimal string

func (d *decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = decimal(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("amount must be a decimal such as \"5.00\"")
	}
	*d = decimal(n.String())
	return nil
}

const (
	defaultProductsFile  = "products.csv"
	defaultInventoryFile = "inventory.csv"
	defaultPricesFile    = "prices.csv"
)

// settings is a validated configuration. It never changes after Configure;
// a new Configure builds a new one.
type settings struct {
	dir           string
	productsPath  string
	inventoryPath string
	pricesPath    string
	cols          mapping
	invCols       mapping
	priceCols     mapping
	currency      string
	comma         rune
	outbox        string
	inbox         string
	rejectUnknown bool
	shipping      []sdk.ShippingOption
	shipCountries [][]string // aligned with shipping; empty = everywhere
	taxRates      []taxRateConfig
	// fingerprint of the settings that change what a read produces; part
	// of every cursor so a config change forces a full read.
	readSalt string
}

// check validates cfg, adding a field error for every problem.
func (cfg *config) check(resp *sdk.ConfigureResponse) *settings {
	s := &settings{rejectUnknown: true}
	if cfg.RejectUnknownSKUs != nil {
		s.rejectUnknown = *cfg.RejectUnknownSKUs
	}

	dirOK := false
	switch {
	case strings.TrimSpace(cfg.Dir) == "":
		resp.AddError("dir", "required: the directory holding %s", defaultProductsFile)
	default:
		s.dir = filepath.Clean(cfg.Dir)
		if abs, err := filepath.Abs(s.dir); err == nil {
			s.dir = abs // later working-directory changes must not matter
		}
		dirOK = checkDir(resp, "dir", s.dir, false)
	}

	s.currency = "USD"
	if cfg.Currency != "" {
		if !isCurrencyCode(cfg.Currency) {
			resp.AddError("currency", "%q is not a three-letter ISO 4217 code such as USD", cfg.Currency)
		} else {
			s.currency = strings.ToUpper(cfg.Currency)
		}
	}

	s.comma = ','
	if cfg.Delimiter != nil {
		if r, ok := parseDelimiter(*cfg.Delimiter); ok {
			s.comma = r
		} else {
			resp.AddError("delimiter", "%q is not a usable delimiter: use \",\" (the default), \"\\t\" (or \"tab\"), \";\" or another single character that is not a quote or a line break", *cfg.Delimiter)
		}
	}

	s.cols = checkMapping("columns", cfg.Columns, productColumns, resp)
	s.invCols = checkMapping("inventory_columns", cfg.InventoryColumns, inventoryMappable, resp)
	s.priceCols = checkMapping("prices_columns", cfg.PricesColumns, priceColumns, resp)

	if dirOK {
		s.productsPath = s.file(cfg.ProductsFile, defaultProductsFile)
		if checkFile(resp, "products_file", s.productsPath, true) {
			s.checkHeader(resp, "columns", s.productsPath, s.cols, productColumns, sdk.FieldDelete)
		}
		s.inventoryPath = s.file(cfg.InventoryFile, defaultInventoryFile)
		if checkFile(resp, "inventory_file", s.inventoryPath, cfg.InventoryFile != "") {
			s.checkHeader(resp, "inventory_columns", s.inventoryPath, s.invCols, inventoryColumns, sdk.FieldInventoryNotTracked)
		}
		s.pricesPath = s.file(cfg.PricesFile, defaultPricesFile)
		if checkFile(resp, "prices_file", s.pricesPath, cfg.PricesFile != "") {
			s.checkHeader(resp, "prices_columns", s.pricesPath, s.priceCols, priceColumns)
		}
		// outbox and inbox resolve like every other path in the host
		// config: against the working directory, which the host sets to
		// the config file's directory. They are created when only the last
		// element is missing (a fresh state directory), never deeper, so a
		// typo does not grow a tree somewhere unexpected.
		if cfg.Outbox != "" {
			s.outbox = absPath(cfg.Outbox)
			ensureLeafDir(s.outbox)
			checkDir(resp, "outbox", s.outbox, true)
		}
		if cfg.Inbox != "" {
			s.inbox = absPath(cfg.Inbox)
			ensureLeafDir(s.inbox)
			checkDir(resp, "inbox", s.inbox, true)
		}
	}

	for i, o := range cfg.ShippingOptions {
		s.addShipping(resp, i, o)
	}
	for i, r := range cfg.TaxRates {
		field := fmt.Sprintf("tax_rates[%d]", i)
		r.Country = strings.ToUpper(strings.TrimSpace(r.Country))
		r.State = strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(r.State)), r.Country+"-")
		if !isCountry(r.Country) {
			resp.AddError(field+".country", "%q is not an ISO 3166-1 alpha-2 country code such as US", r.Country)
		}
		if strings.TrimSpace(r.Name) == "" {
			resp.AddError(field+".name", "required: the name shoppers see, e.g. \"Sales tax\"")
		}
		if r.Percentage <= 0 || r.Percentage > 100 {
			resp.AddError(field+".percentage", "%v is not a percentage between 0 (exclusive) and 100", r.Percentage)
		}
		s.taxRates = append(s.taxRates, r)
	}

	salt, _ := json.Marshal([]any{pluginVersion, s.currency, string(s.comma), s.cols, s.invCols, s.priceCols})
	s.readSalt = string(salt)
	return s
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return filepath.Clean(p)
}

func ensureLeafDir(p string) {
	if _, err := os.Stat(filepath.Dir(p)); err == nil {
		_ = os.Mkdir(p, 0o750)
	}
}

// file resolves a file name from the config: absolute, or relative to dir.
func (s *settings) file(name, def string) string {
	if name == "" {
		name = def
	}
	if filepath.IsAbs(name) {
		return filepath.Clean(name)
	}
	return filepath.Join(s.dir, name)
}

func (s *settings) addShipping(resp *sdk.ConfigureResponse, i int, o shippingConfig) {
	field := fmt.Sprintf("shipping_options[%d]", i)
	ok := true
	if strings.TrimSpace(o.ID) == "" {
		resp.AddError(field+".id", "required: the id that comes back on the order as the chosen shipping option")
		ok = false
	}
	for _, prev := range s.shipping {
		if prev.ID == o.ID && o.ID != "" {
			resp.AddError(field+".id", "%q is used by another shipping option", o.ID)
			ok = false
		}
	}
	if strings.TrimSpace(o.Name) == "" {
		resp.AddError(field+".name", "required: the name shoppers see, e.g. \"Standard shipping\"")
		ok = false
	}
	cur := s.currency
	if o.Currency != "" {
		if !isCurrencyCode(o.Currency) {
			resp.AddError(field+".currency", "%q is not a three-letter ISO 4217 code", o.Currency)
			ok = false
		}
		cur = strings.ToUpper(o.Currency)
	}
	var amount int64
	if o.Amount == "" {
		resp.AddError(field+".amount", "required: a decimal amount such as \"5.00\" (\"0\" for free shipping)")
		ok = false
	} else if a, err := sdk.ParseDecimal(string(o.Amount), cur); err != nil {
		resp.AddError(field+".amount", "%v", err)
		ok = false
	} else if a < 0 {
		resp.AddError(field+".amount", "%q is negative", string(o.Amount))
		ok = false
	} else {
		amount = a
	}
	var countries []string
	for j, c := range o.Countries {
		c = strings.ToUpper(strings.TrimSpace(c))
		if !isCountry(c) {
			resp.AddError(fmt.Sprintf("%s.countries[%d]", field, j), "%q is not an ISO 3166-1 alpha-2 country code such as US", o.Countries[j])
			ok = false
		}
		countries = append(countries, c)
	}
	if o.MinDays < 0 {
		resp.AddError(field+".min_days", "must not be negative")
		ok = false
	}
	if o.MaxDays < 0 || o.MaxDays < o.MinDays {
		resp.AddError(field+".max_days", "must be at least min_days (%d)", o.MinDays)
		ok = false
	}
	if !ok {
		return
	}
	opt := sdk.ShippingOption{ID: o.ID, DisplayName: o.Name, Amount: amount, Currency: strings.ToLower(cur)}
	if o.MaxDays > 0 {
		opt.Estimate = &sdk.DeliveryEstimate{MinUnit: "business_day", MinValue: o.MinDays, MaxUnit: "business_day", MaxValue: o.MaxDays}
	}
	s.shipping = append(s.shipping, opt)
	s.shipCountries = append(s.shipCountries, countries)
}

// checkHeader reads the header of an existing file and reports a mapping
// that does not fit it, so a typo shows at startup rather than at the first
// sync. Columns nothing reads are logged, since a misspelt header is the
// usual reason.
func (s *settings) checkHeader(resp *sdk.ConfigureResponse, key, path string, m mapping, want []string, aux ...string) {
	header, err := readHeader(path, s.comma)
	if err != nil {
		resp.AddError(key, "%v", err)
		return
	}
	p, err := resolve(filepath.Base(path), header, m, want, aux...)
	if err != nil {
		resp.AddError(key, "%v", err)
		return
	}
	if extra := p.unused(header); len(extra) > 0 {
		sdk.Logger().Info("csvdir: columns not mapped to any feed column are ignored", "file", path, "columns", strings.Join(extra, ", "), "hint", "map them with "+key)
	}
}

func parseDelimiter(d string) (rune, bool) {
	switch d {
	case "tab", `\t`:
		return '\t', true
	}
	r, n := utf8.DecodeRuneInString(d)
	if n == 0 || n != len(d) || r == utf8.RuneError {
		return 0, false
	}
	switch r {
	case '"', '\r', '\n', ' ':
		return 0, false
	}
	return r, true
}

// checkDir reports a path that is not a directory (or not writable when the
// plugin writes into it).
func checkDir(resp *sdk.ConfigureResponse, key, path string, writable bool) bool {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		resp.AddError(key, "directory %s does not exist", path)
		return false
	case err != nil:
		resp.AddError(key, "%v", err)
		return false
	case !fi.IsDir():
		resp.AddError(key, "%s is not a directory", path)
		return false
	}
	if writable {
		f, err := os.CreateTemp(path, ".csvdir-probe-*.tmp")
		if err != nil {
			resp.AddError(key, "directory %s is not writable: %v", path, err)
			return false
		}
		f.Close()
		os.Remove(f.Name())
	}
	return true
}

// checkFile reports a missing or unreadable file when it is required (or was
// named explicitly); it returns whether the file exists.
func checkFile(resp *sdk.ConfigureResponse, key, path string, required bool) bool {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if required {
			resp.AddError(key, "file %s does not exist", path)
		}
		return false
	case err != nil:
		resp.AddError(key, "%v", err)
		return false
	case fi.IsDir():
		resp.AddError(key, "%s is a directory, not a CSV file", path)
		return false
	}
	return true
}

func isCountry(c string) bool {
	return len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z'
}
