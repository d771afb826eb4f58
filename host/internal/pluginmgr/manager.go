// Package pluginmgr runs backend plugins as supervised child processes: it
// verifies each binary's sha256 before exec, starts it with an explicit
// environment, negotiates the protocol, configures it, restarts it with
// capped exponential backoff when it crashes, and gives the rest of the host
// typed calls with a clear retry policy.
package pluginmgr

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
)

// Spec is how to run one plugin.
type Spec struct {
	Name string
	Path string
	// WorkDir is the plugin's working directory (the config file's).
	WorkDir string
	// SHA256 pins the binary (hex); empty means look in the lock file.
	SHA256 string
	// SHA256Source says where the pin came from, for error messages.
	SHA256Source string
	Env          map[string]string
	ConfigJSON   []byte
	ConfigSource string
	StartTimeout time.Duration
	CallTimeout  time.Duration
	MinBackoff   time.Duration
	MaxBackoff   time.Duration
}

// Options configure the manager.
type Options struct {
	Logger *slog.Logger
	// SocketDir holds plugin unix sockets (systemd RuntimeDirectory).
	SocketDir string
	// HostVersion is passed to plugins in Describe.
	HostVersion string
	// DialOptions adds per-plugin gRPC client interceptors (metrics).
	DialOptions func(plugin string) []grpc.DialOption
	// OnState is told whenever a plugin goes up or down.
	OnState func(plugin string, up bool, restarts int, reason string)
	// Versions overrides the protocol versions the host speaks (tests).
	Versions []int
	// OneShot tells plugins the host runs a single command.
	OneShot bool
}

// Manager owns every plugin process of the host.
type Manager struct {
	opt     Options
	mu      sync.Mutex
	plugins map[string]*Plugin
}

// New returns a manager with no plugins.
func New(opt Options) *Manager {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{opt: opt, plugins: map[string]*Plugin{}}
}

