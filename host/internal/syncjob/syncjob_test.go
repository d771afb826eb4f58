package syncjob

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/feed"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/webhooks"
)

var bg = context.Background()

// rejectID makes the emulator refuse rows with the given ids, as Stripe
// refuses rows our validator cannot judge.
func rejectID(ids ...string) func(kind string, header, row []string) []string {
	return func(kind string, header, row []string) []string {
		for i, h := range header {
			if h == "id" && slices.Contains(ids, row[i]) {
				return []string{"Stripe: this product's landing page returned HTTP 404."}
			}
		}
		return nil
	}
}

func TestCatalogEndToEndWithErrors(t *testing.T) {
	for _, sc := range storeCases(t) {
		t.Run(sc.name, func(t *testing.T) {
			e := newEnv(t, envOpts{openStore: sc.open, reject: rejectID("REJECT-ME")})
			e.writeData("products.csv", products(
				product("P1", 5, "10.00"),
				product("P2", 3, "12.50 USD"),
				strings.Replace(product("NO-TITLE", 1, "9.00"), "Product NO-TITLE", "", 1), // local: title is required
				product("REJECT-ME", 2, "8.00"),                                            // Stripe rejects it
				product("BAD-PRICE", 1, "ten dollars"),                                     // the plugin rejects it
				strings.Replace(product("BAD-LINK", 1, "7.00"), "https://shop.example.com/p/BAD-LINK", "shop/bad link", 1),
			))
			res := e.run(job(config.JobCatalog))
			if res.Read != 6 || res.Sent != 3 || res.Invalid != 2 || res.RejectedByPlugin != 1 || res.Parts != 1 || len(res.Imports) != 1 {
				t.Fatalf("result: %+v", res)
			}
			if res.ErrorReport == "" || !strings.Contains(res.Summary(), "2 invalid") || !strings.Contains(res.Summary(), "1 rejected by the plugin") {
				t.Fatalf("summary: %s", res.Summary())
			}
			e.settle()

			st, err := e.r.Status(bg, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(st) != 1 {
				t.Fatalf("status: %+v", st)
			}
			u := st[0]
			if u.Status != store.UploadSucceededWithErrors || !u.Final || u.RowsSent != 3 || u.RowsProcessed != 3 ||
				u.RowsSucceeded != 2 || u.RowsFailed != 1 || u.ImportID != res.Imports[0] || u.File == "" || u.Kind != "product" {
				t.Fatalf("upload status: %+v", u)
			}
			bySource := map[string][]store.UploadErrorRow{}
			for _, r := range u.Errors {
				bySource[r.Source] = append(bySource[r.Source], r)
			}
			sr := bySource[store.ErrorSourceStripe]
			// The part is header, P1, P2, REJECT-ME: line 4.
			if len(sr) != 1 || sr[0].ItemID != "REJECT-ME" || sr[0].Line != 4 || !strings.Contains(sr[0].Message, "404") ||
				!strings.HasPrefix(sr[0].RawCSV, "REJECT-ME,") {
				t.Fatalf("stripe error rows: %+v", sr)
			}
			local := bySource[store.ErrorSourceLocal]
			if len(local) != 3 {
				t.Fatalf("local error rows: %+v", local)
			}
			// products.csv lines: NO-TITLE 4, BAD-PRICE 6, BAD-LINK 7.
			want := map[string]int{"NO-TITLE": 4, "BAD-PRICE": 6, "BAD-LINK": 7}
			for _, r := range local {
				if want[r.ItemID] != r.Line || !strings.Contains(r.Message, "products.csv:") {
					t.Errorf("local error row %+v, want line %d", r, want[r.ItemID])
				}
			}

			cat := e.emu.Catalog()
			if len(cat) != 2 || cat["P1"]["price"] != "10.00 USD" || cat["P2"]["inventory_quantity"] != "3" {
				t.Fatalf("emulator catalog: %v", cat)
			}
			acc := e.accepted("catalog")
			if len(acc) != 2 || acc["P1"] == "" || acc["REJECT-ME"] != "" {
				t.Fatalf("accepted hashes: %v", acc)
			}

			// Unchanged source: the build is identical to what Stripe accepted.
			again := e.run(job(config.JobCatalog))
			if again.Skipped != "identical to the last accepted upload" || len(again.Imports) != 0 ||
				!strings.Contains(again.Summary(), "nothing uploaded: identical") {
				t.Fatalf("second run: %+v", again)
			}
			if n := len(e.emu.ImportSets()); n != 1 {
				t.Fatalf("%d import sets after an identical run", n)
			}
			if st, _ := e.r.Status(bg, 0); len(st) != 1 {
				t.Fatalf("the skipped run left upload records: %+v", st)
			}
		})
	}
}

func TestInventoryUploadsCannotLandOutOfOrder(t *testing.T) {
	for _, guard := range []bool{true, false} {
		name := "serialised"
		if !guard {
			name = "without the guard"
		}
		t.Run(name, func(t *testing.T) {
			// The first inventory import takes 1s at Stripe, the second 20ms:
			// uploaded back to back, the second would finish first.
			var invSeen atomic.Int32
			e := newEnv(t, envOpts{delay: func(kind string, seq int) time.Duration {
				if kind == emulator.KindInventory && invSeen.Add(1) == 1 {
					return time.Second
				}
				return 20 * time.Millisecond
			}})
			e.r.noSerialise = !guard
			e.writeData("products.csv", products(product("SKU-1", 1, "5.00"), product("SKU-2", 1, "5.00")))
			e.run(job(config.JobCatalog))
			e.settle()

			e.writeData("inventory.csv", "id,availability,inventory_quantity\nSKU-1,in_stock,5\nSKU-2,in_stock,5\n")
			first := e.run(job(config.JobInventory))
			e.writeData("inventory.csv", "id,availability,inventory_quantity\nSKU-1,in_stock,7\nSKU-2,out_of_stock,0\n")
			second := e.run(job(config.JobInventory))
			if first.Sent != 2 || second.Sent != 2 {
				t.Fatalf("sent %d then %d rows", first.Sent, second.Sent)
			}
			e.settle()

			cat := e.emu.Catalog()
			var inv []emulator.ImportSetInfo
			for _, s := range e.emu.ImportSets() {
				if s.Kind == emulator.KindInventory {
					inv = append(inv, s)
				}
			}
			if len(inv) != 2 {
				t.Fatalf("inventory imports: %+v", inv)
			}
			if guard {
				if q := cat["SKU-1"]["inventory_quantity"]; q != "7" || cat["SKU-2"]["availability"] != "out_of_stock" {
					t.Fatalf("catalog after both uploads: %v (the older upload won)", cat)
				}
				if !inv[1].Created.After(inv[0].Finished) {
					t.Fatalf("the second import was created (%v) before the first finished (%v)", inv[1].Created, inv[0].Finished)
				}
				if acc := e.accepted("inventory"); len(acc) != 2 {
					t.Fatalf("accepted: %v", acc)
				}
			} else {
				// The scenario the guard prevents: the older file landed last.
				if inv[0].FinishedOrder < inv[1].FinishedOrder {
					t.Fatalf("imports finished in order, the test proves nothing: %+v", inv)
				}
				if q := cat["SKU-1"]["inventory_quantity"]; q != "5" {
					t.Fatalf("without the guard the stale quantity should win, got %q", q)
				}
			}
		})
	}
}

func TestWaitForPreviousBounded(t *testing.T) {
	var invSeen atomic.Int32
	e := newEnv(t, envOpts{delay: func(kind string, seq int) time.Duration {
		if kind == emulator.KindInventory && invSeen.Add(1) == 1 {
			return 3 * time.Second
		}
		return 20 * time.Millisecond
	}})
	e.writeData("products.csv", products(product("SKU-1", 1, "5.00")))
	e.run(job(config.JobCatalog))
	e.settle()
	e.writeData("inventory.csv", "id,availability,inventory_quantity\nSKU-1,in_stock,5\n")
	e.run(job(config.JobInventory))
	e.writeData("inventory.csv", "id,availability,inventory_quantity\nSKU-1,in_stock,9\n")
	j := job(config.JobInventory)
	j.WaitForPrevious = config.Duration{Duration: 200 * time.Millisecond}
	_, err := e.r.Run(bg, j)
	if !errors.Is(err, ErrPreviousPending) || !strings.Contains(err.Error(), "next run sends") {
		t.Fatalf("err = %v, want ErrPreviousPending", err)
	}
	if n := len(e.emu.ImportSets()); n != 2 {
		t.Fatalf("%d imports: the refused run uploaded something", n)
	}
	// Once the first is done, the next run sends the change.
	e.settle()
	res := e.run(job(config.JobInventory))
	e.settle()
	if res.Sent != 1 || e.emu.Catalog()["SKU-1"]["inventory_quantity"] != "9" {
		t.Fatalf("after the wait: %+v, catalog %v", res, e.emu.Catalog())
	}
}

func TestIncrementalSendsOnlyChanges(t *testing.T) {
	for _, sc := range storeCases(t) {
		t.Run(sc.name, func(t *testing.T) {
			e := newEnv(t, envOpts{openStore: sc.open, reject: func(kind string, header, row []string) []string {
				if kind == emulator.KindPrice && row[0] == "SKU-3" && row[1] == "3.00 USD" {
					return []string{"Stripe: price rejected"}
				}
				return nil
			}})
			e.writeData("products.csv", products(product("SKU-1", 1, "1.00"), product("SKU-2", 1, "2.00"), product("SKU-3", 1, "3.00")))
			e.run(job(config.JobCatalog))
			e.settle()

			e.writeData("prices.csv", "id,price\nSKU-1,1.00\nSKU-2,2.00\nSKU-3,3.00\n")
			first := e.run(job(config.JobPrice))
			e.settle()
			if first.Sent != 3 {
				t.Fatalf("first price run: %+v", first)
			}
			// Unchanged file: the plugin's cursor says so and nothing is read.
			same := e.run(job(config.JobPrice))
			if same.Read != 0 || same.Skipped == "" || len(same.Imports) != 0 {
				t.Fatalf("unchanged file: %+v", same)
			}
			// One price changes: only the change and the row Stripe rejected last
			// time (it has no accepted hash) are sent.
			e.writeData("prices.csv", "id,price\nSKU-1,1.00\nSKU-2,2.50\nSKU-3,3.00\n\n")
			delta := e.run(job(config.JobPrice))
			if delta.Read != 3 || delta.Unchanged != 1 || delta.Sent != 2 {
				t.Fatalf("delta: %+v", delta)
			}
			e.settle()
			if p := e.emu.Catalog()["SKU-2"]["price"]; p != "2.50 USD" {
				t.Fatalf("price not updated: %v", e.emu.Catalog()["SKU-2"])
			}
			// Reverting to an earlier file is a new upload, not an idempotent replay
			// of the first one.
			e.writeData("prices.csv", "id,price\nSKU-1,1.00\nSKU-2,2.00\nSKU-3,3.00\n")
			rev := e.run(job(config.JobPrice))
			e.settle()
			if rev.Sent != 2 || e.emu.Catalog()["SKU-2"]["price"] != "2.00 USD" {
				t.Fatalf("revert: %+v, catalog %v", rev, e.emu.Catalog()["SKU-2"])
			}
		})
	}
}

// crashAt makes the runner stop right after step, like a killed process:
// cancel the run's context and give up, leaving everything as it is.
func crashAt(r *Runner, step string, cancel context.CancelFunc) {
	r.afterStep = func(ctx context.Context, s string, u *store.Upload) error {
		if s != step {
			return nil
		}
		r.afterStep = nil
		cancel()
		return errors.New("crash after " + step)
	}
}

func TestCrashAfterFileUploadResumesWithOneImportSet(t *testing.T) {
	for _, step := range []string{"file-uploaded", "import-created"} {
		t.Run(step, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			e.writeData("products.csv", products(product("A", 1, "1.00"), product("B", 2, "2.00")))
			ctx, cancel := context.WithCancel(bg)
			crashAt(e.r, step, cancel)
			if _, err := e.r.Run(ctx, job(config.JobCatalog)); err == nil {
				t.Fatal("the crashed run reported success")
			}
			pending, _ := e.st.PendingUploads(bg)
			if len(pending) != 1 || pending[0].Status != StatusUploading || pending[0].FileID == "" || pending[0].ImportID != "" {
				t.Fatalf("after the crash: %+v", pending)
			}
			fileID := pending[0].FileID

			// Restart: the interrupted upload is resumed with its keys, then
			// the run proper finds nothing new to send.
			res := e.run(job(config.JobCatalog))
			e.settle()
			sets := e.emu.ImportSets()
			if len(sets) != 1 || sets[0].File != fileID || sets[0].Status != "succeeded" {
				t.Fatalf("import sets: %+v", sets)
			}
			if n := e.emu.CountRequests("POST", "/v1/files"); n != 1 {
				t.Fatalf("%d file uploads", n)
			}
			if res.Skipped != "identical to the last accepted upload" {
				t.Fatalf("run after restart: %+v", res)
			}
			if len(e.emu.Catalog()) != 2 {
				t.Fatalf("catalog: %v", e.emu.Catalog())
			}
			// The run record was committed: cursor and content.
			if c, _ := e.st.GetCursor(bg, "content:catalog"); c == "" {
				t.Fatal("content hash not committed")
			}
		})
	}
}

