package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/feed"
	"github.com/acs-connector/acs-connector/host/internal/logging"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
)

// EmulatorInfo is written to the state directory when the host runs on the
// embedded emulator, so `acs-connector simulate checkout` can play Stripe
// against it. Everything in it is a throwaway test credential.
type EmulatorInfo struct {
	URL           string `json:"url"`
	APIKey        string `json:"api_key"`
	WebhookSecret string `json:"webhook_secret"`
	HookSecret    string `json:"hook_secret"`
	HostURL       string `json:"host_url"`
}

// EmulatorInfoFile is where the info lives under state.dir.
const EmulatorInfoFile = "emulator.json"

// ReadEmulatorInfo reads the info a running host wrote.
func ReadEmulatorInfo(cfg *config.Config) (*EmulatorInfo, error) {
	data, err := os.ReadFile(filepath.Join(cfg.State.Dir, EmulatorInfoFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no %s in %s: is the host running on the embedded emulator (STRIPE_SECRET_KEY empty)?", EmulatorInfoFile, cfg.State.Dir)
	}
	if err != nil {
		return nil, err
	}
	var info EmulatorInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(cfg.State.Dir, EmulatorInfoFile), err)
	}
	return &info, nil
}

func randomToken(prefix string) string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

func (d *Daemon) setupStripe(cfg *config.Config) error {
	if cfg.Stripe.SecretKey != "" {
		c, err := stripeapi.New(stripeapi.Config{
			Key: cfg.Stripe.SecretKey, URL: cfg.Stripe.APIURL, MaxRetries: cfg.Stripe.MaxRetries,
			ImportVersion: cfg.Stripe.ImportVersion, CheckoutVersion: cfg.Stripe.CheckoutVersion, Logger: d.log,
		})
		if err != nil {
			return err
		}
		d.stripe = c
		if cfg.Stripe.WebhookSecret == "" {
			d.log.Warn("stripe.webhook_secret is empty: every webhook will be refused (set STRIPE_WEBHOOK_SECRET)")
		}
		if cfg.Stripe.HookSecret == "" {
			d.log.Warn("stripe.hook_secret is empty: every checkout hook will be refused (set STRIPE_HOOK_SECRET)")
		}
		return nil
	}

	// No key: the embedded emulator plays Stripe. Its credentials are kept
	// in the state directory so they survive restarts and the simulator can
	// find them.
	if cfg.State.Driver == "postgres" {
		d.log.Warn("no stripe.secret_key: this host runs its own embedded Stripe emulator, which other hosts sharing " +
			"the database cannot see (their pollers mark this host's uploads failed); give every host one Stripe, " +
			"or one emulator with stripe.secret_key and stripe.api_url (docs/multi-host.md)")
	}
	prev, _ := ReadEmulatorInfo(cfg)
	info := &EmulatorInfo{
		APIKey:        randomToken("sk_test_emulator_"),
		WebhookSecret: randomToken("whsec_emulator_"),
		HookSecret:    randomToken("whsec_emulator_hooks_"),
	}
	if prev != nil {
		info.APIKey, info.WebhookSecret, info.HookSecret = prev.APIKey, prev.WebhookSecret, prev.HookSecret
	}
	if cfg.Stripe.WebhookSecret != "" {
		info.WebhookSecret = cfg.Stripe.WebhookSecret
	}
	if cfg.Stripe.HookSecret != "" {
		info.HookSecret = cfg.Stripe.HookSecret
	}
	emu := emulator.New(emulator.Options{
		Logger:          d.log.With("component", "stripe-emulator"),
		APIKey:          info.APIKey,
		PreviewVersion:  cfg.Stripe.ImportVersion,
		RowChecker:      feedRowChecker,
		ProcessingDelay: emulatorDelay(cfg),
	})
	url, err := emu.Start(cfg.Stripe.Emulator.Listen)
	if err != nil {
		return fmt.Errorf("start Stripe emulator: %w", err)
	}
	d.emu = emu
	info.URL = url
	info.HostURL = "http://" + d.lis.Addr().String()
	emu.SetWebhook(info.HostURL+"/webhooks", info.WebhookSecret)
	d.emuInfo = info
	applyEmulatorSecrets(cfg, info)
	data, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(cfg.State.Dir, EmulatorInfoFile), data, 0o600); err != nil {
		return fmt.Errorf("write emulator info: %w", err)
	}
	c, err := stripeapi.New(stripeapi.Config{
		Key: info.APIKey, URL: url, MaxRetries: cfg.Stripe.MaxRetries,
		ImportVersion: cfg.Stripe.ImportVersion, CheckoutVersion: cfg.Stripe.CheckoutVersion, Logger: d.log,
	})
	if err != nil {
		return err
	}
	d.stripe = c
	logging.AddSecret(info.APIKey)
	logging.AddSecret(info.WebhookSecret)
	logging.AddSecret(info.HookSecret)
	return nil
}

func applyEmulatorSecrets(cfg *config.Config, info *EmulatorInfo) {
	if info == nil {
		return
	}
	cfg.Stripe.WebhookSecret = info.WebhookSecret
	cfg.Stripe.HookSecret = info.HookSecret
}

func emulatorDelay(cfg *config.Config) func(string, int) time.Duration {
	d := cfg.Stripe.Emulator.Delay.Duration
	if d == 0 {
		return nil
	}
	return func(string, int) time.Duration { return d }
}

// feedRowChecker lets the emulator reject rows the way Stripe would, using
// the same spec the host validates with.
func feedRowChecker(kind string, header, row []string) []string {
	k, err := feed.ParseKind(kind)
	if err != nil {
		return []string{err.Error()}
	}
	var msgs []string
	for _, p := range feed.Check(k, header, row) {
		if p.Column != "" {
			msgs = append(msgs, p.Column+": "+p.Message)
		} else {
			msgs = append(msgs, p.Message)
		}
	}
	return msgs
}
