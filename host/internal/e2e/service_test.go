package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNotifyProtocol(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	h := startHost(t, baseConfig(addr, filepath.Join(dir, "state"), sampleCatalog(t, dir), "catalog"))
	h.addr = addr

	h.expectNotify("READY=1", 60*time.Second)
	// READY means the listener is up: the very next request must work.
	resp, err := http.Get(h.url("/healthz"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("READY was sent before the listener answered: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, err := http.Get(h.url("/readyz")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz after READY: %v %v", resp, err)
	}

	h.signal(syscall.SIGHUP)
	msg := h.expectNotify("RELOADING=1", 10*time.Second)
	if !strings.Contains(msg, "MONOTONIC_USEC=") {
		t.Errorf("RELOADING must carry MONOTONIC_USEC for Type=notify-reload: %q", msg)
	}
	h.expectNotify("READY=1", 30*time.Second)

	h.signal(syscall.SIGTERM)
	h.expectNotify("STOPPING=1", 10*time.Second)
	select {
	case err := <-h.exited:
		if err != nil {
			t.Errorf("graceful stop should exit 0: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("host did not exit after SIGTERM")
	}
}

func TestReloadWithBrokenConfigKeepsServing(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	cfg := baseConfig(addr, filepath.Join(dir, "state"), sampleCatalog(t, dir), "slow")
	h := startHost(t, cfg)
	h.addr = addr
	h.expectNotify("READY=1", 60*time.Second)

	rejected := 0
	for name, broken := range map[string]string{
		"bad cron":       strings.Replace(cfg, `"@every 1h", run_at_start`, `"61 * * * *", run_at_start`, 1),
		"bad yaml":       cfg + "  - [\n",
		"missing plugin": strings.Replace(cfg, "testplugin", "no-such-plugin", 1),
	} {
		if err := os.WriteFile(h.cfgPath, []byte(broken), 0o600); err != nil {
			t.Fatal(err)
		}
		h.signal(syscall.SIGHUP)
		h.expectNotify("RELOADING=1", 10*time.Second)
		h.expectNotify("READY=1", 30*time.Second)
		// The log travels through a pipe and may trail the notify datagram.
		logged := false
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if strings.Count(h.logs.String(), "config reload rejected") > rejected {
				logged = true
				break
			}
		}
		if !logged {
			t.Fatalf("%s: the rejected reload must be logged", name)
		}
		rejected++
		// The old config still answers hooks...
		resp, body, err := signedPost(h.url("/hooks"), hookSecret, finalizeBody("fc_"+strings.ReplaceAll(name, " ", "_"), "FAST-1", 1), 5*time.Second)
		if err != nil || resp.StatusCode != 200 || !strings.Contains(string(body), `"approved"`) {
			t.Fatalf("%s: hooks must keep working on the old config: %v %s %v", name, resp, body, err)
		}
		// ...and still has its jobs.
		r, err := http.Get(h.url("/readyz"))
		if err != nil {
			t.Fatal(err)
		}
		var rz struct {
			Jobs map[string]any `json:"jobs"`
		}
		_ = json.NewDecoder(r.Body).Decode(&rz)
		r.Body.Close()
		if _, ok := rz.Jobs["catalog"]; !ok || len(rz.Jobs) != 2 {
			t.Fatalf("%s: jobs of the old config must stay scheduled: %v", name, rz.Jobs)
		}
	}
}

func TestSIGTERMWithHookInFlight(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	h := startHost(t, baseConfig(addr, filepath.Join(dir, "state"), sampleCatalog(t, dir), "slow"))
	h.addr = addr
	h.expectNotify("READY=1", 60*time.Second)

	type answer struct {
		status int
		body   string
		err    error
	}
	done := make(chan answer, 1)
	start := time.Now()
	go func() {
		// SLOW makes the test plugin sit on the call; the host answers by
		// policy at its 3s deadline.
		resp, body, err := signedPost(h.url("/hooks"), hookSecret, finalizeBody("fc_inflight", "SLOW", 1), 10*time.Second)
		a := answer{body: string(body), err: err}
		if resp != nil {
			a.status = resp.StatusCode
		}
		done <- a
	}()
	time.Sleep(500 * time.Millisecond)
	h.signal(syscall.SIGTERM)
	h.expectNotify("STOPPING=1", 5*time.Second)
	a := <-done
	if a.err != nil || a.status != 200 || !strings.Contains(a.body, "manual_approval_details") {
		t.Fatalf("the in-flight hook must get its answer before the host exits: %+v", a)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the answer took %s; Stripe gives up at 4s", d)
	}
	select {
	case err := <-h.exited:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("host did not exit")
	}
}