func TestCrashDuringBuildLeavesNothing(t *testing.T) {
	e := newEnv(t, envOpts{})
	var rows []string
	for i := 0; i < 3000; i++ {
		rows = append(rows, product("SKU-"+strings.Repeat("x", i%5)+itoa(i), i%9, "4.00"))
	}
	e.writeData("products.csv", products(rows...))
	e.r.opt.BatchSize = 100
	// Kill the plugin after its first batch: the run fails, nothing is
	// uploaded, and the next run starts over.
	killed := false
	e.r.afterStep = func(ctx context.Context, step string, u *store.Upload) error {
		if step == "batch" && !killed {
			killed = true
			p, _ := e.mgr.Get("csvdir")
			_ = syscall.Kill(p.Pid(), syscall.SIGKILL)
		}
		return nil
	}
	_, err := e.r.Run(bg, job(config.JobCatalog))
	if err == nil || !strings.Contains(err.Error(), "nothing was uploaded") {
		t.Fatalf("err = %v", err)
	}
	if n := len(e.emu.ImportSets()); n != 0 {
		t.Fatalf("%d imports after a plugin crash", n)
	}
	if all, _ := e.st.RecentUploads(bg, 0); len(all) != 0 {
		t.Fatalf("upload records left behind: %+v", all)
	}
	e.r.afterStep = nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p, ok := e.mgr.Get("csvdir"); ok && p.Status().Up && p.Status().Restarts >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("plugin did not restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	res := e.run(job(config.JobCatalog))
	e.settle()
	if res.Sent != 3000 || len(e.emu.Catalog()) != 3000 {
		t.Fatalf("after restart: %+v, %d in catalog", res, len(e.emu.Catalog()))
	}
}

func TestSplitIntoParts(t *testing.T) {
	e := newEnv(t, envOpts{maxPartBytes: 700})
	var rows []string
	for i := 0; i < 12; i++ {
		rows = append(rows, product("SKU-"+itoa(i), i, "3.00"))
	}
	e.writeData("products.csv", products(rows...))
	res := e.run(job(config.JobCatalog))
	if res.Parts < 3 || len(res.Imports) != res.Parts || res.Sent != 12 {
		t.Fatalf("result: %+v", res)
	}
	e.settle()
	sets := e.emu.ImportSets()
	if len(sets) != res.Parts {
		t.Fatalf("%d import sets for %d parts", len(sets), res.Parts)
	}
	total := 0
	for _, s := range sets {
		total += s.Successes
	}
	if total != 12 || len(e.emu.Catalog()) != 12 {
		t.Fatalf("rows accepted %d, catalog %d", total, len(e.emu.Catalog()))
	}
	var header string
	for n := 1; n <= res.Parts; n++ {
		f, err := os.Open(partPath(e.r.jobDir("catalog"), n))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		line, _ := bufio.NewReader(f).ReadString('\n')
		f.Close()
		if n == 1 {
			header = line
		}
		if !strings.HasPrefix(line, "id,title,") || line != header {
			t.Fatalf("part %d starts with %q", n, line)
		}
		if st.Size() > 700 {
			t.Fatalf("part %d has %d bytes", n, st.Size())
		}
	}
	st, _ := e.r.Status(bg, 0)
	for _, u := range st {
		if u.Parts != res.Parts || u.Status != "succeeded" {
			t.Fatalf("upload %+v", u)
		}
	}
	if c, _ := e.st.GetCursor(bg, "content:catalog"); c == "" {
		t.Fatal("content hash not committed after all parts were accepted")
	}
}

func TestDeletions(t *testing.T) {
	for _, sc := range storeCases(t) {
		t.Run(sc.name, func(t *testing.T) {
			e := newEnv(t, envOpts{openStore: sc.open})
			e.writeData("products.csv", products(product("A", 1, "1.00"), product("B", 1, "1.00"), product("C", 1, "1.00"), product("D", 1, "1.00")))
			e.run(job(config.JobCatalog))
			e.settle()

			// C is gone from the backend; D is still there but its row is broken
			// now (it must not be deleted).
			e.writeData("products.csv", products(product("A", 1, "1.00"), product("B", 2, "1.00"),
				strings.Replace(product("D", 1, "1.00"), "https://shop.example.com/p/D", "not a link", 1)))
			res := e.run(job(config.JobCatalog))
			if res.Deleted != 1 || res.Sent != 3 || res.Invalid != 1 {
				t.Fatalf("result: %+v", res)
			}
			data, err := os.ReadFile(partPath(e.r.jobDir("catalog"), 1))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if !strings.HasSuffix(lines[0], ",delete") || !strings.HasPrefix(lines[len(lines)-1], "C,") || !strings.HasSuffix(lines[len(lines)-1], ",true") {
				t.Fatalf("part:\n%s", data)
			}
			e.settle()
			cat := e.emu.Catalog()
			if _, ok := cat["C"]; ok || len(cat) != 3 || cat["B"]["inventory_quantity"] != "2" {
				t.Fatalf("catalog: %v", cat)
			}
			if acc := e.accepted("catalog"); acc["C"] != "" || acc["D"] == "" {
				t.Fatalf("accepted after the deletion: %v", acc)
			}
			// Next run: same backend, nothing to delete, nothing new.
			again := e.run(job(config.JobCatalog))
			if again.Deleted != 0 || again.Skipped != "identical to the last accepted upload" {
				t.Fatalf("run after the deletion: %+v", again)
			}

			// With deletions off, an id that vanishes is left alone.
			off := false
			j := job(config.JobCatalog)
			j.Deletions = &off
			e.writeData("products.csv", products(product("A", 1, "1.00")))
			res = e.run(j)
			e.settle()
			if res.Deleted != 0 || len(e.emu.Catalog()) != 3 {
				t.Fatalf("deletions off: %+v, catalog %v", res, e.emu.Catalog())
			}
		})
	}
}

// A run whose export lost more products than max_deletions allows sends
// the rest of the catalog but holds the deletions back, and fails so that
// someone looks; with the limit raised they go.
func TestDeletionsOverTheLimitAreHeld(t *testing.T) {
	e := newEnv(t, envOpts{})
	var all []string
	for i := range 40 {
		all = append(all, product(fmt.Sprintf("P%02d", i), 1, "1.00"))
	}
	e.writeData("products.csv", products(all...))
	e.run(job(config.JobCatalog))
	e.settle()

	// A truncated export: half the products, one of them changed.
	half := append([]string{product("P00", 7, "1.00")}, all[1:20]...)
	e.writeData("products.csv", products(half...))
	res, err := e.r.Run(context.Background(), job(config.JobCatalog))
	if err == nil || !strings.Contains(err.Error(), "20 products are gone") || !strings.Contains(err.Error(), "max_deletions (25% or 10, whichever is more)") {
		t.Fatalf("err = %v", err)
	}
	if res.HeldDeletions != 20 || res.Deleted != 0 || !strings.Contains(res.Summary(), "20 deletions held back") {
		t.Fatalf("result: %+v", res)
	}
	e.settle()
	cat := e.emu.Catalog()
	if len(cat) != 40 || cat["P00"]["inventory_quantity"] != "7" {
		t.Fatalf("catalog after the held run: %d products, P00 %v", len(cat), cat["P00"])
	}

	// Deliberate: the limit is raised for this run.
	j := job(config.JobCatalog)
	if err := yaml.Unmarshal([]byte("max_deletions: 50%"), j); err != nil {
		t.Fatal(err)
	}
	res = e.run(j)
	e.settle()
	if res.Deleted != 20 || res.HeldDeletions != 0 || len(e.emu.Catalog()) != 20 {
		t.Fatalf("with 50%%: %+v, catalog %d", res, len(e.emu.Catalog()))
	}
}

func TestNoDeletionsWhenNothingIsValid(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.writeData("products.csv", products(product("A", 1, "1.00"), product("B", 1, "1.00")))
	e.run(job(config.JobCatalog))
	e.settle()
	// A broken export: every row fails. Nothing may be deleted.
	e.writeData("products.csv", products(product("A", 1, "bad"), product("B", 1, "bad")))
	res := e.run(job(config.JobCatalog))
	if res.Deleted != 0 || !strings.HasPrefix(res.Skipped, "no valid row") {
		t.Fatalf("result: %+v", res)
	}
	if len(e.emu.Catalog()) != 2 || len(e.emu.ImportSets()) != 1 {
		t.Fatal("a run with no valid row changed the catalog")
	}
	st, _ := e.r.Status(bg, 1)
	if len(st) != 1 || st[0].Status != store.UploadFailed || len(st[0].Errors) != 2 || st[0].ImportID != "" {
		t.Fatalf("status: %+v", st)
	}
}

func TestV2EndToEnd(t *testing.T) {
	e := newEnv(t, envOpts{api: "v2", reject: rejectID("REJECT-ME")})
	e.writeData("products.csv", products(product("A", 1, "1.00"), product("REJECT-ME", 1, "1.00"), product("B", 4, "2.00"),
		product("BAD", 1, "nope")))
	res := e.run(job(config.JobCatalog))
	if res.Sent != 3 || res.RejectedByPlugin != 1 || len(res.Imports) != 1 || !strings.HasPrefix(res.Imports[0], "pcimprt_") {
		t.Fatalf("result: %+v", res)
	}
	e.settle()
	sets := e.emu.ImportSets()
	// A row was rejected here (BAD): replace mode would delete its product,
	// so the upload is an upsert.
	if len(sets) != 1 || sets[0].API != "v2" || sets[0].Mode != "upsert" || sets[0].Status != "succeeded_with_errors" {
		t.Fatalf("imports: %+v", sets)
	}
	st, _ := e.r.Status(bg, 1)
	if len(st) != 1 || st[0].RowsSucceeded != 2 || st[0].RowsFailed != 1 || st[0].API != "v2" {
		t.Fatalf("status: %+v", st)
	}
	var stripeRow *store.UploadErrorRow
	for i, r := range st[0].Errors {
		if r.Source == store.ErrorSourceStripe {
			stripeRow = &st[0].Errors[i]
		}
	}
	if stripeRow == nil || stripeRow.ItemID != "REJECT-ME" || stripeRow.Line != 3 {
		t.Fatalf("error rows: %+v", st[0].Errors)
	}

	e.writeData("inventory.csv", "id,availability,inventory_quantity\nA,in_stock,40\n")
	inv := e.run(job(config.JobInventory))
	e.settle()
	sets = e.emu.ImportSets()
	if inv.Sent != 1 || len(sets) != 2 || sets[1].Mode != "upsert" || sets[1].Format != "inventory" {
		t.Fatalf("inventory: %+v %+v", inv, sets)
	}
	if q := e.emu.Catalog()["A"]["inventory_quantity"]; q != "40" {
		t.Fatalf("quantity %q", q)
	}

	// A clean full catalog with deletions on goes in replace mode; the
	// vanished product is also sent as delete=true.
	e.writeData("products.csv", products(product("A", 1, "1.00"), product("C", 1, "1.00")))
	full := e.run(job(config.JobCatalog))
	e.settle()
	sets = e.emu.ImportSets()
	if full.Deleted != 1 || sets[2].Mode != "replace" || sets[2].Status != "succeeded" {
		t.Fatalf("full catalog: %+v %+v", full, sets[2])
	}
	if cat := e.emu.Catalog(); len(cat) != 2 || cat["C"] == nil || cat["B"] != nil {
		t.Fatalf("catalog: %v", cat)
	}
}

func TestImportEvents(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.writeData("products.csv", products(product("A", 1, "1.00")))
	res := e.run(job(config.JobCatalog))
	// Wait for the emulator to finish, without polling through the runner.
	deadline := time.Now().Add(5 * time.Second)
	for e.emu.ImportSets()[0].Status != "succeeded" {
		if time.Now().After(deadline) {
			t.Fatal("import did not finish")
		}
		time.Sleep(10 * time.Millisecond)
	}
	obj, _ := json.Marshal(map[string]any{"id": res.Imports[0], "object": "data_management.import_set", "status": "succeeded"})
	if err := e.r.HandleImportEvent(bg, webhooks.Event{ID: "evt_1", Type: ImportEventTypes[0], Object: obj}); err != nil {
		t.Fatal(err)
	}
	u, err := e.st.GetUploadByImportID(bg, res.Imports[0])
	if err != nil || u.Status != "succeeded" {
		t.Fatalf("after the event: %+v %v", u, err)
	}
	if acc := e.accepted("catalog"); len(acc) != 1 {
		t.Fatalf("accepted: %v", acc)
	}
	// Thin v2 event for an import this connector does not know: ignored.
	ev := webhooks.Event{ID: "evt_2", Type: "v2.commerce.product_catalog.imports.succeeded", Thin: true,
		RelatedObject: &webhooks.RelatedObject{ID: "pcimprt_unknown", Type: "v2.commerce.product_catalog_import"}}
	if err := e.r.HandleImportEvent(bg, ev); err != nil {
		t.Fatal(err)
	}
}

func TestExport(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.writeData("products.csv", products(product("A", 1, "1.00"), product("B", 1, "bad"), product("C", 2, "3.00"),
		strings.Replace(product("D", 1, "1.00"), "Acme", "", 1)))
	out := filepath.Join(t.TempDir(), "feed.csv")
	errs := filepath.Join(t.TempDir(), "errors.csv")
	stats, err := e.r.Export(bg, job(config.JobCatalog), out, errs)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Rows != 4 || stats.Valid != 2 || stats.Invalid != 2 || stats.Parts != 1 {
		t.Fatalf("stats: %+v", stats)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := feed.ValidateFile(f, feed.Product)
	if err != nil || !rep.OK() || rep.Rows != 2 {
		t.Fatalf("exported feed: %+v %v", rep, err)
	}
	report, _ := os.ReadFile(errs)
	if !strings.Contains(string(report), "products.csv:3") || !strings.Contains(string(report), "brand") {
		t.Fatalf("error report:\n%s", report)
	}
	if len(e.emu.ImportSets()) != 0 {
		t.Fatal("export uploaded something")
	}
	if all, _ := e.st.RecentUploads(bg, 0); len(all) != 0 {
		t.Fatal("export recorded uploads")
	}
}

// TestExportSpilledDuplicateCheck exports more ids than a tiny duplicate-id
// budget holds, so the host's set spills to the output's directory: every
// row arrives, and no temp file is left there.
func TestExportSpilledDuplicateCheck(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.r.opt.DuplicateBudget = 1024 * 16 // a spill every 512 ids
	rows := make([]string, 0, 3000)
	for i := range 3000 {
		rows = append(rows, product("P"+itoa(1000+i), 1, "1.00"))
	}
	e.writeData("products.csv", products(rows...))
	dir := t.TempDir()
	out := filepath.Join(dir, "feed.csv")
	stats, err := e.r.Export(bg, job(config.JobCatalog), out, filepath.Join(dir, "errors.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if stats.Rows != 3000 || stats.Valid != 3000 {
		t.Fatalf("stats: %+v", stats)
	}
	es, _ := os.ReadDir(dir)
	if len(es) != 1 || es[0].Name() != "feed.csv" {
		t.Errorf("output directory holds %v, want feed.csv alone", es)
	}
}

func TestSummary(t *testing.T) {
	r := Result{Kind: "inventory", Read: 10, Unchanged: 7, Sent: 3, Parts: 1, Bytes: 2048, Imports: []string{"impset_1"}}
	if got := r.Summary(); got != "inventory feed: 10 read, 7 unchanged; 3 rows uploaded in 1 part(s), 2.0 KiB, import impset_1" {
		t.Fatalf("summary: %q", got)
	}
	r = Result{Kind: "product", Read: 10, Skipped: "identical to the last accepted upload"}
	if got := r.Summary(); got != "product feed: 10 read; nothing uploaded: identical to the last accepted upload" {
		t.Fatalf("summary: %q", got)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestUnknownImportIsFailedNotWaitedFor(t *testing.T) {
	e := newEnv(t, envOpts{})
	// An upload whose import Stripe does not know (say, made by an emulator
	// that has restarted since).
	u := &store.Upload{Job: "inventory", Kind: "inventory", API: "importset", Status: "pending", ImportID: "impset_test_gone", Part: 1, Parts: 1}
	if err := e.st.CreateUpload(bg, u); err != nil {
		t.Fatal(err)
	}
	if err := e.r.PollPending(bg); err != nil {
		t.Fatal(err)
	}
	got, err := e.st.GetUploadByImportID(bg, "impset_test_gone")
	if err != nil || got.Status != store.UploadFailed || !strings.Contains(got.FailedReason, "404") {
		t.Fatalf("after polling: %+v %v", got, err)
	}
}

// TestExportThroughReusedBatchMemory streams two-row batches, so the three
// batch buffers are received into over and over. Every batch has the same
// byte layout, and from the fourth on the availability is invalid where the
// first batch had it valid: a check memo still pointing into a reused
// buffer would see the new value as the one it checked, and pass it.
func TestExportThroughReusedBatchMemory(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.r.opt.BatchSize = 2
	var rows []string
	for i := range 8 {
		row := product(fmt.Sprintf("P%d", i+1), 1, "1.00")
		if i >= 6 {
			row = strings.Replace(row, "in_stock", "no_stock", 1)
		}
		rows = append(rows, row)
	}
	e.writeData("products.csv", products(rows...))
	dir := t.TempDir()
	out, errs := filepath.Join(dir, "feed.csv"), filepath.Join(dir, "errors.csv")
	stats, err := e.r.Export(bg, job(config.JobCatalog), out, errs)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Valid != 6 || stats.Invalid != 2 {
		t.Fatalf("stats %+v, want P7 and P8 rejected for their availability", stats)
	}
	feedText, _ := os.ReadFile(out)
	for i := range 6 {
		if !strings.Contains(string(feedText), fmt.Sprintf("\nP%d,Product P%d,", i+1, i+1)) {
			t.Errorf("P%d is missing from the feed or changed:\n%s", i+1, feedText)
		}
	}
	report, _ := os.ReadFile(errs)
	if strings.Count(string(report), "availability: ") != 2 || !strings.Contains(string(report), "P7") || !strings.Contains(string(report), "P8") {
		t.Errorf("error report:\n%s", report)
	}
}
