package pluginmgr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
	"github.com/acs-connector/acs-connector/proto/protocol"
)

var binDir string

// TestMain builds real plugin binaries: the manager is tested through the
// same subprocess path production uses.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pluginmgr-test")
	if err != nil {
		panic(err)
	}
	binDir = dir
	root := "../../.."
	for name, pkg := range map[string]string{
		"testplugin":   "./sdk/internal/testplugin",
		"futureplugin": "./proto/protocol/internal/futureplugin",
		"hello":        "./sdk/examples/hello",
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	lf := &LockFile{Version: 1, Plugins: map[string]LockEntry{}}
	for _, name := range []string{"testplugin", "futureplugin", "hello"} {
		sum, err := FileSHA256(filepath.Join(dir, name))
		if err != nil {
			panic(err)
		}
		lf.Plugins[name] = LockEntry{Name: name, SHA256: sum, InstalledAt: time.Now()}
	}
	if err := lf.Write(dir); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newManager(t *testing.T) (*Manager, *syncBuffer) {
	logs := &syncBuffer{}
	m := New(Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), HostVersion: "test"})
	t.Cleanup(func() { m.Stop(context.Background()) })
	return m, logs
}

func spec(name, config string) Spec {
	return Spec{Name: name, Path: filepath.Join(binDir, name), ConfigJSON: []byte(config), ConfigSource: "test.yaml:1",
		MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, CallTimeout: 5 * time.Second}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPluginKilledMidStreamIsRestarted(t *testing.T) {
	m, logs := newManager(t)
	if err := m.Start(context.Background(), []Spec{spec("testplugin", `{"records":200000,"batch_delay":"5ms"}`)}); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Get("testplugin")
	st, err := p.Read(context.Background(), ReadCatalog, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Next(); err != nil {
		t.Fatalf("first batch: %v", err)
	}
	pid := p.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var streamErr error
	for streamErr == nil {
		_, streamErr = st.Next()
	}
	if !errors.Is(streamErr, ErrUnavailable) {
		t.Fatalf("stream error should be ErrUnavailable, got %v", streamErr)
	}
	var ce *CallError
	if !errors.As(streamErr, &ce) || ce.Method != "ReadCatalog" || ce.Plugin != "testplugin" {
		t.Errorf("stream error should name plugin and method: %v", streamErr)
	}
	waitFor(t, "restart", func() bool { s := p.Status(); return s.Up && s.Restarts == 1 })
	if p.Pid() == pid {
		t.Error("restarted plugin has the old pid")
	}
	if !strings.Contains(logs.String(), "plugin process exited unexpectedly") {
		t.Errorf("the crash should be logged; logs:\n%s", logs)
	}
	// The next call works, including a fresh stream.
	resp, err := p.CheckAvailability(context.Background(), &pb.CheckAvailabilityRequest{Items: []*pb.LineItem{{Sku: "A", Quantity: 1}}})
	if err != nil || len(resp.GetItems()) != 1 {
		t.Fatalf("call after restart: %v %v", resp, err)
	}
}

func TestIdempotentCallWaitsForRestart(t *testing.T) {
	m, _ := newManager(t)
	if err := m.Start(context.Background(), []Spec{spec("testplugin", `{}`)}); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Get("testplugin")
	_ = syscall.Kill(p.Pid(), syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.CheckAvailability(ctx, &pb.CheckAvailabilityRequest{Items: []*pb.LineItem{{Sku: "A", Quantity: 1}}}); err != nil {
		t.Fatalf("an idempotent call across a crash should succeed after the restart: %v", err)
	}
}

func TestPluginDownFailsFastWithinDeadline(t *testing.T) {
	m, _ := newManager(t)
	s := spec("testplugin", `{}`)
	s.MinBackoff = 5 * time.Second
	if err := m.Start(context.Background(), []Spec{s}); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Get("testplugin")
	_ = syscall.Kill(p.Pid(), syscall.SIGKILL)
	waitFor(t, "down", func() bool { return !p.Status().Up })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.PushOrder(ctx, &pb.PushOrderRequest{IdempotencyKey: "cs_1"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a call to a down plugin took %v; it must respect the caller's deadline", d)
	}
}

func TestChecksumMismatchRefused(t *testing.T) {
	m, _ := newManager(t)
	s := spec("testplugin", `{}`)
	s.SHA256 = strings.Repeat("ab", 32)
	s.SHA256Source = "config.yaml:7"
	err := m.Start(context.Background(), []Spec{s})
	var ce *ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("want ChecksumError, got %v", err)
	}
	actual, _ := FileSHA256(s.Path)
	for _, want := range []string{s.Path, actual, strings.Repeat("ab", 32), "config.yaml:7"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error should contain %q: %v", want, err)
		}
	}
	if _, ok := m.Get("testplugin"); ok {
		t.Error("a refused plugin must not be registered")
	}
}

func TestLockFileMismatchRefused(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "testplugin")
	data, _ := os.ReadFile(filepath.Join(binDir, "testplugin"))
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	lf := &LockFile{Version: 1, Plugins: map[string]LockEntry{"testplugin": {SHA256: strings.Repeat("0", 64)}}}
	if err := lf.Write(dir); err != nil {
		t.Fatal(err)
	}
	m, _ := newManager(t)
	s := spec("testplugin", `{}`)
	s.Path = bin
	err := m.Start(context.Background(), []Spec{s})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, LockFileName)) || !strings.Contains(err.Error(), strings.Repeat("0", 64)) {
		t.Fatalf("want a lock-file mismatch naming the lock file and hash, got %v", err)
	}
	os.Remove(filepath.Join(dir, LockFileName))
	err = m.Start(context.Background(), []Spec{s})
	if err == nil || !strings.Contains(err.Error(), "not pinned") {
		t.Fatalf("an unpinned binary must be refused, got %v", err)
	}
}

