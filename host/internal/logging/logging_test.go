package logging

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestRedaction(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, Options{Format: "json", Level: "debug"})
	AddSecret("my-very-custom-secret")
	log.Info("calling stripe with sk_test_51HxYzAbCdEfGh", "header", "t=1700000000,v1=0123456789abcdef0123456789abcdef,v1=fedcba9876543210fedcba9876543210")
	log.Info("config", "hook_secret", "anything", "dsn", "postgres://u:hunter2@db/x")
	log.Warn("failed", "err", errors.New("webhook secret whsec_abcdef123456 rejected"), "card", "4242 4242 4242 4242")
	log.With("token", "my-very-custom-secret").Info("x", "conn", "postgres://acs:pa55word@10.0.0.1/acs", "q", "password=s3cret&user=x")
	out := buf.String()
	for _, leaked := range []string{"sk_test_51HxYzAbCdEfGh", "0123456789abcdef0123456789abcdef", "hunter2", "whsec_abcdef123456", "4242 4242 4242 4242", "my-very-custom-secret", "pa55word", "s3cret"} {
		if strings.Contains(out, leaked) {
			t.Errorf("secret %q reached the log:\n%s", leaked, out)
		}
	}
	if strings.Count(out, "[REDACTED]") < 8 {
		t.Errorf("expected redaction markers:\n%s", out)
	}
	if !strings.Contains(out, "last4") && !strings.Contains(out, `"msg":"config"`) {
		t.Errorf("ordinary content must survive:\n%s", out)
	}
}

func TestLast4Survives(t *testing.T) {
	if got := Redact("card visa ending 4242 exp 12/34"); got != "card visa ending 4242 exp 12/34" {
		t.Errorf("last4 and expiry are not secret: %q", got)
	}
}

func TestClientSecretsAndUnderscoredKeys(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, Options{Format: "json", Level: "debug"})
	log.Debug(`Response: {"client_secret": "pi_3HTyQnbDj5oYu5RrYXbNp3sqk_secret_A77XpUAjDcD15UnvH5NxN", "id": "pi_3HTyQnbDj5oYu5RrYXbNp3sqk"}`)
	log.Info("session", "client_secret", "cs_test_a1b2c3_secret_zzz", "url", "https://checkout.example/cs_test_a1b2c3_secret_Qwerty123")
	log.Info("emulator", "key", "sk_test_emulator_0123456789abcdef0123456789abcdef")
	out := buf.String()
	for _, leaked := range []string{"A77XpUAjDcD15UnvH5NxN", "_secret_zzz", "Qwerty123", "0123456789abcdef0123456789abcdef"} {
		if strings.Contains(out, leaked) {
			t.Errorf("%q reached the log:\n%s", leaked, out)
		}
	}
	// The PaymentIntent id alone is not a secret and helps support.
	if !strings.Contains(out, `\"id\": \"pi_3HTyQnbDj5oYu5RrYXbNp3sqk\"`) {
		t.Errorf("ids must survive:\n%s", out)
	}
}

func TestCardRedactionOnlyForLuhnValidNumbers(t *testing.T) {
	if got := Redact("took 1764178222123456789 ns"); got != "took 1764178222123456789 ns" {
		t.Errorf("a timestamp is not a card number: %q", got)
	}
	for _, pan := range []string{"4242424242424242", "4000 0566 5566 5556", "5555-5555-5555-4444"} {
		if got := Redact("card " + pan); got != "card [REDACTED]" {
			t.Errorf("%s must be redacted: %q", pan, got)
		}
	}
}
