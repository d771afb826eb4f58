package outbox

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestPutWritesOnceAndAnswersFromTheFile(t *testing.T) {
	dir := t.TempDir()
	var w Writer
	if _, _, _, err := w.Put(filepath.Join(dir, "gone"), "k", func() ([]byte, error) { return []byte("x"), nil }); err == nil {
		t.Fatal("Put into a missing directory succeeded")
	}
	data, name, written, err := w.Put(dir, "cs_test_1", func() ([]byte, error) { return []byte("first\n"), nil })
	if err != nil || !written || name != "cs_test_1.json" || string(data) != "first\n" {
		t.Fatalf("first Put = %q %q %v %v", data, name, written, err)
	}
	built := false
	data, _, written, err = w.Put(dir, "cs_test_1", func() ([]byte, error) { built = true; return []byte("second\n"), nil })
	if err != nil || written || built || string(data) != "first\n" {
		t.Fatalf("second Put = %q written=%v built=%v %v", data, written, built, err)
	}
	if got := names(t, dir); len(got) != 1 || got[0] != "cs_test_1.json" {
		t.Fatalf("dir holds %v", got)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "cs_test_1.json")); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
}

func TestPutConcurrentOneKeyBuildsOnce(t *testing.T) {
	dir := t.TempDir()
	var w Writer
	var builds atomic.Int32
	var wg sync.WaitGroup
	answers := make([]string, 30)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A second Writer on the same directory, as after a reload: the
			// link still lets only one file in.
			ww := &w
			if i%2 == 1 {
				ww = &Writer{}
			}
			data, _, _, err := ww.Put(dir, "k", func() ([]byte, error) {
				n := builds.Add(1)
				time.Sleep(time.Millisecond)
				return []byte{byte('0' + n)}, nil
			})
			if err != nil {
				t.Error(err)
			}
			answers[i] = string(data)
		}()
	}
	wg.Wait()
	for _, a := range answers {
		if a != answers[0] {
			t.Fatalf("answers differ: %q", answers)
		}
	}
	if got := names(t, dir); len(got) != 1 {
		t.Fatalf("dir holds %v, want one file and no temp files", got)
	}
}

func TestPutFailuresLeaveNothing(t *testing.T) {
	dir := t.TempDir()
	var w Writer
	if _, _, _, err := w.Put(dir, "k", func() ([]byte, error) { return nil, errors.New("boom") }); err == nil || err.Error() != "boom" {
		t.Fatalf("build error = %v", err)
	}
	refuse := Writer{Name: func(key string) (string, error) { return "", errors.New("no: " + key) }}
	if _, _, _, err := refuse.Put(dir, "../x", func() ([]byte, error) { return []byte("x"), nil }); err == nil || !strings.Contains(err.Error(), "no: ../x") {
		t.Fatalf("refused name = %v", err)
	}
	// An existing directory where the file should go: the link fails, the
	// rename fails, and the temp file goes too.
	if err := os.MkdirAll(filepath.Join(dir, "d.json", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := w.Put(dir, "d", func() ([]byte, error) { return []byte("x"), nil }); err == nil {
		t.Fatal("Put over a directory succeeded")
	}
	if got := names(t, dir); len(got) != 1 || got[0] != "d.json" {
		t.Fatalf("dir holds %v", got)
	}
}

func TestCleanNameKeepsKeysApart(t *testing.T) {
	seen := map[string]string{}
	for _, k := range []string{"cs_test_a1", "a/b", "a_b", "../../etc/passwd", ".hidden", strings.Repeat("x", 500), strings.Repeat("x", 501)} {
		n, err := CleanName(k)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(n, "/\\") || strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".json") || len(n) > 160 {
			t.Errorf("CleanName(%q) = %q", k, n)
		}
		if prev, dup := seen[n]; dup {
			t.Errorf("keys %q and %q share file %q", prev, k, n)
		}
		seen[n] = k
	}
	if n, _ := CleanName("cs_test_a1"); n != "cs_test_a1.json" {
		t.Errorf("a safe key is renamed: %q", n)
	}
	if _, err := CleanName(""); err == nil {
		t.Error("empty key accepted")
	}
}

func TestFromOrder(t *testing.T) {
	o := sdk.Order{
		CheckoutSessionID: "cs_1", Currency: "USD", AmountTotal: 2700, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)),
		Lines:            []sdk.OrderLine{{SKU: "MUG", Quantity: 2, UnitAmount: 1200, AmountTotal: 2400, Taxes: []sdk.LineTax{{Amount: 100, TaxType: "sales_tax"}, {Amount: 20}}}},
		Card:             &sdk.Card{Brand: "visa", Last4: "4242"},
		AgentDetailsJSON: "not json",
	}
	doc := FromOrder(o)
	if doc.Currency != "usd" || doc.Created.Location() != time.UTC || doc.Lines[0].AmountTax != 120 || len(doc.Lines[0].Taxes) != 2 || doc.Card.Last4 != "4242" {
		t.Fatalf("document: %+v", doc)
	}
	var s string
	if err := json.Unmarshal(doc.AgentDetails, &s); err != nil || s != "not json" {
		t.Errorf("invalid agent details kept as %s", doc.AgentDetails)
	}
	if b, _ := json.Marshal(FromOrder(sdk.Order{})); !strings.Contains(string(b), `"lines":[]`) {
		t.Errorf("an order without lines: %s", b)
	}
}