func TestNewerProtocolPluginGetsSkewError(t *testing.T) {
	m, _ := newManager(t)
	err := m.Start(context.Background(), []Spec{spec("futureplugin", `{}`)})
	var se *protocol.SkewError
	if !errors.As(err, &se) {
		t.Fatalf("want SkewError, got %v", err)
	}
	if !strings.Contains(err.Error(), "upgrade acs-connector") || !strings.Contains(err.Error(), "protocol v2") {
		t.Errorf("skew error should say which side to upgrade: %v", err)
	}
}

func TestOlderProtocolPluginIsToldToUpgrade(t *testing.T) {
	// A host that has moved on to v2 and v3 meets a v1-only plugin.
	m := New(Options{Versions: []int{2, 3}})
	t.Cleanup(func() { m.Stop(context.Background()) })
	err := m.Start(context.Background(), []Spec{spec("hello", `{}`)})
	if err == nil || !strings.Contains(err.Error(), "upgrade the plugin") {
		t.Fatalf("want an upgrade-the-plugin error, got %v", err)
	}
}

func TestSDKExamplePluginThroughSubprocess(t *testing.T) {
	m, logs := newManager(t)
	if err := m.Start(context.Background(), []Spec{spec("hello", `{}`)}); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Get("hello")
	info := p.Info()
	if info.Name != "hello" || !info.Has("catalog") || !info.Has("availability") || info.Has("fulfillment") || info.Protocol != 1 {
		t.Errorf("unexpected info %+v", info)
	}
	st, err := p.Read(context.Background(), ReadCatalog, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for {
		b, err := st.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n += int(b.GetPackedCount()) + len(b.GetRecords())
	}
	if n != 1 {
		t.Errorf("hello streams one record, got %d", n)
	}
	inv, err := p.Read(context.Background(), ReadInventory, "", 0)
	if err == nil {
		_, err = inv.Next()
	}
	if !errors.Is(err, ErrUnimplemented) {
		t.Errorf("a missing capability should be ErrUnimplemented, got %v", err)
	}
	_ = logs
}

func TestPluginLogsReachHostAtTheirLevel(t *testing.T) {
	m, logs := newManager(t)
	if err := m.Start(context.Background(), []Spec{spec("testplugin", `{"records":3}`)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "plugin log line", func() bool { return strings.Contains(logs.String(), "msg=configured") })
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "msg=configured") {
			if !strings.Contains(line, "level=INFO") || !strings.Contains(line, "plugin=testplugin") || !strings.Contains(line, "records=3") {
				t.Errorf("plugin log line should keep its level, attributes and plugin name: %s", line)
			}
		}
	}
}

func TestPanicInHandlerDoesNotKillPlugin(t *testing.T) {
	m, _ := newManager(t)
	if err := m.Start(context.Background(), []Spec{spec("testplugin", `{"panic_sku":"BOOM"}`)}); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Get("testplugin")
	_, err := p.CheckAvailability(context.Background(), &pb.CheckAvailabilityRequest{Items: []*pb.LineItem{{Sku: "BOOM", Quantity: 1}}})
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("want a panic error, got %v", err)
	}
	if _, err := p.CheckAvailability(context.Background(), &pb.CheckAvailabilityRequest{Items: []*pb.LineItem{{Sku: "OK", Quantity: 1}}}); err != nil {
		t.Fatalf("plugin should survive a handler panic: %v", err)
	}
	if s := p.Status(); s.Restarts != 0 || !s.Up {
		t.Errorf("a handler panic must not restart the plugin: %+v", s)
	}
}

