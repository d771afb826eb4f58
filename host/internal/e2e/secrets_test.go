package e2e

// No secret ever reaches a log line: a host logging JSON at debug level
// runs every flow that touches a secret (feed syncs against the emulator
// with its API key, signed hooks, signed webhooks, payment, fulfilment,
// refunds, a config reload that changes a plugin's secret environment, bad
// signatures, a request carrying card numbers), and then every line the
// host and its plugins wrote, and every line the CLI printed, is searched
// for the secrets and for anything shaped like one.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/daemon"
)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// secretsDatabase returns a fresh database on ACS_TEST_POSTGRES_DSN's
// server, reached with a DSN that carries a password, and the password.
// ("", "") when there is no server; with ACS_REQUIRE_POSTGRES=1 that fails.
func secretsDatabase(t *testing.T) (dsn, password string) {
	t.Helper()
	admin := os.Getenv("ACS_TEST_POSTGRES_DSN")
	if admin == "" {
		if os.Getenv("ACS_REQUIRE_POSTGRES") == "1" {
			t.Fatal("ACS_REQUIRE_POSTGRES=1 but ACS_TEST_POSTGRES_DSN is empty")
		}
		return "", ""
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("ACS_TEST_POSTGRES_DSN must be a postgres:// URL: %q", admin)
	}
	if u, err = url.Parse(freshDatabase(t)); err != nil {
		t.Fatal(err)
	}
	// The throwaway server trusts loopback connections, so any password
	// is accepted; a real one would check it. Either way it is a secret.
	password = "PgPass" + randHex(8)
	user := "postgres"
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, password)
	return u.String(), password
}

// leakRule is one thing that must not be in a log line.
type leakRule struct {
	name string
	find func(line string) string // the leaked text, "" if none
}

func literalRule(name, secret string) leakRule {
	return leakRule{name, func(line string) string {
		if secret != "" && strings.Contains(line, secret) {
			return secret
		}
		return ""
	}}
}

func regexpRule(name, pattern string) leakRule {
	re := regexp.MustCompile(pattern)
	return leakRule{name, func(line string) string { return re.FindString(line) }}
}

// panRE finds runs of 13 to 19 digits, optionally grouped by single spaces
// or hyphens, that are not part of a longer word or number.
var panRE = regexp.MustCompile(`(?:^|[^0-9A-Za-z_.])((?:\d[ -]?){12,18}\d)(?:$|[^0-9A-Za-z_])`)

