package e2e

// The status page as a merchant sees it: a real host runs a catalog sync
// with a broken product row, takes one order the backend accepts and one
// it rejects (and that is refunded), and headless Chromium renders the
// page. The assertions read the rendered DOM's text, section by section.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// chromiumPath finds headless Chromium: $ACS_TEST_CHROMIUM, else
// /usr/bin/chromium. Without one the test is skipped, unless
// ACS_REQUIRE_CHROMIUM=1 (make test), where it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("ACS_TEST_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return p
	}
	if os.Getenv("ACS_REQUIRE_CHROMIUM") == "1" {
		t.Fatalf("ACS_REQUIRE_CHROMIUM=1 but there is no Chromium at %s (set ACS_TEST_CHROMIUM or apt-get install chromium)", p)
	}
	t.Skipf("no Chromium at %s (set ACS_TEST_CHROMIUM, or apt-get install chromium)", p)
	return ""
}

// chromium runs headless Chromium once with a throwaway profile and
// returns its stdout. The whole process group is killed at the timeout.
func chromium(t *testing.T, bin string, timeout time.Duration, args ...string) string {
	t.Helper()
	profile := t.TempDir()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + profile}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Env = append(os.Environ(), "HOME="+profile, "XDG_CONFIG_HOME="+profile, "XDG_CACHE_HOME="+profile)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// pageRow is one table row of the rendered page: the section it is in
// and the text of each cell.
type pageRow struct {
	section string
	cells   []string
}

func (r pageRow) text() string { return strings.Join(r.cells, " | ") }

// page is the rendered status page reduced to what a reader sees.
type page struct {
	text     string               // the whole body's text
	sections map[string]string    // section heading id -> its text
	rows     map[string][]pageRow // section heading id -> its table rows (rows that hold a nested table are left out)
}

var wsRE = regexp.MustCompile(`\s+`)

func textOf(n *html.Node) string {
	var sb strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			sb.WriteString(n.Data)
		case html.ElementNode:
			if n.DataAtom == atom.Br || n.DataAtom == atom.Td || n.DataAtom == atom.Th || n.DataAtom == atom.Li {
				sb.WriteString(" ")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(wsRE.ReplaceAllString(sb.String(), " "))
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasTable(n *html.Node) bool {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.DataAtom == atom.Table || hasTable(c) {
			return true
		}
	}
	return false
}

func parsePage(t *testing.T, dom string) page {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatalf("parse DOM: %v", err)
	}
	p := page{sections: map[string]string{}, rows: map[string][]pageRow{}}
	var walk func(n *html.Node, section string)
	walk = func(n *html.Node, section string) {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Body:
				p.text = textOf(n)
			case atom.Section:
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type == html.ElementNode && c.DataAtom == atom.H2 {
						section = attr(c, "id")
					}
				}
				p.sections[section] = textOf(n)
			case atom.Tr:
				if hasTable(n) {
					break // its own rows are recorded one by one
				}
				var cells []string
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type == html.ElementNode && (c.DataAtom == atom.Td || c.DataAtom == atom.Th) {
						cells = append(cells, textOf(c))
					}
				}
				p.rows[section] = append(p.rows[section], pageRow{section, cells})
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, section)
		}
	}
	walk(doc, "")
	return p
}

// find returns the one row of section whose text contains all of has.
func (p page) find(t *testing.T, section string, has ...string) pageRow {
	t.Helper()
	var match []pageRow
	for _, r := range p.rows[section] {
		ok := true
		for _, h := range has {
			if !strings.Contains(r.text(), h) {
				ok = false
				break
			}
		}
		if ok {
			match = append(match, r)
		}
	}
	if len(match) != 1 {
		var all []string
		for _, r := range p.rows[section] {
			all = append(all, "  "+r.text())
		}
		t.Fatalf("section %q: want one row with %q, found %d; rows:\n%s", section, has, len(match), strings.Join(all, "\n"))
	}
	return match[0]
}

// cell checks one cell of a row against a regexp.
func cell(t *testing.T, r pageRow, i int, what, pattern string) {
	t.Helper()
	if i >= len(r.cells) {
		t.Errorf("%s: row has %d cells: %s", what, len(r.cells), r.text())
		return
	}
	if !regexp.MustCompile(pattern).MatchString(r.cells[i]) {
		t.Errorf("%s: cell %q does not match %s (row: %s)", what, r.cells[i], pattern, r.text())
	}
}

