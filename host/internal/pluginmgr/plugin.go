package pluginmgr

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
	"github.com/acs-connector/acs-connector/proto/protocol"
)

// ErrUnavailable means the plugin process is down (crashed, restarting, or
// failing to start). Calls fail fast with it rather than hang.
var ErrUnavailable = errors.New("plugin unavailable")

// ErrUnimplemented means the plugin lacks the capability the call needs.
var ErrUnimplemented = errors.New("plugin does not implement this")

// CallError wraps a failed plugin call with the plugin and method.
type CallError struct {
	Plugin string
	Method string
	Err    error
}

func (e *CallError) Error() string {
	return fmt.Sprintf("plugin %s: %s: %v", e.Plugin, e.Method, e.Err)
}
func (e *CallError) Unwrap() error { return e.Err }

// Plugin is one supervised plugin process.
type Plugin struct {
	spec Spec
	opt  Options
	log  *slog.Logger

	mu       sync.Mutex
	client   *protocol.Client
	conn     *protocol.Conn
	gen      int
	info     Info
	up       bool
	restarts int
	lastErr  string
	since    time.Time
	sha      string
	stopping bool
	// ready is closed and replaced each time the plugin comes up, so
	// callers can wait for a restart within their own deadline.
	ready    chan struct{}
	stopCh   chan struct{}
	watchers sync.WaitGroup
}

func (m *Manager) newPlugin(s Spec) *Plugin {
	if s.StartTimeout == 0 {
		s.StartTimeout = 20 * time.Second
	}
	if s.CallTimeout == 0 {
		s.CallTimeout = 30 * time.Second
	}
	if s.MinBackoff == 0 {
		s.MinBackoff = time.Second
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = 2 * time.Minute
	}
	return &Plugin{spec: s, opt: m.opt, log: m.opt.Logger.With("plugin", s.Name),
		ready: make(chan struct{}), stopCh: make(chan struct{})}
}

// Name is the plugin's config name.
func (p *Plugin) Name() string { return p.spec.Name }

// Info is what the plugin declared at its last start.
func (p *Plugin) Info() Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// Status is a snapshot of the plugin's health.
func (p *Plugin) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Status{Name: p.spec.Name, Path: p.spec.Path, Info: p.info, Up: p.up, Restarts: p.restarts, LastError: p.lastErr, SHA256: p.sha, Since: p.since}
	if p.client != nil {
		st.Pid = p.client.Pid()
	}
	return st
}

// launch verifies, starts, describes and configures one process.
func (p *Plugin) launch(ctx context.Context) (*protocol.Client, Info, string, error) {
	want, source, err := expectedHash(p.spec.Path, p.spec.SHA256, p.spec.SHA256Source)
	if err != nil {
		return nil, Info{}, "", err
	}
	sum, err := decodeHex(want)
	if err != nil {
		return nil, Info{}, "", err
	}
	// The pin is checked once, by go-plugin, on the file it is about to exec
	// (protocol.ClientConfig.SHA256): hashing it here as well read the ~20 MB
	// binary twice on every start, and checked it a little further from the
	// exec.
	var dial = p.opt.DialOptions
	cfg := protocol.ClientConfig{
		Path:         p.spec.Path,
		Dir:          p.spec.WorkDir,
		Env:          baseEnv(p.spec.Env),
		SHA256:       sum,
		SocketDir:    p.opt.SocketDir,
		Logger:       p.log,
		StartTimeout: p.spec.StartTimeout,
		Versions:     p.opt.Versions,
	}
	if dial != nil {
		cfg.DialOptions = dial(p.spec.Name)
	}
	c, err := protocol.Start(cfg)
	if err != nil {
		var ce *protocol.ChecksumError
		if errors.As(err, &ce) {
			got := hex.EncodeToString(ce.Actual)
			return nil, Info{}, got, &ChecksumError{Path: p.spec.Path, Expected: want, Actual: got, Source: source}
		}
		return nil, Info{}, "", err
	}
	// Start succeeded, so the binary it ran hashed to the pin.
	got := hex.EncodeToString(sum)
	conn := c.Conn()
	cctx, cancel := context.WithTimeout(ctx, p.spec.CallTimeout)
	defer cancel()
	d, err := conn.Describe(cctx, &pb.DescribeRequest{HostVersion: p.opt.HostVersion})
	if err != nil {
		c.Kill()
		return nil, Info{}, got, fmt.Errorf("plugin %s: describe: %w", p.spec.Name, err)
	}
	info := Info{Name: d.GetName(), Version: d.GetVersion(), Protocol: c.ProtocolVersion(), SampleConfig: d.GetSampleConfig()}
	for _, cp := range d.GetCapabilities() {
		if n, ok := capNames[cp]; ok {
			info.Capabilities = append(info.Capabilities, n)
		}
	}
	cr, err := conn.Configure(cctx, &pb.ConfigureRequest{ConfigJson: p.spec.ConfigJSON, ConfigSource: p.spec.ConfigSource, OneShot: p.opt.OneShot})
	if err != nil {
		c.Kill()
		return nil, info, got, fmt.Errorf("plugin %s: configure: %w", p.spec.Name, err)
	}
	if errs := cr.GetErrors(); len(errs) > 0 {
		c.Kill()
		msg := ""
		for _, e := range errs {
			field := e.GetField()
			if field == "" {
				field = "(block)"
			}
			msg += fmt.Sprintf("\n  %s: plugins.%s.config.%s: %s", p.spec.ConfigSource, p.spec.Name, field, e.GetMessage())
		}
		return nil, info, got, fmt.Errorf("plugin %s rejected its config:%s", p.spec.Name, msg)
	}
	// Configuration may narrow what the plugin can do; ask again.
	if d2, err := conn.Describe(cctx, &pb.DescribeRequest{HostVersion: p.opt.HostVersion}); err == nil {
		info.Capabilities = info.Capabilities[:0]
		for _, cp := range d2.GetCapabilities() {
			if n, ok := capNames[cp]; ok {
				info.Capabilities = append(info.Capabilities, n)
			}
		}
	}
	return c, info, got, nil
}