func TestPluginEnvironmentIsAllowListed(t *testing.T) {
	t.Setenv("STRIPE_SECRET_KEY", "sk_test_must_not_leak")
	t.Setenv("NOTIFY_SOCKET", "/run/notify")
	m, _ := newManager(t)
	s := spec("testplugin", `{}`)
	s.Env = map[string]string{"BACKEND_TOKEN": "t0k"}
	if err := m.Start(context.Background(), []Spec{s}); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Get("testplugin")
	resp, err := p.CheckAvailability(context.Background(), &pb.CheckAvailabilityRequest{Items: []*pb.LineItem{
		{Sku: "ENV:STRIPE_SECRET_KEY"}, {Sku: "ENV:NOTIFY_SOCKET"}, {Sku: "ENV:BACKEND_TOKEN"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range resp.GetItems() {
		got[it.GetSku()] = it.GetReason()
	}
	if got["ENV:STRIPE_SECRET_KEY"] != "" || got["ENV:NOTIFY_SOCKET"] != "" {
		t.Errorf("host environment leaked into the plugin: %v", got)
	}
	if got["ENV:BACKEND_TOKEN"] != "t0k" {
		t.Errorf("configured env not passed: %v", got)
	}
}

func TestConfigureErrorsNameTheField(t *testing.T) {
	m, _ := newManager(t)
	err := m.Start(context.Background(), []Spec{spec("testplugin", `{"batch_delay":"soon","bogus":1}`)})
	if err == nil {
		t.Fatal("want a config error")
	}
	if !strings.Contains(err.Error(), "plugins.testplugin.config.bogus: unknown key") || !strings.Contains(err.Error(), "test.yaml:1") {
		t.Errorf("config errors should name the field and the config position: %v", err)
	}
}

func TestCheckCapabilities(t *testing.T) {
	m, _ := newManager(t)
	if err := m.Start(context.Background(), []Spec{spec("hello", `{}`)}); err != nil {
		t.Fatal(err)
	}
	err := m.CheckCapabilities(map[string]map[string]string{"hello": {"catalog": "c.yaml:3", "inventory": "c.yaml:9"}})
	if err == nil || !strings.Contains(err.Error(), "c.yaml:9: plugin \"hello\" (hello 0.1.0) has no inventory capability") {
		t.Fatalf("want a missing-capability error at the job's line, got %v", err)
	}
	if strings.Contains(err.Error(), "c.yaml:3") {
		t.Errorf("catalog is present and must not be reported: %v", err)
	}
}

func TestReplaceIsAllOrNothing(t *testing.T) {
	m, _ := newManager(t)
	if err := m.Start(context.Background(), []Spec{spec("testplugin", `{"records":1}`), spec("hello", `{}`)}); err != nil {
		t.Fatal(err)
	}
	tp, _ := m.Get("testplugin")
	pid := tp.Pid()

	// A broken config for one plugin: nothing changes.
	err := m.Replace(context.Background(), []Spec{spec("testplugin", `{"bogus":1}`)}, nil, nil)
	if err == nil {
		t.Fatal("want an error")
	}
	if p, _ := m.Get("testplugin"); p.Pid() != pid || !p.Status().Up {
		t.Fatal("a failed replace must leave the running plugin alone")
	}
	// A check that fails: nothing changes either.
	err = m.Replace(context.Background(), []Spec{spec("testplugin", `{"records":2}`)}, []string{"hello"}, func(infos map[string]Info) error {
		if _, ok := infos["hello"]; ok {
			t.Error("check should see hello as removed")
		}
		return errors.New("nope")
	})
	if err == nil || len(m.Names()) != 2 {
		t.Fatalf("a failed check must keep the old set: %v %v", err, m.Names())
	}
	// A good replace swaps the process and drops the removed plugin.
	if err := m.Replace(context.Background(), []Spec{spec("testplugin", `{"records":2}`)}, []string{"hello"}, nil); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Get("testplugin")
	if p.Pid() == pid || !p.Status().Up {
		t.Error("replace should run a new process")
	}
	if _, ok := m.Get("hello"); ok {
		t.Error("hello should be gone")
	}
}
