package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const base = `version: 1
stripe:
  secret_key: ${STRIPE_SECRET_KEY}
  hook_secret: ${STRIPE_HOOK_SECRET}
server:
  listen: ${ACS_LISTEN:-127.0.0.1:8080}
plugins:
  csv:
    path: bin/acs-plugin-csvdir
    config:
      dir: catalog
      columns: {id: sku}
jobs:
  catalog:
    type: catalog
    plugin: csv
    schedule: "*/5 * * * *"
hooks:
  plugin: csv
  max_quantity: ${MAXQ:-5}
  deadline: 3s
`

func TestParseExpandsEnvironment(t *testing.T) {
	cfg, err := Parse("/etc/acs/config.yaml", []byte(base), env(map[string]string{
		"STRIPE_SECRET_KEY":  "sk_test_123",
		"STRIPE_HOOK_SECRET": "whsec_a#b: c",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Stripe.SecretKey != "sk_test_123" {
		t.Errorf("secret key = %q", cfg.Stripe.SecretKey)
	}
	if cfg.Stripe.HookSecret != "whsec_a#b: c" {
		t.Errorf("a secret with YAML syntax in it must survive expansion, got %q", cfg.Stripe.HookSecret)
	}
	if cfg.Server.Listen != "127.0.0.1:8080" {
		t.Errorf("default not applied: %q", cfg.Server.Listen)
	}
	if cfg.Hooks.MaxQuantity != 5 {
		t.Errorf("${MAXQ:-5} should decode as an int, got %d", cfg.Hooks.MaxQuantity)
	}
	if cfg.Hooks.Deadline.Duration != 3*time.Second {
		t.Errorf("deadline = %v", cfg.Hooks.Deadline)
	}
	if got := cfg.Plugins["csv"].Path; got != "/etc/acs/bin/acs-plugin-csvdir" {
		t.Errorf("plugin path should resolve against the config dir, got %q", got)
	}
	if got := string(cfg.Plugins["csv"].PluginConfigJSON()); got != `{"columns":{"id":"sku"},"dir":"catalog"}` {
		t.Errorf("plugin config JSON = %s", got)
	}
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(string) string
		want   string
	}{
		{"unknown top-level key", func(s string) string { return s + "bogus: 1\n" }, "config.yaml:22: unknown key bogus"},
		{"unknown nested key", func(s string) string {
			return strings.Replace(s, "    schedule:", "    scheduel: x\n    schedule:", 1)
		}, "config.yaml:17: unknown key scheduel"},
		{"bad cron", func(s string) string { return strings.Replace(s, `"*/5 * * * *"`, `"61 * * * *"`, 1) }, "config.yaml:17: job \"catalog\": "},
		{"undefined plugin", func(s string) string { return strings.Replace(s, "    plugin: csv", "    plugin: nope", 1) }, "config.yaml:16: job \"catalog\" uses plugin \"nope\", which is not defined"},
		{"undefined hook plugin", func(s string) string { return strings.Replace(s, "  plugin: csv\n  max", "  plugin: gone\n  max", 1) }, "config.yaml:19: plugin \"gone\" is not defined"},
		{"bad duration", func(s string) string { return strings.Replace(s, "deadline: 3s", "deadline: soon", 1) }, "config.yaml:21: \"soon\" is not a duration"},
		{"deadline over Stripe's", func(s string) string { return strings.Replace(s, "deadline: 3s", "deadline: 5s", 1) }, "config.yaml:21: 5s is not under Stripe's 4s"},
		{"missing version", func(s string) string { return strings.Replace(s, "version: 1\n", "", 1) }, "missing top-level `version: 1`"},
		{"newer version", func(s string) string { return strings.Replace(s, "version: 1", "version: 2", 1) }, "config.yaml:1: config version 2 is not supported"},
		{"unknown job type", func(s string) string { return strings.Replace(s, "type: catalog", "type: catalogue", 1) }, "config.yaml:15: job \"catalog\" has unknown type \"catalogue\""},
		{"required env", func(s string) string { return strings.Replace(s, "${STRIPE_SECRET_KEY}", "${NOPE:?must be set}", 1) }, "config.yaml:3: environment variable NOPE must be set"},
		{"bad yaml", func(s string) string { return s + "  - [\n" }, "config.yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("/x/config.yaml", []byte(c.mutate(base)), env(nil))
			if err == nil {
				t.Fatal("expected an error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestParseSchedulePanicsBecomeErrors(t *testing.T) {
	for _, spec := range []string{"TZ=0", "CRON_TZ=nowhere 0 0 * * *", "", "@every -1s"} {
		if _, err := ParseSchedule(spec); err == nil {
			t.Errorf("%q should be rejected", spec)
		}
	}
	for _, spec := range []string{"*/15 * * * *", "0 */15 * * * *", "@every 1s", "@daily", "CRON_TZ=Europe/Berlin 0 3 * * *"} {
		if _, err := ParseSchedule(spec); err != nil {
			t.Errorf("%q should parse: %v", spec, err)
		}
	}
}

func TestRequiredCapabilities(t *testing.T) {
	cfg, err := Parse("/x/config.yaml", []byte(base), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	need := cfg.RequiredCapabilities()
	if need["csv"]["catalog"] != "/x/config.yaml:16" {
		t.Errorf("catalog job should require catalog at its plugin line: %v", need)
	}
	if need["csv"]["availability"] != "/x/config.yaml:19" {
		t.Errorf("hooks should require availability: %v", need)
	}
}

func TestRetentionPeriods(t *testing.T) {
	cfg, err := Parse("/x/config.yaml", []byte(base+"state:\n  retention:\n    hooks: 7d\n    runs: forever\n    upload_errors: 36h\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.State.Retention
	if got := r.Hooks.Or(time.Hour); got != 7*24*time.Hour {
		t.Errorf("hooks = %v", got)
	}
	if got := r.Runs.Or(time.Hour); got != 0 {
		t.Errorf("runs forever = %v, want 0", got)
	}
	if got := r.UploadErrors.Or(time.Hour); got != 36*time.Hour {
		t.Errorf("upload_errors = %v", got)
	}
	cfg, err = Parse("/x/config.yaml", []byte(base), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.State.Retention.Hooks.Or(time.Hour); got != time.Hour {
		t.Errorf("unset = %v, want the default", got)
	}
	for _, bad := range []string{"0d", "-3d", "soon", "0s", "1.5d"} {
		_, err := Parse("/x/config.yaml", []byte(base+"state:\n  retention:\n    hooks: "+bad+"\n"), env(nil))
		if err == nil || !strings.Contains(err.Error(), "config.yaml:24") || !strings.Contains(err.Error(), "not a retention period") {
			t.Errorf("%q: error %v, want one naming config.yaml:24", bad, err)
		}
	}
}

func TestMaxDeletionsLimit(t *testing.T) {
	parse := func(v string) (Limit, error) {
		cfg, err := Parse("/x/config.yaml", []byte(strings.Replace(base, `    schedule: "*/5 * * * *"`, `    schedule: "*/5 * * * *"`+"\n    max_deletions: "+v, 1)), env(nil))
		if err != nil {
			return Limit{}, err
		}
		return cfg.Jobs["catalog"].MaxDeletions, nil
	}
	for _, c := range []struct {
		v        string
		n, total int
		allows   bool
		str      string
	}{
		{"25%", 25, 100, true, "25%"},
		{"25%", 26, 100, false, "25%"},
		{"0%", 1, 100, false, "0%"},
		{"500", 500, 600, true, "500"},
		{"500", 501, 100000, false, "500"},
		{"off", 100, 100, true, "off"},
	} {
		l, err := parse(c.v)
		if err != nil {
			t.Fatalf("%s: %v", c.v, err)
		}
		if l.Allows(c.n, c.total) != c.allows || l.String() != c.str {
			t.Errorf("%s: Allows(%d, %d) = %v, String %q", c.v, c.n, c.total, l.Allows(c.n, c.total), l.String())
		}
	}
	if l, _ := parse("off"); !l.Off() {
		t.Error("off is not Off")
	}
	if l, _ := parse("0"); l.Off() {
		t.Error("a count of 0 is Off")
	}
	def := PercentLimit(25, 10)
	if l, _ := parse(""); l.Or(def).String() != "25% or 10, whichever is more" {
		t.Error("unset limit does not take the default")
	}
	if !def.Allows(10, 11) || def.Allows(11, 40) || !def.Allows(25, 100) || def.Allows(26, 100) {
		t.Error("the default's floor or share is wrong")
	}
	for _, bad := range []string{"-1", "120%", "lots", "1.5"} {
		if _, err := parse(bad); err == nil || !strings.Contains(err.Error(), "config.yaml:18") || !strings.Contains(err.Error(), "not a limit") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
