package stripeapi

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/acs-connector/acs-connector/host/internal/emulator"
)

// stripe-go logs whole response bodies at debug level; they hold client
// secrets and shoppers' personal data, so only their size may be logged.
func TestDebugLogHasNoResponseBodies(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	emu := emulator.New(emulator.Options{})
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	c, err := New(Config{Key: "sk_test_logging", URL: url, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	id, err := emu.CompleteCheckout(emulator.CheckoutInput{Email: "ada@example.com", ShippingName: "Ada Lovelace",
		Lines: []emulator.CheckoutLine{{SKU: "A", Quantity: 1, UnitAmount: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.RetrieveSession(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "_secret_") || !strings.Contains(string(raw), "ada@example.com") {
		t.Fatalf("the session should carry a client secret and the email: %s", raw)
	}
	out := buf.String()
	for _, leaked := range []string{"_secret_", "ada@example.com", "Ada Lovelace"} {
		if strings.Contains(out, leaked) {
			t.Errorf("%q reached the debug log:\n%s", leaked, out)
		}
	}
	if !strings.Contains(out, "stripe response received") {
		t.Errorf("responses should still be logged, without their body:\n%s", out)
	}
}