// breakProductRow appends a copy of the first product of products.csv
// with a new id and an availability Stripe does not know, and returns the
// file's data row count and the broken row's line.
func breakProductRow(t *testing.T, catalog, id string) (rows, line int) {
	t.Helper()
	path := filepath.Join(catalog, "products.csv")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	header, row := recs[0], append([]string(nil), recs[1]...)
	for i, h := range header {
		switch h {
		case "id":
			row[i] = id
		case "availability":
			row[i] = "whenever"
		}
	}
	recs = append(recs, row)
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	_ = w.WriteAll(recs)
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// No multi-line cells in the sample: the line is the record number.
	return len(recs) - 1, len(recs)
}

var (
	sessionRE   = regexp.MustCompile(`checkout session (cs_\w+) complete`)
	readRE      = regexp.MustCompile(`(\d+) read, (\d+) invalid`)
	timestampRE = `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC`
	// An "@every 1h" job runs next within the hour.
	nextHourRE = `^` + timestampRE + ` in (\d+s|[1-5]?\dm|1h00m)$`
)

// simulateCheckout buys sku through `acs-connector simulate checkout` and
// returns the session id and the final order state it reported.
func simulateCheckout(t *testing.T, cfgPath, sku string) (session, state string) {
	t.Helper()
	out, errOut, err := cli(t, 40*time.Second, nil, "simulate", "checkout", "--config", cfgPath, "--sku", sku, "--qty", "1")
	if err != nil {
		t.Fatalf("simulate checkout %s: %v\n%s%s", sku, err, out, errOut)
	}
	m := sessionRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("simulate checkout %s: no session in the output:\n%s", sku, out)
	}
	_, st, _ := strings.Cut(out, "final order state: ")
	return m[1], strings.TrimSpace(st)
}

