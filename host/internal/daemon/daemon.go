// Package daemon runs acs-connector as a long-lived service: it starts the
// parts in dependency order, tells systemd it is ready only when all of them
// are, reloads its config on SIGHUP without dropping what works, and stops
// in an order that lets in-flight hooks and jobs finish.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/acs-connector/acs-connector/host/internal/buildinfo"
	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/logging"
	"github.com/acs-connector/acs-connector/host/internal/metrics"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/scheduler"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
)

// Options configure a daemon run. Zero values mean production behaviour.
type Options struct {
	ConfigPath string
	// LogOutput receives the log (stderr by default).
	LogOutput io.Writer
	// Signals replaces OS signal delivery (tests).
	Signals chan os.Signal
	// Notify replaces sd_notify (tests).
	Notify func(state string)
	// HostID names this host in job run records (default: hostname:pid).
	HostID string
	// Exit is called on a second stop signal (default os.Exit).
	Exit func(code int)
	// OneShot sets the host up for a CLI command (`sync`, `feed export`):
	// state, Stripe and plugins, but no listener, schedule or background work.
	OneShot bool
}

// Daemon is one running host.
type Daemon struct {
	opt      Options
	log      *slog.Logger
	cfg      atomic.Pointer[config.Config]
	metrics  *metrics.Metrics
	store    store.Store
	emu      *emulator.Emulator
	emuInfo  *EmulatorInfo
	stripe   *stripeapi.Client
	plugins  *pluginmgr.Manager
	sched    *scheduler.Scheduler
	server   *http.Server
	lis      net.Listener
	ready    atomic.Bool
	app      *app
	bg       sync.WaitGroup
	bgStop   context.CancelFunc
	reloadMu sync.Mutex
}

// Run starts the daemon and blocks until it has stopped.
func Run(opt Options) error {
	d, err := Start(opt)
	if err != nil {
		return err
	}
	return d.Wait()
}

// Start brings every part up and returns once the daemon is ready.
func Start(opt Options) (_ *Daemon, err error) {
	if opt.LogOutput == nil {
		opt.LogOutput = os.Stderr
	}
	if opt.Exit == nil {
		opt.Exit = os.Exit
	}
	if opt.HostID == "" {
		h, _ := os.Hostname()
		opt.HostID = fmt.Sprintf("%s:%d", h, os.Getpid())
	}
	cfg, err := config.Load(opt.ConfigPath)
	if err != nil {
		return nil, err
	}
	d := &Daemon{opt: opt, metrics: metrics.New()}
	d.cfg.Store(cfg)
	d.log = logging.New(opt.LogOutput, logging.Options{Level: cfg.Log.Level, Format: cfg.Log.Format})
	registerSecrets(cfg)
	if opt.Signals == nil {
		opt.Signals = make(chan os.Signal, 4)
		signal.Notify(opt.Signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
		d.opt.Signals = opt.Signals
	}
	// Undo whatever started if a later step fails, so a failed start leaves
	// no plugin processes or listeners behind.
	var cleanups []func()
	defer func() {
		if err != nil {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
		}
	}()
	d.log.Info("starting acs-connector", "version", buildinfo.Version, "config", cfg.File)

	if err := os.MkdirAll(cfg.State.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, cfg.State.Driver, cfg.State.DSN)
	if err != nil {
		return nil, fmt.Errorf("open state store (%s): %w", cfg.State.Driver, err)
	}
	d.store = st
	cleanups = append(cleanups, func() { st.Close() })

	listen := cfg.Server.Listen
	if opt.OneShot {
		listen = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (server.listen at %s): %w", cfg.Server.Listen, cfg.Pos("server", "listen"), err)
	}
	d.lis = lis
	cleanups = append(cleanups, func() { lis.Close() })

	if err := d.setupStripe(cfg); err != nil {
		return nil, err
	}
	if d.emu != nil {
		cleanups = append(cleanups, func() { d.emu.Close() })
	}

	d.plugins = pluginmgr.New(pluginmgr.Options{
		Logger:      d.log,
		SocketDir:   runtimeDir(),
		HostVersion: buildinfo.Version,
		DialOptions: d.metrics.PluginDialOptions,
		OnState:     d.pluginState,
		OneShot:     opt.OneShot,
	})
	cleanups = append(cleanups, func() { d.plugins.Stop(context.Background()) })
	if err := d.plugins.Start(ctx, PluginSpecs(cfg)); err != nil {
		return nil, err
	}
	if err := d.plugins.CheckCapabilities(cfg.RequiredCapabilities()); err != nil {
		return nil, err
	}

	loc, _ := time.LoadLocation(cfg.Scheduler.TimeZone)
	d.sched = scheduler.New(scheduler.Options{Location: loc, Logger: d.log, Metrics: d.metrics, Store: d.store, HostID: opt.HostID})
	d.app, err = newApp(d, cfg)
	if err != nil {
		return nil, err
	}
	for _, name := range cfg.JobNames() {
		if err := d.addJob(cfg.Jobs[name]); err != nil {
			return nil, err
		}
	}

	if opt.OneShot {
		return d, nil
	}
	d.server = &http.Server{
		Handler:           d.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := d.server.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", "err", err)
		}
	}()
	bgctx, bgcancel := context.WithCancel(context.Background())
	d.bgStop = bgcancel
	d.app.startBackground(bgctx)
	d.sched.Start()

	d.ready.Store(true)
	d.notify(sddaemon.SdNotifyReady)
	d.log.Info("acs-connector ready", "listen", lis.Addr().String(), "mode", d.mode(), "jobs", len(cfg.Jobs), "plugins", len(cfg.Plugins))
	if u := d.orderURL(); u != "" {
		d.log.Info("custom order URL for Stripe's Dashboard (Agentic commerce settings > Receipt type > Custom page)", "url", u)
	}
	d.runAtStart(cfg)
	return d, nil
}