func (p *Plugin) start(ctx context.Context) error {
	c, info, sha, err := p.launch(ctx)
	p.mu.Lock()
	p.sha = sha
	if err != nil {
		p.lastErr = err.Error()
		p.mu.Unlock()
		return err
	}
	p.setUpLocked(c, info)
	p.mu.Unlock()
	p.log.Info("plugin started", "name", info.Name, "version", info.Version, "protocol", info.Protocol,
		"capabilities", info.Capabilities, "pid", c.Pid())
	p.notify(true, "started")
	return nil
}

func (p *Plugin) setUpLocked(c *protocol.Client, info Info) {
	p.client, p.conn, p.info = c, c.Conn(), info
	p.gen++
	p.up = true
	p.since = time.Now()
	close(p.ready)
	p.watchers.Add(1)
	go p.watch(c, p.gen)
}

func (p *Plugin) notify(up bool, reason string) {
	if p.opt.OnState != nil {
		p.mu.Lock()
		r := p.restarts
		p.mu.Unlock()
		p.opt.OnState(p.spec.Name, up, r, reason)
	}
}

// watch waits for the process to exit and, unless we are stopping, restarts
// it with capped exponential backoff (Vault/Nomad style: the plugin is marked
// down at once so calls fail fast instead of queueing behind a dead socket).
func (p *Plugin) watch(c *protocol.Client, gen int) {
	defer p.watchers.Done()
	select {
	case <-c.Done():
	case <-p.stopCh:
		return
	}
	p.mu.Lock()
	if p.stopping || p.gen != gen {
		p.mu.Unlock()
		return
	}
	p.up = false
	p.ready = make(chan struct{})
	uptime := time.Since(p.since)
	p.lastErr = "plugin process exited unexpectedly"
	p.mu.Unlock()
	p.log.Error("plugin process exited unexpectedly; restarting with backoff", "uptime", uptime.Round(time.Millisecond))
	p.notify(false, "exited")
	c.Kill() // reap and clean up the socket

	delay := p.spec.MinBackoff
	for attempt := 1; ; attempt++ {
		select {
		case <-time.After(delay):
		case <-p.stopCh:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.spec.StartTimeout+p.spec.CallTimeout)
		nc, info, sha, err := p.launch(ctx)
		cancel()
		p.mu.Lock()
		if p.stopping {
			p.mu.Unlock()
			if nc != nil {
				nc.Kill()
			}
			return
		}
		p.restarts++
		p.sha = sha
		if err == nil {
			p.lastErr = ""
			p.setUpLocked(nc, info)
			p.mu.Unlock()
			p.log.Info("plugin restarted", "attempt", attempt, "pid", nc.Pid())
			p.notify(true, "restarted")
			return
		}
		p.lastErr = err.Error()
		p.mu.Unlock()
		delay *= 2
		if delay > p.spec.MaxBackoff {
			delay = p.spec.MaxBackoff
		}
		p.log.Error("plugin restart failed", "attempt", attempt, "next_try_in", delay, "err", err)
		p.notify(false, "restart_failed")
	}
}

