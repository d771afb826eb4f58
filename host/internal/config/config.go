// Package config loads and validates the host's YAML configuration. Every
// error names the file and line of the offending key, because the person
// reading it is a merchant's operator with an editor open, not a developer
// with a debugger.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// CurrentVersion is the config schema version this host reads.
const CurrentVersion = 1

// Job types.
const (
	JobCatalog      = "catalog"
	JobInventory    = "inventory"
	JobPrice        = "price"
	JobReconcile    = "reconcile"
	JobOrderUpdates = "order_updates"
)

// Config is the whole file.
type Config struct {
	Version     int                `yaml:"version"`
	Stripe      Stripe             `yaml:"stripe"`
	Server      Server             `yaml:"server"`
	State       State              `yaml:"state"`
	Log         Log                `yaml:"log"`
	Scheduler   Scheduler          `yaml:"scheduler"`
	Plugins     map[string]*Plugin `yaml:"plugins"`
	Jobs        map[string]*Job    `yaml:"jobs"`
	Hooks       Hooks              `yaml:"hooks"`
	Fulfillment Fulfillment        `yaml:"fulfillment"`

	// File is the absolute path the config was read from; relative paths
	// in it are resolved against BaseDir.
	File    string `yaml:"-"`
	BaseDir string `yaml:"-"`
	pos     map[string]int
}

// Stripe holds credentials and API choices.
type Stripe struct {
	SecretKey     string `yaml:"secret_key"`
	WebhookSecret string `yaml:"webhook_secret"`
	HookSecret    string `yaml:"hook_secret"`
	// ImportVersion is the preview Stripe-Version the ImportSet API requires.
	ImportVersion string `yaml:"import_version"`
	// CheckoutVersion is sent when retrieving completed sessions.
	CheckoutVersion string `yaml:"checkout_version"`
	// UploadAPI picks the catalog upload API: importset (default) or v2.
	UploadAPI string `yaml:"upload_api"`
	// APIURL overrides Stripe's base URL (tests, proxies).
	APIURL     string `yaml:"api_url"`
	MaxRetries int    `yaml:"max_retries"`
	// MaxPartMiB splits feed files into parts of at most this size. The
	// ImportSet path holds one part in memory while sending it (stripe-go
	// builds the multipart body in memory), so its default is 64; v2
	// streams from disk and defaults to Stripe's 200 MB file limit.
	MaxPartMiB int      `yaml:"max_part_mib"`
	Emulator   Emulator `yaml:"emulator"`
}

// Emulator configures the embedded Stripe emulator used without a key.
type Emulator struct {
	Listen string `yaml:"listen"`
	// Delay is how long an import stays in progress.
	Delay Duration `yaml:"delay"`
}