// Start launches every spec; plugins that fail to start are reported
// together, and the ones that started keep running.
func (m *Manager) Start(ctx context.Context, specs []Spec) error {
	var errs []error
	for _, s := range specs {
		p := m.newPlugin(s)
		if err := p.start(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		m.mu.Lock()
		m.plugins[s.Name] = p
		m.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Add starts one more plugin (config reload).
func (m *Manager) Add(ctx context.Context, s Spec) error {
	p := m.newPlugin(s)
	if err := p.start(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	old := m.plugins[s.Name]
	m.plugins[s.Name] = p
	m.mu.Unlock()
	if old != nil {
		old.stop(ctx)
	}
	return nil
}

// Remove stops and forgets a plugin.
func (m *Manager) Remove(ctx context.Context, name string) {
	m.mu.Lock()
	p := m.plugins[name]
	delete(m.plugins, name)
	m.mu.Unlock()
	if p != nil {
		p.stop(ctx)
	}
}

// Get returns a running plugin by config name.
func (m *Manager) Get(name string) (*Plugin, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.plugins[name]
	return p, ok
}

// Names lists plugin names, sorted.
func (m *Manager) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.plugins))
	for n := range m.plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Stop drains and stops every plugin: the Stop RPC first so plugins can
// finish writes, then go-plugin's kill (which itself waits 2s before SIGKILL).
func (m *Manager) Stop(ctx context.Context) {
	m.mu.Lock()
	ps := make([]*Plugin, 0, len(m.plugins))
	for _, p := range m.plugins {
		ps = append(ps, p)
	}
	m.plugins = map[string]*Plugin{}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func(p *Plugin) { defer wg.Done(); p.stop(ctx) }(p)
	}
	wg.Wait()
}

// CheckCapabilities compares what the config needs (plugin -> capability ->
// config position) with what running plugins declare.
func (m *Manager) CheckCapabilities(need map[string]map[string]string) error {
	return CheckCapabilities(m.Infos(), need)
}

// CheckCapabilities compares needs with a set of plugin infos.
func CheckCapabilities(infos map[string]Info, need map[string]map[string]string) error {
	var problems []string
	for name, caps := range need {
		info, ok := infos[name]
		if !ok {
			continue
		}
		for c, where := range caps {
			if !info.Has(c) {
				problems = append(problems, fmt.Sprintf("%s: plugin %q (%s %s) has no %s capability; it offers: %s",
					where, name, info.Name, info.Version, c, strings.Join(info.Capabilities, ", ")))
			}
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// Info is what a plugin said about itself.
type Info struct {
	Name         string
	Version      string
	Protocol     int
	Capabilities []string
	SampleConfig string
}

// Has reports whether the plugin declared a capability.
func (i Info) Has(capability string) bool {
	for _, c := range i.Capabilities {
		if c == capability {
			return true
		}
	}
	return false
}

// Status is a snapshot for `plugins list`, /readyz and the status page.
type Status struct {
	Name      string
	Path      string
	Info      Info
	Up        bool
	Restarts  int
	LastError string
	SHA256    string
	Pid       int
	Since     time.Time
}

var capNames = map[pb.Capability]string{
	pb.Capability_CAPABILITY_CATALOG:            "catalog",
	pb.Capability_CAPABILITY_INVENTORY:          "inventory",
	pb.Capability_CAPABILITY_PRICES:             "prices",
	pb.Capability_CAPABILITY_AVAILABILITY:       "availability",
	pb.Capability_CAPABILITY_CUSTOMIZE_CHECKOUT: "customize_checkout",
	pb.Capability_CAPABILITY_FULFILLMENT:        "fulfillment",
	pb.Capability_CAPABILITY_ORDER_UPDATES:      "order_updates",
}

// baseEnv is all a plugin inherits from the host: enough to run, nothing
// that identifies the host's secrets or its systemd notify socket.
func baseEnv(extra map[string]string) []string {
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	for _, k := range []string{"HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "ACS_PLUGIN_LOG_LEVEL"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	return env
}

func decodeHex(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ToLower(s))
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("sha256 %q is not 64 hex characters", s)
	}
	return b, nil
}

// Replace starts every spec as a new process, lets check inspect the
// would-be plugin set (new ones plus the untouched running ones), and only
// then swaps them in and stops the processes they replace. On any failure
// the new processes are stopped and the running set is left exactly as it
// was: a bad reload never takes a working plugin down.
func (m *Manager) Replace(ctx context.Context, specs []Spec, remove []string, check func(map[string]Info) error) error {
	started := make([]*Plugin, 0, len(specs))
	abort := func(err error) error {
		for _, p := range started {
			p.stop(ctx)
		}
		return err
	}
	var errs []error
	for _, s := range specs {
		p := m.newPlugin(s)
		if err := p.start(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		started = append(started, p)
	}
	if len(errs) > 0 {
		return abort(errors.Join(errs...))
	}
	infos := map[string]Info{}
	m.mu.Lock()
	for name, p := range m.plugins {
		infos[name] = p.Info()
	}
	m.mu.Unlock()
	for _, name := range remove {
		delete(infos, name)
	}
	for _, p := range started {
		infos[p.spec.Name] = p.Info()
	}
	if check != nil {
		if err := check(infos); err != nil {
			return abort(err)
		}
	}
	var old []*Plugin
	m.mu.Lock()
	for _, p := range started {
		if prev, ok := m.plugins[p.spec.Name]; ok {
			old = append(old, prev)
		}
		m.plugins[p.spec.Name] = p
	}
	for _, name := range remove {
		if prev, ok := m.plugins[name]; ok {
			old = append(old, prev)
			delete(m.plugins, name)
		}
	}
	m.mu.Unlock()
	for _, p := range old {
		p.stop(ctx)
	}
	return nil
}

// Infos returns what every running plugin declared.
func (m *Manager) Infos() map[string]Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Info, len(m.plugins))
	for name, p := range m.plugins {
		out[name] = p.Info()
	}
	return out
}