// luhn reports whether digits pass the card number checksum.
func luhn(digits string) bool {
	sum, double := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// cardRule finds card numbers: Luhn-valid, 13 to 19 digits, with a card
// network's leading digit. last4 alone is fine.
var cardRule = leakRule{"card number", func(line string) string {
	for _, m := range panRE.FindAllStringSubmatch(line, -1) {
		d := strings.NewReplacer(" ", "", "-", "").Replace(m[1])
		if len(d) >= 13 && len(d) <= 19 && strings.ContainsAny(d[:1], "23456") && luhn(d) {
			return m[1]
		}
	}
	return ""
}}

// scanLines checks every line against every rule, raw and (for JSON lines)
// with every string value decoded, so an escaped secret is found too.
func scanLines(t *testing.T, source, text string, rules []leakRule) int {
	t.Helper()
	leaks := 0
	for i, line := range lines(text) {
		views := []string{line}
		var v any
		if json.Unmarshal([]byte(line), &v) == nil {
			views = append(views, strings.Join(jsonStrings(v, nil), "\n"))
		}
		for _, r := range rules {
			for _, view := range views {
				if hit := r.find(view); hit != "" {
					leaks++
					if leaks <= 20 {
						shown := line
						if len(shown) > 400 {
							at := strings.Index(shown, hit)
							shown = "..." + shown[max(0, at-150):min(len(shown), at+len(hit)+150)] + "..."
						}
						t.Errorf("%s line %d leaks a %s (%q):\n  %s", source, i+1, r.name, hit, shown)
					}
					break
				}
			}
		}
	}
	return leaks
}

func jsonStrings(v any, out []string) []string {
	switch x := v.(type) {
	case string:
		out = append(out, x)
	case []any:
		for _, e := range x {
			out = jsonStrings(e, out)
		}
	case map[string]any:
		for k, e := range x {
			out = append(out, k)
			out = jsonStrings(e, out)
		}
	}
	return out
}

// signHeader is a Stripe-Signature header for body under secret.
func signHeader(secret string, body []byte) string {
	ts := fmt.Sprint(time.Now().Unix())
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

func postWithSignature(t *testing.T, url, header string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", header)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func secretsConfig(addr, stateDir, driver, dsn, catalog, hookSecret, webhookSecret, pluginEnv, hookPlugin string) string {
	state := fmt.Sprintf("  dir: %s\n", stateDir)
	if driver != "" {
		state += fmt.Sprintf("  driver: %s\n  dsn: %q\n", driver, dsn)
	}
	return fmt.Sprintf(`version: 1
stripe:
  hook_secret: %s
  webhook_secret: %s
  emulator: {delay: 50ms}
server:
  listen: %s
  shutdown_timeout: 10s
state:
%slog: {level: debug, format: json}
plugins:
  catalog:
    path: %s
    config:
      dir: %s
      outbox: %s
      inbox: %s
      reject_unknown_skus: true
      shipping_options:
        - {id: standard, name: Standard shipping, amount: "5.00", currency: USD, countries: [US], min_days: 3, max_days: 5}
      tax_rates:
        - {country: US, state: IL, name: IL sales tax, percentage: 6.25}
  probe:
    path: %s
    env: {ACS_E2E_PLUGIN_TOKEN: %s}
    config: {}
jobs:
  catalog: {type: catalog, plugin: catalog, schedule: "@every 1h", run_at_start: true}
  inventory: {type: inventory, plugin: catalog, schedule: "@every 1h", run_at_start: true}
  prices: {type: price, plugin: catalog, schedule: "@every 1h", run_at_start: true}
  updates: {type: order_updates, plugin: catalog, schedule: "@every 1s"}
hooks:
  plugin: %s
fulfillment:
  plugin: catalog
`, hookSecret, webhookSecret, addr, state, filepath.Join(binDir, "acs-plugin-csvdir"), catalog,
		filepath.Join(catalog, "outbox"), filepath.Join(catalog, "inbox"), filepath.Join(binDir, "testplugin"), pluginEnv, hookPlugin)
}

func TestNoSecretInAnyLogLine(t *testing.T) {
	start := time.Now()
	dir := t.TempDir()
	addr := freePort(t)
	catalog := sampleCatalog(t, dir)
	stateDir := filepath.Join(dir, "state")
	hookS := "whsec_" + randHex(16)
	webhookS := "whsec_" + randHex(16)
	pluginS1 := "plugin-token-" + randHex(12)
	pluginS2 := "plugin-token-" + randHex(12)
	driver, dsn := "", ""
	pgDSN, pgPassword := secretsDatabase(t)
	if pgDSN != "" {
		driver, dsn = "postgres", pgDSN
	} else {
		t.Log("ACS_TEST_POSTGRES_DSN is not set: the state store is SQLite, so no DSN password is checked")
	}
	var cliOut strings.Builder
	var headers []string // every Stripe-Signature value this test sent

	cfg := secretsConfig(addr, stateDir, driver, dsn, catalog, hookS, webhookS, pluginS1, "catalog")
	h := startHost(t, cfg)
	h.addr = addr
	h.expectNotify("READY=1", 60*time.Second)
	cfgFile, err := config.Load(h.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	emu, err := daemon.ReadEmulatorInfo(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(emu.APIKey, "sk_test_") || emu.WebhookSecret != webhookS || emu.HookSecret != hookS {
		t.Fatalf("emulator.json: %+v", emu)
	}

	// 1. Catalog, inventory and price syncs, tracked until Stripe imported them.
	waitFor(t, 30*time.Second, "the three feed jobs and their imports", func() bool {
		var rz struct {
			Jobs map[string]struct {
				LastOutcome string `json:"last_outcome"`
			} `json:"jobs"`
		}
		if json.Unmarshal([]byte(h.get("/readyz")), &rz) != nil {
			return false
		}
		for _, j := range []string{"catalog", "inventory", "prices"} {
			if rz.Jobs[j].LastOutcome != "ok" {
				return false
			}
		}
		return !strings.Contains(h.get("/"), "Import in progress")
	})

	// 2. A checkout: signed customize and finalize hooks, payment,
	// signed webhook, fulfilment.
	out, errOut, err := cli(t, 40*time.Second, nil, "simulate", "checkout", "--config", h.cfgPath, "--sku", "HP-MUG-BLU", "--qty", "1")
	cliOut.WriteString(out + errOut)
	if err != nil || !strings.Contains(out, "final order state: accepted") {
		t.Fatalf("simulate checkout: %v\n%s%s", err, out, errOut)
	}
	okSession := sessionRE.FindStringSubmatch(out)[1]

	// 3. The backend cancels it: the order update refunds it.
	upd, _ := json.Marshal(map[string]any{"id": "e2e-cancel-1", "checkout_session_id": okSession, "kind": "cancelled", "reason": "out of stock in the warehouse"})
	tmp := filepath.Join(catalog, "inbox", ".e2e-cancel-1.json.tmp")
	if err := os.WriteFile(tmp, upd, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(catalog, "inbox", "e2e-cancel-1.json")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the cancelled order's refund", func() bool {
		return strings.Count(h.get("/"), "Refunded in full") == 1
	})

	// 4. Rejected reloads whose config errors quote a secret pasted into
	// the wrong field: a signing secret the host has never seen (found by
	// its shape) and the plugin's secret (known from the running config).
	strayS := "whsec_" + randHex(16)
	for i, broken := range []string{
		strings.Replace(cfg, "hooks:\n", "hooks:\n  deadline: "+strayS+"\n", 1),
		strings.Replace(cfg, "hooks:\n", "hooks:\n  deadline: "+pluginS1+"\n", 1),
	} {
		if err := os.WriteFile(h.cfgPath, []byte(broken), 0o600); err != nil {
			t.Fatal(err)
		}
		h.signal(syscall.SIGHUP)
		h.expectNotify("RELOADING=1", 10*time.Second)
		h.expectNotify("READY=1", 30*time.Second)
		waitFor(t, 5*time.Second, "the broken reload to be rejected", func() bool {
			return strings.Count(h.logs.String(), `"msg":"config reload rejected`) == i+1
		})
	}
	for _, l := range lines(h.logs.String()) {
		if strings.Contains(l, `"msg":"config reload rejected`) && !strings.Contains(l, "[REDACTED]") {
			t.Errorf("the config error should quote the value, redacted: %s", l)
		}
	}

	// 5. A config reload that gives the probe plugin a new secret and makes
	// it answer hooks.
	next := secretsConfig(addr, stateDir, driver, dsn, catalog, hookS, webhookS, pluginS2, "probe")
	if err := os.WriteFile(h.cfgPath, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	h.signal(syscall.SIGHUP)
	h.expectNotify("RELOADING=1", 10*time.Second)
	h.expectNotify("READY=1", 30*time.Second)
	waitFor(t, 5*time.Second, "the reload to be applied", func() bool {
		return strings.Contains(h.logs.String(), `"msg":"config reloaded"`)
	})
	// The probe plugin reports its environment variable as the reason of
	// an availability answer: the secret travels plugin -> host -> answer.
	body := finalizeBody("fc_e2e_env_probe", "ENV:ACS_E2E_PLUGIN_TOKEN", 1)
	hdr := signHeader(hookS, body)
	headers = append(headers, hdr)
	if code, ans := postWithSignature(t, h.url("/hooks"), hdr, body); code != 200 || !strings.Contains(ans, pluginS2) {
		t.Fatalf("the probe plugin must have received its new secret (HTTP %d): %s", code, ans)
	}

	// 6. An order the backend rejects (the probe approves anything): refunded.
	out, errOut, err = cli(t, 40*time.Second, nil, "simulate", "checkout", "--config", h.cfgPath, "--sku", "E2E-NOT-SOLD", "--qty", "1")
	cliOut.WriteString(out + errOut)
	if err != nil || !strings.Contains(out, "final order state: rejected") {
		t.Fatalf("simulate checkout of an unknown SKU: %v\n%s%s", err, out, errOut)
	}
	waitFor(t, 20*time.Second, "the rejected order's refund", func() bool {
		return strings.Count(h.get("/"), "Refunded in full") == 2
	})

	// 7. Bad signatures, with card numbers in the bodies, on both
	// endpoints; and a correctly signed hook whose body is not one.
	pans := []string{"4242 4242 4242 4242", "4000056655665556", "5555-5555-5555-4444"}
	junk := []byte(fmt.Sprintf(`{"type":"v1.delegated_checkout.finalize_checkout","id":"fc_bad","data":{"card_number":%q,"note":"pan %s"}}`, pans[0], pans[1]))
	for _, c := range []struct{ path, secret string }{
		{"/hooks", "whsec_wrong" + randHex(8)}, {"/webhooks", "whsec_wrong" + randHex(8)}, {"/hooks", webhookS}, {"/webhooks", hookS},
	} {
		hdr := signHeader(c.secret, junk)
		headers = append(headers, hdr)
		if code, ans := postWithSignature(t, h.url(c.path), hdr, junk); code < 400 || code >= 500 {
			t.Errorf("POST %s with a bad signature: HTTP %d %s", c.path, code, ans)
		}
	}
	bad := []byte(fmt.Sprintf(`{"type":"v1.delegated_checkout.no_such_hook","id":"x","data":{"card":{"number":%q}}, "oops": %q`, pans[2], pans[0]))
	hdr = signHeader(hookS, bad)
	headers = append(headers, hdr)
	if code, _ := postWithSignature(t, h.url("/hooks"), hdr, bad); code < 400 {
		t.Errorf("a malformed hook body got HTTP %d", code)
	}
	hdr = signHeader(webhookS, bad)
	headers = append(headers, hdr)
	if code, _ := postWithSignature(t, h.url("/webhooks"), hdr, bad); code < 400 {
		t.Errorf("a malformed webhook body got HTTP %d", code)
	}

	// 8. Stop, so shutdown lines are in too.
	h.signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("host did not stop")
	}

	logs := h.logs.String()
	if n := len(lines(logs)); n < 100 || !strings.Contains(logs, `"level":"DEBUG"`) || !strings.Contains(logs, `"plugin":"catalog"`) {
		t.Fatalf("expected a debug log with plugin lines, got %d lines", n)
	}
	rules := []leakRule{
		literalRule("hook secret", hookS),
		literalRule("webhook secret", webhookS),
		literalRule("hook secret's random part", strings.TrimPrefix(hookS, "whsec_")),
		literalRule("webhook secret's random part", strings.TrimPrefix(webhookS, "whsec_")),
		literalRule("emulator API key", emu.APIKey),
		literalRule("emulator API key's random part", emu.APIKey[strings.LastIndex(emu.APIKey, "_")+1:]),
		literalRule("plugin env secret", pluginS1),
		literalRule("stray signing secret", strayS),
		literalRule("plugin env secret (after reload)", pluginS2),
		regexpRule("Stripe secret or restricted key", `\b[sr]k_(test|live)_[A-Za-z0-9]`),
		regexpRule("signing secret", `\bwhsec_[A-Za-z0-9]`),
		regexpRule("Stripe-Signature value", `t=\d+,v[01]=[0-9a-fA-F]`),
		regexpRule("client secret", `_secret_[A-Za-z0-9]{6,}`),
		cardRule,
	}
	for _, hdr := range headers {
		rules = append(rules, literalRule("Stripe-Signature header", hdr), literalRule("signature", hdr[strings.Index(hdr, "v1=")+3:]))
	}
	for _, p := range pans {
		rules = append(rules, literalRule("card number", p))
	}
	if pgDSN != "" {
		rules = append(rules, literalRule("database password", pgPassword), literalRule("database DSN", pgDSN))
	}
	leaks := scanLines(t, "host/plugin log", logs, rules)
	leaks += scanLines(t, "CLI output", cliOut.String(), rules)
	if leaks > 20 {
		t.Errorf("... %d leaks in all", leaks)
	}
	// ACS_SECRETS_LOG=FILE keeps the scanned log, to see what redaction did.
	if p := os.Getenv("ACS_SECRETS_LOG"); p != "" {
		_ = os.WriteFile(p, []byte(logs), 0o600)
	}
	t.Logf("scanned %d log lines for %d rules in %s", len(lines(logs)), len(rules), time.Since(start).Round(100*time.Millisecond))
}

// A config error at start is the daemon's last word in the journal: a
// secret pasted into the wrong field must not be quoted there either.
func TestStartupConfigErrorIsRedacted(t *testing.T) {
	dir := t.TempDir()
	stray := "whsec_" + randHex(16)
	cfg := secretsConfig(freePort(t), filepath.Join(dir, "state"), "", "", sampleCatalog(t, dir),
		"whsec_"+randHex(16), "whsec_"+randHex(16), "x", "catalog")
	cfg = strings.Replace(cfg, "hooks:\n", "hooks:\n  deadline: "+stray+"\n", 1)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := cli(t, 30*time.Second, nil, "run", "--config", path)
	if err == nil {
		t.Fatalf("run with a broken config must fail:\n%s%s", out, errOut)
	}
	if !strings.Contains(errOut, "is not a duration") || !strings.Contains(errOut, "config.yaml:") {
		t.Errorf("the error must still say what is wrong and where:\n%s", errOut)
	}
	if strings.Contains(out+errOut, strings.TrimPrefix(stray, "whsec_")) {
		t.Errorf("the secret reached the service log:\n%s", errOut)
	}
}
