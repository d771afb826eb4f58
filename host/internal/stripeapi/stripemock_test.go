package stripeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// stripeMock starts stripe-mock (the binary named by ACS_TEST_STRIPE_MOCK)
// on a free loopback port and returns a client pointed at it. stripe-mock
// answers with fixture data and rejects requests whose parameters do not
// match Stripe's OpenAPI spec, so a call that succeeds has the right shape.
// Without the variable the tests are skipped, unless
// ACS_REQUIRE_STRIPE_MOCK=1.
func stripeMock(t *testing.T) *Client {
	t.Helper()
	bin := os.Getenv("ACS_TEST_STRIPE_MOCK")
	if bin == "" {
		if os.Getenv("ACS_REQUIRE_STRIPE_MOCK") == "1" {
			t.Fatal("ACS_REQUIRE_STRIPE_MOCK=1 but ACS_TEST_STRIPE_MOCK is empty")
		}
		t.Skip("ACS_TEST_STRIPE_MOCK not set (path to the stripe-mock binary)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out bytes.Buffer
	cmd := exec.Command(bin, "-http-addr", addr)
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: &out}, &lockedWriter{w: &out}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock did not listen on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, err := New(Config{Key: "sk_test_123", URL: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestStripeMock runs every checkout call against one stripe-mock.
func TestStripeMock(t *testing.T) {
	c := stripeMock(t)
	t.Run("RetrieveSession", func(t *testing.T) { stripeMockRetrieveSession(t, c) })
	t.Run("ListCompleteSessions", func(t *testing.T) { stripeMockListCompleteSessions(t, c) })
	t.Run("CaptureCancelRefund", func(t *testing.T) { stripeMockCaptureCancelRefund(t, c) })
}

func stripeMockRetrieveSession(t *testing.T, c *Client) {
	raw, err := c.RetrieveSession(context.Background(), "cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY")
	if err != nil {
		t.Fatalf("stripe-mock refused the retrieve (expand %v, Stripe-Version %s): %v", SessionExpand, c.CheckoutVersion(), err)
	}
	var s struct {
		ID, Object string
	}
	if err := json.Unmarshal(raw, &s); err != nil || s.Object != "checkout.session" || !strings.HasPrefix(s.ID, "cs_") {
		t.Fatalf("session: %s (%v)", raw[:min(200, len(raw))], err)
	}
	// The page request used when line_items has more.
	page, err := c.lineItemsPage(context.Background(), s.ID, "li_123")
	if err != nil {
		t.Fatalf("stripe-mock refused the line items page: %v", err)
	}
	if page.Object != "list" {
		t.Fatalf("line items page: %+v", page)
	}
}

func stripeMockListCompleteSessions(t *testing.T, c *Client) {
	n := 0
	err := c.ListCompleteSessions(context.Background(), time.Now().Add(-time.Hour).Unix(), func(id string, created int64) error {
		if !strings.HasPrefix(id, "cs_") {
			return fmt.Errorf("id %q", id)
		}
		n++
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("list: %d sessions, %v", n, err)
	}
}

func stripeMockCaptureCancelRefund(t *testing.T, c *Client) {
	ctx := context.Background()
	const pi = "pi_1PgafyB7WZ01zgkWSjxsAJo3"
	if err := c.CapturePaymentIntent(ctx, pi, 1099, "capture:cs_test_1"); err != nil {
		t.Fatalf("capture with amount: %v", err)
	}
	if err := c.CapturePaymentIntent(ctx, pi, 0, "capture:cs_test_2"); err != nil {
		t.Fatalf("capture: %v", err)
	}
	if err := c.CancelPaymentIntent(ctx, pi, "requested_by_customer", "cancel:reject:cs_test_1"); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	id, err := c.CreateRefund(ctx, pi, 500, "requested_by_customer", "refund:update:u1",
		map[string]string{"acs_checkout_session": "cs_test_1", "acs_update_id": "u1"})
	if err != nil || !strings.HasPrefix(id, "re_") {
		t.Fatalf("refund: %q %v", id, err)
	}
	if _, err := c.CreateRefund(ctx, pi, 0, "", "refund:reject:cs_test_1", nil); err != nil {
		t.Fatalf("full refund: %v", err)
	}
	if _, _, err := c.FindRefund(ctx, pi, "refund:update:u1"); err != nil {
		t.Fatalf("find refund: %v", err)
	}
	if _, _, _, err := c.PaymentIntentStatus(ctx, pi); err != nil {
		t.Fatalf("payment intent status: %v", err)
	}
}