func TestStatusPageInChromium(t *testing.T) {
	bin := chromiumPath(t)
	start := time.Now()
	dir := t.TempDir()
	addr := freePort(t)
	catalog := sampleCatalog(t, dir)
	const broken = "E2E-BROKEN-ROW"
	read, brokenLine := breakProductRow(t, catalog, broken)
	// The test plugin approves every hook, so an unknown SKU gets as far as
	// the backend (csvdir), which rejects it: the order is refunded.
	cfg := baseConfig(addr, filepath.Join(dir, "state"), catalog, "slow")
	cfg = strings.Replace(cfg, "      inbox: ", "      reject_unknown_skus: true\n      inbox: ", 1)
	h := startHost(t, cfg)
	h.addr = addr
	h.expectNotify("READY=1", 60*time.Second)

	// The catalog job runs at start; wait until Stripe has imported it.
	waitFor(t, 20*time.Second, "the catalog job's first run and its import", func() bool {
		var rz struct {
			Jobs map[string]struct {
				LastOutcome string `json:"last_outcome"`
			} `json:"jobs"`
		}
		if json.Unmarshal([]byte(h.get("/readyz")), &rz) != nil || rz.Jobs["catalog"].LastOutcome != "ok" {
			return false
		}
		body := h.get("/")
		return strings.Contains(body, "impset_") && !strings.Contains(body, "Import in progress")
	})

	okSession, okState := simulateCheckout(t, h.cfgPath, "HP-MUG-BLU")
	badSession, badState := simulateCheckout(t, h.cfgPath, "E2E-NO-SUCH-SKU")
	if okState != "accepted" || badState != "rejected" {
		t.Fatalf("orders: HP-MUG-BLU %q (want accepted), E2E-NO-SUCH-SKU %q (want rejected)", okState, badState)
	}
	waitFor(t, 15*time.Second, "the rejected order's refund", func() bool {
		return strings.Contains(h.get("/"), "Refunded in full")
	})

	// What Chromium renders, not what the server sent.
	if shot := os.Getenv("ACS_STATUS_SCREENSHOT"); shot != "" {
		abs, _ := filepath.Abs(shot)
		chromium(t, bin, 20*time.Second, "--screenshot="+abs, "--window-size=1280,2000", h.url("/"))
		t.Logf("screenshot: %s", abs)
	}
	dom := chromium(t, bin, 20*time.Second, "--dump-dom", h.url("/"))
	p := parsePage(t, dom)
	if !strings.Contains(p.text, "acs-connector") || len(p.sections) < 4 {
		t.Fatalf("Chromium did not render the status page:\n%s", dom)
	}

	// Header: mode and readiness, and nothing to worry about.
	for _, want := range []string{"Stripe emulator", "Ready", "Nothing needs attention", "/orders/{CHECKOUT_SESSION_ID}"} {
		if !strings.Contains(p.text, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(p.text, "Not ready") || strings.Contains(p.text, "Needs attention") {
		t.Errorf("a healthy host must not look unhealthy:\n%s", p.text)
	}

	// Plugins: both processes up, with a pid.
	cell(t, p.find(t, "plugins", "catalog", "csvdir"), 2, "csvdir state", `^Up \(pid \d+\)$`)
	cell(t, p.find(t, "plugins", "slow", "testplugin"), 2, "testplugin state", `^Up \(pid \d+\)$`)

	// Jobs: catalog ran (when, how, what it did) and runs again; inventory
	// has not run yet but is scheduled.
	cat := p.find(t, "jobs", "catalog | catalog")
	cell(t, cat, 2, "catalog schedule", `^@every 1h$`)
	cell(t, cat, 3, "catalog last run", `^`+timestampRE+` \d+s ago$`)
	cell(t, cat, 4, "catalog outcome", `^Succeeded product feed: `+strconv.Itoa(read)+` read, \d+ invalid`)
	cell(t, cat, 5, "catalog next run", nextHourRE)
	inv := p.find(t, "jobs", "inventory | inventory")
	cell(t, inv, 3, "inventory last run", `^—$`)
	cell(t, inv, 4, "inventory outcome", `^Never run$`)
	cell(t, inv, 5, "inventory next run", nextHourRE)
	m := readRE.FindStringSubmatch(cat.cells[4])
	if m == nil {
		t.Fatalf("catalog outcome lacks the row counts: %s", cat.text())
	}
	invalid, _ := strconv.Atoi(m[2])
	if invalid < 1 {
		t.Errorf("the broken row must be counted invalid: %s", cat.text())
	}

	// Uploads: the import, its status and counts, and the rejected rows
	// with their reasons, including the row this test broke.
	up := p.find(t, "uploads", "impset_")
	cell(t, up, 1, "upload job", `^catalog$`)
	cell(t, up, 2, "upload feed", `^product$`)
	cell(t, up, 3, "upload import", `^impset_\w+ file_\w+$`)
	cell(t, up, 4, "import status", `^Imported$`)
	sent := strconv.Itoa(read - invalid)
	cell(t, up, 5, "rows sent", `^`+sent+`$`)
	cell(t, up, 6, "rows imported", `^`+sent+`$`)
	cell(t, up, 7, "rows failed at Stripe", `^0$`)
	if !strings.Contains(p.sections["uploads"], fmt.Sprintf("Rejected rows: %d", invalid)) {
		t.Errorf("uploads must say how many rows were rejected (%d):\n%s", invalid, p.sections["uploads"])
	}
	rej := p.find(t, "uploads", broken)
	cell(t, rej, 0, "rejected row line", `^`+strconv.Itoa(brokenLine)+`$`)
	cell(t, rej, 2, "rejected row reason", `^products\.csv:`+strconv.Itoa(brokenLine)+`: availability: .*whenever`)
	cell(t, rej, 3, "rejected by", `^acs-connector, before upload \(not sent\)$`)

	// Orders: one accepted and captured, one rejected, captured and
	// refunded in full, each with the reason a merchant needs.
	ok := p.find(t, "orders", okSession)
	cell(t, ok, 2, "accepted order", `^Accepted by the backend Backend reference: outbox/`+okSession+`\.json$`)
	cell(t, ok, 3, "accepted total", `^18\.00 USD$`)
	cell(t, ok, 4, "accepted capture", `^Captured$`)
	cell(t, ok, 5, "accepted refund", `^—$`)
	bad := p.find(t, "orders", badSession)
	cell(t, bad, 2, "rejected order", `^Rejected by the backend .*Reason: .*E2E-NO-SUCH-SKU.*no longer sold`)
	cell(t, bad, 4, "rejected capture", `^Captured$`)
	cell(t, bad, 5, "rejected refund", `^Refunded in full: 10\.00 USD$`)

	t.Logf("status page test took %s", time.Since(start).Round(100*time.Millisecond))
}