// RunJob runs one configured job now (the `sync` command).
func (d *Daemon) RunJob(ctx context.Context, name string) error {
	return d.sched.RunNow(ctx, name)
}

// Close releases what a one-shot daemon holds.
func (d *Daemon) Close() {
	d.plugins.Stop(context.Background())
	if d.emu != nil {
		_ = d.emu.Close()
	}
	_ = d.lis.Close()
	_ = d.store.Close()
}

// Config is the running configuration.
func (d *Daemon) Config() *config.Config { return d.cfg.Load() }

// Addr is the HTTP listener's address.
func (d *Daemon) Addr() string { return d.lis.Addr().String() }

// Emulator returns the embedded emulator, nil when talking to Stripe.
func (d *Daemon) Emulator() *emulator.Emulator { return d.emu }

// EmulatorInfo returns how to reach the embedded emulator, nil with Stripe.
func (d *Daemon) EmulatorInfo() *EmulatorInfo { return d.emuInfo }

// Store exposes the state store (tests, CLI).
func (d *Daemon) Store() store.Store { return d.store }

func (d *Daemon) notify(state string) {
	if d.opt.Notify != nil {
		d.opt.Notify(state)
		return
	}
	if _, err := sddaemon.SdNotify(false, state); err != nil {
		d.log.Warn("sd_notify failed", "state", state, "err", err)
	}
}

func (d *Daemon) mode() string {
	switch {
	case d.emu != nil:
		return "Stripe emulator"
	case d.stripe != nil && d.stripe.Livemode():
		return "Stripe live mode"
	default:
		return "Stripe test mode"
	}
}

func (d *Daemon) orderURL() string {
	base := d.cfg.Load().Server.PublicURL
	if base == "" {
		base = "http://" + d.Addr()
	}
	return trimSlash(base) + "/orders/{CHECKOUT_SESSION_ID}"
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

func runtimeDir() string {
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		return d
	}
	return os.Getenv("ACS_RUNTIME_DIR")
}

func registerSecrets(cfg *config.Config) {
	for _, s := range []string{cfg.Stripe.SecretKey, cfg.Stripe.WebhookSecret, cfg.Stripe.HookSecret} {
		logging.AddSecret(s)
	}
	if cfg.State.Driver == "postgres" {
		logging.AddSecret(cfg.State.DSN)
	}
	for _, p := range cfg.Plugins {
		for _, v := range p.Env {
			logging.AddSecret(v)
		}
	}
}

func (d *Daemon) pluginState(name string, up bool, restarts int, reason string) {
	v := 0.0
	if up {
		v = 1
	}
	d.metrics.Set(metrics.PluginUpG, v, name)
	if reason == "restarted" {
		d.metrics.Inc(metrics.PluginRestartsC, name, "crash")
	}
}

// Wait handles signals until the daemon has stopped: SIGHUP reloads,
// SIGTERM/SIGINT stop gracefully, a second stop signal exits at once.
func (d *Daemon) Wait() error {
	for sig := range d.opt.Signals {
		switch sig {
		case syscall.SIGHUP:
			d.Reload()
		case syscall.SIGTERM, syscall.SIGINT:
			go func() {
				for s := range d.opt.Signals {
					if s == syscall.SIGTERM || s == syscall.SIGINT {
						d.log.Warn("second stop signal: exiting immediately")
						d.opt.Exit(1)
						return
					}
				}
			}()
			return d.Shutdown()
		}
	}
	return nil
}

// Shutdown stops in order: stop accepting and finish in-flight requests
// (hooks get their answers), wait for running jobs (bounded), stop
// background work, ask plugins to stop, then kill them.
func (d *Daemon) Shutdown() error {
	cfg := d.cfg.Load()
	d.ready.Store(false)
	d.notify(sddaemon.SdNotifyStopping)
	d.log.Info("stopping: draining HTTP requests")
	timeout := cfg.Server.ShutdownTimeout.Or(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	if err := d.server.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http drain: %w", err))
	}
	d.log.Info("stopping: waiting for running jobs")
	jctx, jcancel := context.WithTimeout(context.Background(), timeout)
	if err := d.sched.Stop(jctx); err != nil {
		d.log.Warn("jobs did not finish in time", "err", err)
	}
	jcancel()
	d.bgStop()
	d.app.stopBackground()
	d.bg.Wait()
	d.log.Info("stopping: plugins")
	d.plugins.Stop(context.Background())
	if d.emu != nil {
		_ = d.emu.Close()
	}
	if err := d.store.Close(); err != nil {
		errs = append(errs, err)
	}
	d.log.Info("stopped")
	return errors.Join(errs...)
}
