// Package e2e drives the real acs-connector binary and real plugin binaries
// as subprocesses, the way systemd and Stripe would.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/acs-connector/acs-connector/host/internal/testbin"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"
)

var (
	binDir  string
	repoDir string
)

func TestMain(m *testing.M) {
	repoDir = testbin.Root()
	testbin.Main(m, &binDir, map[string]string{
		"acs-connector":      "./host/cmd/acs-connector",
		"acs-plugin-csvdir":  "./plugins/csvdir",
		"testplugin":         "./sdk/internal/testplugin",
		"acs-plugin-shopify": "./plugins/shopify",
	})
}

// host is one running acs-connector process.
type host struct {
	t       *testing.T
	cmd     *exec.Cmd
	dir     string
	cfgPath string
	addr    string
	logs    *syncBuf
	notify  chan string
	exited  chan error
	secrets struct{ hook, webhook string }
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// sampleCatalog copies the repo's sample catalog into dir.
func sampleCatalog(t *testing.T, dir string) string {
	src := filepath.Join(repoDir, "configs", "sample-catalog")
	dst := filepath.Join(dir, "catalog")
	for _, sub := range []string{"", "outbox", "inbox"} {
		if err := os.MkdirAll(filepath.Join(dst, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"products.csv", "inventory.csv", "prices.csv"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

const hookSecret = "whsec_e2e_hook_secret_0123456789"
const webhookSecret = "whsec_e2e_webhook_secret_0123456789"

// baseConfig is a full host config on the emulator with the csvdir plugin
// and (optionally) the test plugin answering hooks.
func baseConfig(addr, stateDir, catalog, hookPlugin string) string {
	return fmt.Sprintf(`version: 1
stripe:
  hook_secret: %s
  webhook_secret: %s
  emulator: {delay: 50ms}
server:
  listen: %s
  shutdown_timeout: 20s
state:
  dir: %s
log: {level: debug, format: json}
plugins:
  catalog:
    path: %s
    restart: {min_delay: 100ms, max_delay: 1s}
    config:
      dir: %s
      outbox: %s
      inbox: %s
  slow:
    path: %s
    config: {slow_sku: SLOW}
jobs:
  catalog: {type: catalog, plugin: catalog, schedule: "@every 1h", run_at_start: true}
  inventory: {type: inventory, plugin: catalog, schedule: "@every 1h"}
hooks:
  plugin: %s
  deadline: 3s
fulfillment:
  plugin: catalog
`, hookSecret, webhookSecret, addr, stateDir, filepath.Join(binDir, "acs-plugin-csvdir"), catalog,
		filepath.Join(catalog, "outbox"), filepath.Join(catalog, "inbox"), filepath.Join(binDir, "testplugin"), hookPlugin)
}

// startHost runs the binary with NOTIFY_SOCKET pointing at a datagram
// socket this test reads, as systemd would.
func startHost(t *testing.T, config string) *host {
	t.Helper()
	dir := t.TempDir()
	h := &host{t: t, dir: dir, cfgPath: filepath.Join(dir, "config.yaml"), logs: &syncBuf{}, notify: make(chan string, 32), exited: make(chan error, 1)}
	if err := os.WriteFile(h.cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(h.notify)
				return
			}
			h.notify <- string(buf[:n])
		}
	}()
	h.cmd = exec.Command(filepath.Join(binDir, "acs-connector"), "run", "--config", h.cfgPath)
	h.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	h.cmd.Stdout = h.logs
	h.cmd.Stderr = h.logs
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.exited <- h.cmd.Wait(); conn.Close() }()
	t.Cleanup(func() {
		if h.cmd.ProcessState == nil {
			_ = h.cmd.Process.Signal(syscall.SIGKILL)
			<-h.exited
		}
		if t.Failed() {
			t.Logf("host log:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *host) expectNotify(prefix string, within time.Duration) string {
	h.t.Helper()
	select {
	case msg, ok := <-h.notify:
		if !ok {
			h.t.Fatalf("notify socket closed while waiting for %q", prefix)
		}
		if !strings.HasPrefix(msg, prefix) {
			h.t.Fatalf("notify: want %q, got %q", prefix, msg)
		}
		return msg
	case err := <-h.exited:
		h.t.Fatalf("host exited (%v) while waiting for %q", err, prefix)
	case <-time.After(within):
		h.t.Fatalf("no %q on the notify socket within %s", prefix, within)
	}
	return ""
}

func (h *host) signal(s os.Signal) {
	if err := h.cmd.Process.Signal(s); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) url(path string) string { return "http://" + h.addr + path }

// signedPost POSTs body to url signed as Stripe signs webhooks with secret,
// and returns the answer and its body.
//
// A request that fails on a reused keep-alive connection before any answer
// is sent once more, on a new connection: the server may close an idle
// connection just as the client picks it up, which Go's transport retries
// only for idempotent methods (Stripe retries a failed delivery anyway).
// A failure on a new connection is returned as it is.
func signedPost(url, secret string, body []byte, timeout time.Duration) (*http.Response, []byte, error) {
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret})
	var resp *http.Response
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		reused := false
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Stripe-Signature", sp.Header)
		client := &http.Client{Timeout: timeout}
		if attempt > 0 {
			tr := http.DefaultTransport.(*http.Transport).Clone() // no pooled connections
			defer tr.CloseIdleConnections()
			client.Transport = tr
		}
		resp, err = client.Do(req)
		if err == nil || !reused {
			break
		}
	}
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, data, err
}

func finalizeBody(id, sku string, qty int) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": "v1.delegated_checkout.finalize_checkout", "id": id, "livemode": false,
		"data": map[string]any{"currency": "usd", "amount_total": 1000,
			"line_items_details": []map[string]any{{"id": "li_1", "unit_amount": 1000, "quantity": qty, "name": sku, "sku_id": sku}},
			"shipping_details":   map[string]any{"address": map[string]any{"country": "US", "postal_code": "94107"}}},
	})
	return b
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// cli runs the acs-connector binary with args (a CLI command, not the
// daemon) and returns its stdout and stderr. env is added to the test's
// environment.
func cli(t *testing.T, timeout time.Duration, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "acs-connector"), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("acs-connector %s: no exit within %s: %w", strings.Join(args, " "), timeout, err)
	}
	return out.String(), errb.String(), err
}

// waitFor polls cond every 100ms until it holds or within has passed.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// get fetches a URL of the host and returns the body ("" on any error).
func (h *host) get(path string) string {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(h.url(path))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