func (p *Plugin) stop(ctx context.Context) {
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		return
	}
	p.stopping = true
	close(p.stopCh)
	c, conn, up := p.client, p.conn, p.up
	p.up = false
	p.mu.Unlock()
	if c != nil {
		if up {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if _, err := conn.Stop(sctx, &pb.StopRequest{}); err != nil && status.Code(err) != codes.Unimplemented {
				p.log.Warn("plugin did not stop cleanly", "err", err)
			}
			cancel()
		}
		c.Kill()
	}
	p.watchers.Wait()
	p.log.Info("plugin stopped")
}

// Kill terminates the process without restart bookkeeping (tests use it
// to simulate a crash through the OS instead).
func (p *Plugin) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		return 0
	}
	return p.client.Pid()
}

// connect returns the live connection, waiting (within ctx) for a restart
// in progress.
func (p *Plugin) connect(ctx context.Context) (*protocol.Conn, int, error) {
	for {
		p.mu.Lock()
		if p.stopping {
			p.mu.Unlock()
			return nil, 0, fmt.Errorf("%w: plugin %s is stopping", ErrUnavailable, p.spec.Name)
		}
		if p.up {
			conn, gen := p.conn, p.gen
			p.mu.Unlock()
			return conn, gen, nil
		}
		ready, last := p.ready, p.lastErr
		p.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("%w: plugin %s is down (%s)", ErrUnavailable, p.spec.Name, last)
		}
	}
}

// classify maps gRPC failures to the host's typed errors.
func (p *Plugin) classify(method string, gen int, err error) error {
	if err == nil {
		return nil
	}
	switch status.Code(err) {
	case codes.Unimplemented:
		return &CallError{Plugin: p.spec.Name, Method: method, Err: fmt.Errorf("%w: %v", ErrUnimplemented, status.Convert(err).Message())}
	case codes.Unavailable:
		return &CallError{Plugin: p.spec.Name, Method: method, Err: fmt.Errorf("%w: %v", ErrUnavailable, status.Convert(err).Message())}
	case codes.Canceled:
		p.mu.Lock()
		crashed := p.gen != gen || !p.up
		p.mu.Unlock()
		if crashed {
			return &CallError{Plugin: p.spec.Name, Method: method, Err: fmt.Errorf("%w: process exited during the call", ErrUnavailable)}
		}
	}
	return &CallError{Plugin: p.spec.Name, Method: method, Err: err}
}

// callIdempotent runs a unary call that is safe to repeat: if the plugin
// died under it, it waits for the restart and tries once more. Order pushes
// never go through here.
func callIdempotent[T any](ctx context.Context, p *Plugin, method string, call func(context.Context, *protocol.Conn) (T, error)) (T, error) {
	var zero T
	for attempt := 0; ; attempt++ {
		conn, gen, err := p.connect(ctx)
		if err != nil {
			return zero, &CallError{Plugin: p.spec.Name, Method: method, Err: err}
		}
		cctx, cancel := context.WithTimeout(ctx, p.spec.CallTimeout)
		out, err := call(cctx, conn)
		cancel()
		if err == nil {
			return out, nil
		}
		cerr := p.classify(method, gen, err)
		if attempt == 0 && errors.Is(cerr, ErrUnavailable) && ctx.Err() == nil {
			p.log.Warn("plugin call failed; retrying once after restart", "method", method, "err", err)
			p.awaitRestart(ctx, gen)
			continue
		}
		return zero, cerr
	}
}

// awaitRestart is called after a call on generation gen failed as
// unavailable. The process may be dying but not yet reaped, and retrying at
// once would hit the same dead socket; so wait (within ctx) until a newer
// generation is up. If the process is still alive after a short grace, the
// failure was something else and the retry goes ahead on the same process.
func (p *Plugin) awaitRestart(ctx context.Context, gen int) {
	grace := time.Now().Add(500 * time.Millisecond)
	for {
		p.mu.Lock()
		restarted := p.gen != gen && p.up
		alive := p.gen == gen && p.up && p.client != nil && !p.client.Exited()
		p.mu.Unlock()
		if restarted || (alive && time.Now().After(grace)) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// callOnce runs a unary call exactly once.
func callOnce[T any](ctx context.Context, p *Plugin, method string, call func(context.Context, *protocol.Conn) (T, error)) (T, error) {
	var zero T
	conn, gen, err := p.connect(ctx)
	if err != nil {
		return zero, &CallError{Plugin: p.spec.Name, Method: method, Err: err}
	}
	cctx, cancel := context.WithTimeout(ctx, p.spec.CallTimeout)
	defer cancel()
	out, err := call(cctx, conn)
	if err != nil {
		return zero, p.classify(method, gen, err)
	}
	return out, nil
}