// Server is the HTTP listener.
type Server struct {
	Listen string `yaml:"listen"`
	// PublicURL is how Stripe and shoppers reach this host; used to print
	// the custom order URL to paste into the Dashboard.
	PublicURL       string   `yaml:"public_url"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// State selects the state store.
type State struct {
	Driver string `yaml:"driver"`
	DSN    string `yaml:"dsn"`
	// Dir holds feed files being built and uploaded.
	Dir string `yaml:"dir"`
	// Retention bounds the history the store keeps.
	Retention Retention `yaml:"retention"`
}

// Retention says how long the store keeps history; each is a duration
// ("30d", "720h") or "forever". The order ledger is never pruned.
type Retention struct {
	// Hooks: stored hook answers (default 30d; Stripe retries within
	// minutes).
	Hooks Period `yaml:"hooks"`
	// Runs: finished job runs on the status page (default 30d; the newest
	// run of each job is always kept).
	Runs Period `yaml:"runs"`
	// UploadErrors: the rejected rows stored per upload (default 90d; the
	// upload's own record and counts stay).
	UploadErrors Period `yaml:"upload_errors"`
}

// Limit is a cap given as a percentage ("25%"), a count ("500") or "off".
type Limit struct {
	kind    limitKind
	percent float64
	count   int // the count, or a percentage's floor
}

type limitKind int

const (
	limitUnset limitKind = iota
	limitOff
	limitPercent
	limitCount
)

// PercentLimit returns a limit of p percent that always allows at least
// floor (so a small catalog is not held to a fraction of a product).
func PercentLimit(p float64, floor int) Limit {
	return Limit{kind: limitPercent, percent: p, count: floor}
}

// UnmarshalYAML parses "25%", "500", "off".
func (l *Limit) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	bad := fmt.Errorf("line %d: %q is not a limit (use a percentage such as 25%%, a count such as 500, or off)", n.Line, v)
	switch {
	case v == "":
		return nil
	case strings.EqualFold(v, "off"):
		*l = Limit{kind: limitOff}
	case strings.HasSuffix(v, "%"):
		p, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "%")), 64)
		if err != nil || p < 0 || p > 100 {
			return bad
		}
		*l = Limit{kind: limitPercent, percent: p}
	default:
		c, err := strconv.Atoi(v)
		if err != nil || c < 0 {
			return bad
		}
		*l = Limit{kind: limitCount, count: c}
	}
	return nil
}

// Or returns l, or def when l was not given.
func (l Limit) Or(def Limit) Limit {
	if l.kind == limitUnset {
		return def
	}
	return l
}

// Allows reports whether n out of total is within the limit. An unset
// limit allows anything.
func (l Limit) Allows(n, total int) bool {
	switch l.kind {
	case limitPercent:
		return n <= l.count || float64(n) <= l.percent/100*float64(total)
	case limitCount:
		return n <= l.count
	}
	return true
}

// Off reports whether the limit allows anything (off, or not given).
func (l Limit) Off() bool { return l.kind == limitOff || l.kind == limitUnset }

// String is the limit as written in the config.
func (l Limit) String() string {
	switch l.kind {
	case limitPercent:
		p := strconv.FormatFloat(l.percent, 'f', -1, 64) + "%"
		if l.count > 0 {
			p += " or " + strconv.Itoa(l.count) + ", whichever is more"
		}
		return p
	case limitCount:
		return strconv.Itoa(l.count)
	}
	return "off"
}

// Period is a retention period: a duration, with "d" for days allowed, or
// "forever".
type Period struct {
	D       time.Duration
	Forever bool
}

// UnmarshalYAML parses "30d", "12h", "forever".
func (p *Period) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	switch {
	case v == "":
		return nil
	case strings.EqualFold(v, "forever"):
		*p = Period{Forever: true}
		return nil
	}
	var d time.Duration
	bad := fmt.Errorf("line %d: %q is not a retention period (use 30d, 720h or forever)", n.Line, v)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		k, err := strconv.Atoi(days)
		if err != nil || k <= 0 {
			return bad
		}
		d = time.Duration(k) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d <= 0 {
			return bad
		}
	}
	*p = Period{D: d}
	return nil
}

// Or returns the period, 0 for forever, or def when unset.
func (p Period) Or(def time.Duration) time.Duration {
	switch {
	case p.Forever:
		return 0
	case p.D > 0:
		return p.D
	}
	return def
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Scheduler configures cron.
type Scheduler struct {
	TimeZone string `yaml:"timezone"`
}

// Plugin is one backend plugin process.
type Plugin struct {
	Path string `yaml:"path"`
	// SHA256 pins the binary; when empty the lock file in the plugin
	// directory is consulted.
	SHA256 string `yaml:"sha256"`
	// Env is passed to the plugin in addition to a minimal allow-list.
	Env          map[string]string `yaml:"env"`
	Config       yaml.Node         `yaml:"config"`
	StartTimeout Duration          `yaml:"start_timeout"`
	CallTimeout  Duration          `yaml:"call_timeout"`
	Restart      Restart           `yaml:"restart"`

	Name       string `yaml:"-"`
	configJSON []byte
}

// Restart bounds the crash-restart backoff.
type Restart struct {
	MinDelay Duration `yaml:"min_delay"`
	MaxDelay Duration `yaml:"max_delay"`
}

// Job is one scheduled job.
type Job struct {
	Type       string   `yaml:"type"`
	Plugin     string   `yaml:"plugin"`
	Schedule   string   `yaml:"schedule"`
	RunAtStart bool     `yaml:"run_at_start"`
	Timeout    Duration `yaml:"timeout"`
	// Deletions sends delete=true for products gone from the backend
	// (catalog jobs; default true).
	Deletions *bool `yaml:"deletions"`
	// MaxDeletions holds back the deletions of a catalog run that would
	// delete more products than this: a share of the job's products
	// ("25%"), a count ("500") or "off". Default: 25% or 10 products,
	// whichever is more. A truncated export never empties the catalog.
	MaxDeletions Limit `yaml:"max_deletions"`
	// WaitForPrevious bounds how long an incremental job waits for the
	// previous upload of its feed to reach a final status.
	WaitForPrevious Duration `yaml:"wait_for_previous"`
	// Lookback is how far back reconciliation starts on first run.
	Lookback Duration `yaml:"lookback"`

	Name string `yaml:"-"`
}

// Hooks configures Stripe's checkout hooks.
type Hooks struct {
	Plugin string `yaml:"plugin"`
	// Deadline is our budget for answering; Stripe gives up after 4s.
	Deadline Duration `yaml:"deadline"`
	// OnFailure is the answer when the plugin is slow or down: decline or approve.
	OnFailure        string   `yaml:"on_failure"`
	MaxQuantity      int64    `yaml:"max_quantity"`
	AllowedCountries []string `yaml:"allowed_countries"`
	// MaxOrderAmount is in minor units of the checkout currency.
	MaxOrderAmount int64 `yaml:"max_order_amount"`
}

// Fulfillment configures the order path.
type Fulfillment struct {
	Plugin string `yaml:"plugin"`
	// Capture mirrors the Dashboard's capture mode: automatic or manual.
	Capture string `yaml:"capture"`
	// CaptureOn, with manual capture: accepted or shipped.
	CaptureOn string `yaml:"capture_on"`
	// RefundRejected refunds orders the backend rejects (default true).
	RefundRejected *bool `yaml:"refund_rejected"`
}

// Duration is a YAML duration such as "3s" or "15m".
type Duration struct{ time.Duration }

// UnmarshalYAML parses Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "" {
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use 500ms, 3s, 15m, 2h)", n.Line, n.Value)
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %q is negative", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

// Or returns d, or def when d is zero.
func (d Duration) Or(def time.Duration) time.Duration {
	if d.Duration == 0 {
		return def
	}
	return d.Duration
}

// Error lists every problem found, each prefixed with file:line.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0]
	}
	return fmt.Sprintf("%d problems:\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// Load reads, expands and validates a config file.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(abs, data, os.LookupEnv)
}

// Parse loads a config from bytes; lookup resolves ${VAR} references.
func Parse(file string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty config", file)
	}
	var problems []string
	expandNode(&root, lookup, func(line int, msg string) {
		problems = append(problems, fmt.Sprintf("%s:%d: %s", file, line, msg))
	})
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	cfg := &Config{File: file, BaseDir: filepath.Dir(file), pos: map[string]int{}}
	// Unknown keys are found on the raw text, where line numbers are exact
	// and ${VAR} references do not matter; values are then decoded from the
	// expanded tree, whose nodes keep their original lines.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(&Config{}); err != nil {
		if unknown := unknownKeyProblems(file, err); len(unknown) > 0 {
			return nil, &Error{Problems: unknown}
		}
	}
	if err := root.Decode(cfg); err != nil {
		return nil, &Error{Problems: yamlProblems(file, err)}
	}
	indexPositions(root.Content[0], "", cfg.pos)
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func unknownKeyProblems(file string, err error) []string {
	var out []string
	for _, p := range yamlProblems(file, err) {
		if strings.Contains(p, "unknown key ") {
			out = append(out, p)
		}
	}
	return out
}

// yaml.v3 reports "line N: field x not found in type config.Job"; make it
// read like the rest of our errors.
func yamlProblems(file string, err error) []string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out []string
		for _, e := range te.Errors {
			if i := strings.Index(e, " not found in type "); i >= 0 {
				e = strings.Replace(e[:i], "field ", "unknown key ", 1)
			}
			out = append(out, fmt.Sprintf("%s:%s", file, strings.TrimPrefix(e, "line ")))
		}
		return out
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		return []string{fmt.Sprintf("%s:%s", file, rest)}
	}
	return []string{fmt.Sprintf("%s: %s", file, msg)}
}

func indexPositions(n *yaml.Node, prefix string, pos map[string]int) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if prefix != "" {
			key = prefix + "." + k.Value
		}
		pos[key] = k.Line
		if key == "plugins."+k.Value || key == "jobs."+k.Value || strings.Count(key, ".") < 3 {
			indexPositions(v, key, pos)
		}
	}
}

// Pos returns "file:line" for a dotted key path such as "jobs.catalog.plugin",
// falling back to the nearest parent that has a position.
func (c *Config) Pos(path ...string) string {
	key := strings.Join(path, ".")
	for key != "" {
		if line, ok := c.pos[key]; ok {
			return fmt.Sprintf("%s:%d", c.File, line)
		}
		i := strings.LastIndex(key, ".")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return c.File
}

// Resolve makes a config-relative path absolute.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.BaseDir, p)
}

// PluginConfigJSON is the plugin's config block as JSON.
func (p *Plugin) PluginConfigJSON() []byte { return p.configJSON }

func (c *Config) applyDefaults() {
	if c.Server.Listen == "" {
		c.Server.Listen = "127.0.0.1:8080"
	}
	if c.State.Driver == "" {
		c.State.Driver = "sqlite"
	}
	if c.State.Dir == "" {
		c.State.Dir = "var/state"
	}
	c.State.Dir = c.Resolve(c.State.Dir)
	if c.State.DSN == "" {
		c.State.DSN = filepath.Join(c.State.Dir, "acs.db")
	}
	if c.State.Driver == "sqlite" {
		c.State.DSN = c.Resolve(c.State.DSN)
	}
	if c.Stripe.ImportVersion == "" {
		c.Stripe.ImportVersion = "2025-09-30.clover;udap_beta=v1"
	}
	if c.Stripe.CheckoutVersion == "" {
		c.Stripe.CheckoutVersion = "2025-12-15.preview"
	}
	if c.Stripe.UploadAPI == "" {
		c.Stripe.UploadAPI = "importset"
	}
	if c.Stripe.MaxRetries == 0 {
		c.Stripe.MaxRetries = 3
	}
	if c.Stripe.MaxPartMiB == 0 {
		c.Stripe.MaxPartMiB = 64
		if c.Stripe.UploadAPI == "v2" {
			c.Stripe.MaxPartMiB = 199
		}
	}
	if c.Stripe.Emulator.Listen == "" {
		c.Stripe.Emulator.Listen = "127.0.0.1:0"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "auto"
	}
	if c.Scheduler.TimeZone == "" {
		c.Scheduler.TimeZone = "UTC"
	}
	if c.Hooks.OnFailure == "" {
		c.Hooks.OnFailure = "decline"
	}
	if c.Fulfillment.Capture == "" {
		c.Fulfillment.Capture = "automatic"
	}
	if c.Fulfillment.CaptureOn == "" {
		c.Fulfillment.CaptureOn = "accepted"
	}
	for name, p := range c.Plugins {
		if p == nil {
			p = &Plugin{}
			c.Plugins[name] = p
		}
		p.Name = name
		p.Path = c.Resolve(p.Path)
	}
	for name, j := range c.Jobs {
		if j == nil {
			j = &Job{}
			c.Jobs[name] = j
		}
		j.Name = name
	}
}

// CronParser accepts 5-field specs, an optional leading seconds field, and
// descriptors like @every 15m, @daily; the same parser validates at load and
// schedules at run time so a spec that loads also runs.
var CronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule validates a cron spec. robfig/cron panics on some inputs
// (robfig/cron#554), so a panic becomes an error here.
func ParseSchedule(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid schedule %q", spec)
		}
	}()
	if d, ok := strings.CutPrefix(strings.TrimSpace(spec), "@every "); ok {
		if v, err := time.ParseDuration(strings.TrimSpace(d)); err == nil && v < time.Second {
			return nil, fmt.Errorf("invalid schedule %q: @every needs at least 1s", spec)
		}
	}
	return CronParser.Parse(spec)
}

func (c *Config) validate() error {
	var p []string
	add := func(path, format string, args ...any) {
		p = append(p, fmt.Sprintf("%s: %s", c.Pos(strings.Split(path, ".")...), fmt.Sprintf(format, args...)))
	}
	if c.Version == 0 {
		add("version", "missing top-level `version: %d`", CurrentVersion)
	} else if c.Version != CurrentVersion {
		add("version", "config version %d is not supported by this acs-connector (it reads version %d)", c.Version, CurrentVersion)
	}
	switch c.State.Driver {
	case "sqlite", "postgres":
	default:
		add("state.driver", "unknown state driver %q (use sqlite or postgres)", c.State.Driver)
	}
	if c.State.Driver == "postgres" && !strings.Contains(c.State.DSN, "://") && !strings.Contains(c.State.DSN, "=") {
		add("state.dsn", "postgres needs a DSN like postgres://user@host:5432/db")
	}
	switch c.Stripe.UploadAPI {
	case "importset", "v2":
	default:
		add("stripe.upload_api", "unknown upload API %q (use importset or v2)", c.Stripe.UploadAPI)
	}
	if c.Stripe.MaxPartMiB < 1 || c.Stripe.MaxPartMiB > 199 {
		add("stripe.max_part_mib", "must be between 1 and 199 (Stripe takes files up to 200 MB)")
	}
	if k := c.Stripe.SecretKey; k != "" && !strings.HasPrefix(k, "sk_") && !strings.HasPrefix(k, "rk_") {
		add("stripe.secret_key", "does not look like a Stripe secret key (sk_... or rk_...)")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "unknown level %q (debug, info, warn, error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "json", "text":
	default:
		add("log.format", "unknown format %q (auto, json, text)", c.Log.Format)
	}
	if _, err := time.LoadLocation(c.Scheduler.TimeZone); err != nil {
		add("scheduler.timezone", "unknown time zone %q", c.Scheduler.TimeZone)
	}
	for _, name := range sortedKeys(c.Plugins) {
		pl := c.Plugins[name]
		if pl.Path == "" {
			add("plugins."+name+".path", "plugin %q has no path", name)
		}
		if pl.SHA256 != "" && !isHex(pl.SHA256, 64) {
			add("plugins."+name+".sha256", "sha256 must be 64 hex characters")
		}
		js, err := nodeToJSON(&pl.Config)
		if err != nil {
			add("plugins."+name+".config", "%v", err)
		}
		pl.configJSON = js
	}
	for _, name := range sortedKeys(c.Jobs) {
		j := c.Jobs[name]
		base := "jobs." + name
		switch j.Type {
		case JobCatalog, JobInventory, JobPrice, JobOrderUpdates:
			if j.Plugin == "" {
				add(base+".plugin", "job %q needs a plugin", name)
			} else if _, ok := c.Plugins[j.Plugin]; !ok {
				add(base+".plugin", "job %q uses plugin %q, which is not defined under plugins", name, j.Plugin)
			}
		case JobReconcile:
			if j.Plugin != "" {
				if _, ok := c.Plugins[j.Plugin]; !ok {
					add(base+".plugin", "job %q uses plugin %q, which is not defined under plugins", name, j.Plugin)
				}
			}
		case "":
			add(base+".type", "job %q has no type (catalog, inventory, price, reconcile, order_updates)", name)
		default:
			add(base+".type", "job %q has unknown type %q (catalog, inventory, price, reconcile, order_updates)", name, j.Type)
		}
		if j.Schedule == "" {
			add(base+".schedule", "job %q has no schedule", name)
		} else if _, err := ParseSchedule(j.Schedule); err != nil {
			add(base+".schedule", "job %q: %v", name, err)
		}
	}
	for _, ref := range []struct{ path, name string }{{"hooks.plugin", c.Hooks.Plugin}, {"fulfillment.plugin", c.Fulfillment.Plugin}} {
		if ref.name != "" {
			if _, ok := c.Plugins[ref.name]; !ok {
				add(ref.path, "plugin %q is not defined under plugins", ref.name)
			}
		}
	}
	switch c.Hooks.OnFailure {
	case "decline", "approve":
	default:
		add("hooks.on_failure", "must be decline or approve, not %q", c.Hooks.OnFailure)
	}
	if d := c.Hooks.Deadline.Duration; d >= 4*time.Second {
		add("hooks.deadline", "%s is not under Stripe's 4s hook timeout; Stripe would decline first", d)
	}
	for _, cc := range c.Hooks.AllowedCountries {
		if len(cc) != 2 || strings.ToUpper(cc) != cc {
			add("hooks.allowed_countries", "%q is not an ISO 3166 alpha-2 code like US", cc)
		}
	}
	switch c.Fulfillment.Capture {
	case "automatic", "manual":
	default:
		add("fulfillment.capture", "must be automatic or manual, not %q", c.Fulfillment.Capture)
	}
	switch c.Fulfillment.CaptureOn {
	case "accepted", "shipped":
	default:
		add("fulfillment.capture_on", "must be accepted or shipped, not %q", c.Fulfillment.CaptureOn)
	}
	if len(p) > 0 {
		sort.Strings(p)
		return &Error{Problems: p}
	}
	return nil
}

// RequiredCapabilities lists, per plugin, what the config asks of it and
// where, so a missing capability fails at `config check` and at start rather
// than at 3 a.m.
func (c *Config) RequiredCapabilities() map[string]map[string]string {
	need := map[string]map[string]string{}
	add := func(plugin, capability, where string) {
		if plugin == "" {
			return
		}
		if need[plugin] == nil {
			need[plugin] = map[string]string{}
		}
		if _, ok := need[plugin][capability]; !ok {
			need[plugin][capability] = where
		}
	}
	for _, name := range sortedKeys(c.Jobs) {
		j := c.Jobs[name]
		where := c.Pos("jobs", name, "plugin")
		switch j.Type {
		case JobCatalog:
			add(j.Plugin, "catalog", where)
		case JobInventory:
			add(j.Plugin, "inventory", where)
		case JobPrice:
			add(j.Plugin, "prices", where)
		case JobOrderUpdates:
			add(j.Plugin, "order_updates", where)
		}
	}
	add(c.Hooks.Plugin, "availability", c.Pos("hooks", "plugin"))
	add(c.Fulfillment.Plugin, "fulfillment", c.Pos("fulfillment", "plugin"))
	return need
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

func nodeToJSON(n *yaml.Node) ([]byte, error) {
	if n.Kind == 0 {
		return []byte("{}"), nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	out, err := json.Marshal(jsonable(v))
	if err != nil {
		return nil, fmt.Errorf("plugin config cannot be passed on: %w", err)
	}
	return out, nil
}

// yaml.v3 decodes mappings with non-string keys as map[any]any in nested
// places; JSON needs string keys.
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = jsonable(x)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = jsonable(x)
		}
		return m
	case []any:
		for i, x := range t {
			t[i] = jsonable(x)
		}
		return t
	}
	return v
}

// PluginNames lists configured plugins, sorted.
func (c *Config) PluginNames() []string { return sortedKeys(c.Plugins) }

// JobNames lists configured jobs, sorted.
func (c *Config) JobNames() []string { return sortedKeys(c.Jobs) }
