package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
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

// TestMetricsAfterSyncAndCheckout scrapes /metrics after a real sync and a
// simulated checkout and checks that the series an operator alerts on exist
// and moved.
func TestMetricsAfterSyncAndCheckout(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	h := startHost(t, baseConfig(addr, filepath.Join(dir, "state"), sampleCatalog(t, dir), "catalog"))
	h.addr = addr
	h.expectNotify("READY=1", 60*time.Second)
	out, err := exec.Command(filepath.Join(binDir, "acs-connector"), "simulate", "checkout", "--config", h.cfgPath, "--sku", "HP-MUG-BLU", "--qty", "1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "final order state: accepted") {
		t.Fatalf("simulate: %v\n%s", err, out)
	}
	var body string
	deadline := time.Now().Add(20 * time.Second)
	want := []string{
		`acs_plugin_up{plugin="catalog"} 1`,
		`acs_job_runs_total{job="catalog",outcome="ok"} 1`,
		`acs_job_last_success_timestamp_seconds{job="catalog"}`,
		`acs_job_duration_seconds_count{job="catalog"} 1`,
		`acs_hook_requests_total{code="200",type="finalize_checkout"} 1`,
		`acs_hook_requests_total{code="200",type="customize_checkout"} 1`,
		`acs_hook_decisions_total{decision="approved"`,
		`acs_hook_latency_seconds_count{type="finalize_checkout"} 1`,
		`acs_import_outcomes_total{job="catalog",status="succeeded"} 1`,
		`acs_feed_rows_total{job="catalog",result="invalid"} 2`,
		`acs_orders_total{event="fulfilled"} 1`,
		`acs_plugin_rpc_duration_seconds_count{code="OK",method="PushOrder",plugin="catalog"} 1`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	}
	for {
		resp, err := http.Get(h.url("/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		missing := 0
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, w := range want {
				if !strings.Contains(body, w) {
					t.Errorf("/metrics lacks %s", w)
				}
			}
			t.Logf("metrics:\n%s", grepLines(body, "acs_"))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range lines(s) {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
