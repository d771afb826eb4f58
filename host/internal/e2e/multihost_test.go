package e2e

// Several acs-connector hosts on one PostgreSQL database and one Stripe (a
// shared emulator in this process): every scheduled tick runs once, every
// order is pushed once, a host killed mid-job does not block the others, and
// a hook answered on one host is replayed, not recomputed, on another.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/store"
)

// pgAdminDSN is the throwaway server's admin DSN. Without one the test is
// skipped, unless ACS_REQUIRE_POSTGRES=1 (make test), where it fails.
func pgAdminDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("ACS_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("ACS_REQUIRE_POSTGRES") == "1" {
			t.Fatal("ACS_REQUIRE_POSTGRES=1 but ACS_TEST_POSTGRES_DSN is empty")
		}
		t.Skip("ACS_TEST_POSTGRES_DSN is not set (see .ci/postgres.sh)")
	}
	return dsn
}

// freshDatabase creates an empty database for one test on the server of
// ACS_TEST_POSTGRES_DSN, drops it when the test ends, and returns its DSN.
func freshDatabase(t *testing.T) string {
	t.Helper()
	admin := pgAdminDSN(t)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	name := "acs_test_" + randHex(6)
	if _, err := db.Exec(`CREATE DATABASE ` + name); err != nil {
		db.Close()
		t.Fatalf("create database (ACS_TEST_POSTGRES_DSN): %v", err)
	}
	t.Cleanup(func() {
		// Hosts are gone by now (their cleanups run first); FORCE ends
		// whatever connection a killed one left behind.
		if _, err := db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		db.Close()
	})
	if strings.HasPrefix(admin, "postgres://") || strings.HasPrefix(admin, "postgresql://") {
		u, err := url.Parse(admin)
		if err != nil {
			t.Fatalf("ACS_TEST_POSTGRES_DSN: %v", err)
		}
		u.Path = "/" + name
		return u.String()
	}
	return admin + " dbname=" + name
}

// cluster is n hosts sharing one PostgreSQL database, one Stripe emulator
// and one csvdir catalog directory (with its outbox and inbox), the way
// several machines share a database, a Stripe account and a backend.
type cluster struct {
	t       *testing.T
	dsn     string
	emu     *emulator.Emulator
	emuURL  string
	catalog string
	hosts   []*host
	st      store.Store
}

// clusterOptions shape the hosts' config.
type clusterOptions struct {
	hosts int
	// jobs is the YAML body of the jobs: block (each line indented by two).
	jobs string
	// slowRecords and slowDelay configure the test plugin ("slow"): how
	// many catalog records it streams and how long it sleeps per 100.
	slowRecords int
	slowDelay   string
	// shutdownTimeout bounds a graceful stop (default 20s).
	shutdownTimeout string
	// stagger starts the hosts one after the other, this far apart after
	// each is ready (0: all at once), as hosts deployed at different times.
	stagger time.Duration
	// rowChecker makes the emulator reject feed rows, as Stripe does.
	rowChecker func(kind string, header, row []string) []string
	// products, when set, replaces the sample catalog's products.csv with
	// this many generated (valid) products.
	products int
	// beforeHosts runs once the emulator is up, before any host starts.
	beforeHosts func(c *cluster)
}

func newCluster(t *testing.T, opt clusterOptions) *cluster {
	t.Helper()
	c := &cluster{t: t, dsn: freshDatabase(t)}
	// Stripe's own webhook delivery stays off (no SetWebhook): tests
	// deliver events themselves, to the host they choose.
	c.emu = emulator.New(emulator.Options{
		ProcessingDelay: func(string, int) time.Duration { return 50 * time.Millisecond },
		RowChecker:      opt.rowChecker,
	})
	u, err := c.emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.emuURL = u
	t.Cleanup(func() { _ = c.emu.Close() })
	c.catalog = sampleCatalog(t, t.TempDir())
	if opt.products > 0 {
		generateProducts(t, c.catalog, opt.products)
	}
	if opt.beforeHosts != nil {
		opt.beforeHosts(c)
	}
	if opt.slowDelay == "" {
		opt.slowDelay = "0s"
	}
	if opt.shutdownTimeout == "" {
		opt.shutdownTimeout = "20s"
	}
	for i := 0; i < opt.hosts; i++ {
		addr := freePort(t)
		h := startHost(t, c.config(opt, addr, filepath.Join(t.TempDir(), "state")))
		h.addr = addr
		c.hosts = append(c.hosts, h)
		if opt.stagger > 0 {
			h.expectNotify("READY=1", 90*time.Second)
			time.Sleep(opt.stagger)
		}
	}
	// They start concurrently; READY means plugins, scheduler and listener
	// are up.
	if opt.stagger == 0 {
		for _, h := range c.hosts {
			h.expectNotify("READY=1", 90*time.Second)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, "postgres", c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	c.st = st
	t.Cleanup(func() { _ = st.Close() })
	return c
}

// config is one host's config: Stripe is the shared emulator (a secret key
// plus api_url, so no host starts its own), state is the shared database,
// state.dir is the host's own.
func (c *cluster) config(opt clusterOptions, addr, stateDir string) string {
	return fmt.Sprintf(`version: 1
stripe:
  secret_key: sk_test_multihost_e2e
  api_url: %s
  hook_secret: %s
  webhook_secret: %s
server:
  listen: %s
  shutdown_timeout: %s
state:
  driver: postgres
  dsn: %q
  dir: %s
log: {level: info, format: json}
plugins:
  catalog:
    path: %s
    restart: {min_delay: 100ms, max_delay: 1s}
    config:
      dir: %s
      outbox: %s
      inbox: %s
  slow:
    path: %s
    config: {records: %d, batch_delay: %s}
jobs:
%s
hooks:
  plugin: catalog
  deadline: 3s
fulfillment:
  plugin: catalog
`, c.emuURL, hookSecret, webhookSecret, addr, opt.shutdownTimeout, c.dsn, stateDir,
		filepath.Join(binDir, "acs-plugin-csvdir"), c.catalog, filepath.Join(c.catalog, "outbox"), filepath.Join(c.catalog, "inbox"),
		filepath.Join(binDir, "testplugin"), opt.slowRecords, opt.slowDelay, strings.TrimRight(opt.jobs, "\n"))
}

// generateProducts rewrites dir/products.csv with n products made from
// the sample catalog's first row (ids GEN-000001, ...), and removes the
// inventory and price files that would name other ids.
func generateProducts(t *testing.T, dir string, n int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "products.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows := lines(string(data))
	header, first := rows[0], rows[1]
	_, rest, _ := strings.Cut(first, ",")
	var b strings.Builder
	b.WriteString(header + "\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "GEN-%06d,%s\n", i, rest)
	}
	if err := os.WriteFile(filepath.Join(dir, "products.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"inventory.csv", "prices.csv"} {
		_ = os.Remove(filepath.Join(dir, f))
	}
}

// hostID is how a host names itself in run records (hostname:pid).
func (h *host) hostID() string {
	name, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", name, h.cmd.Process.Pid)
}

// stop sends sig and waits for the process to exit.
func (h *host) stop(sig syscall.Signal, within time.Duration) {
	h.t.Helper()
	if err := h.cmd.Process.Signal(sig); err != nil {
		h.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case err := <-h.exited:
		if sig == syscall.SIGTERM && err != nil {
			h.t.Errorf("host %s: graceful stop should exit 0: %v", h.hostID(), err)
		}
	case <-time.After(within):
		h.t.Fatalf("host %s did not exit within %s of %v", h.hostID(), within, sig)
	}
}

// stopAll stops every host gracefully, concurrently.
func (c *cluster) stopAll() {
	c.t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(c.hosts))
	for _, h := range c.hosts {
		if h.cmd.ProcessState != nil {
			continue
		}
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case err := <-h.exited:
				if err != nil {
					errs <- fmt.Errorf("host %s: graceful stop: %v", h.hostID(), err)
				}
			case <-time.After(60 * time.Second):
				errs <- fmt.Errorf("host %s did not exit within 60s of SIGTERM", h.hostID())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		c.t.Error(err)
	}
}

// logEntries returns every JSON log line of every host.
func (c *cluster) logEntries() []map[string]any {
	var out []map[string]any
	for _, h := range c.hosts {
		for _, l := range lines(h.logs.String()) {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil {
				out = append(out, m)
			}
		}
	}
	return out
}

// metric sums one Prometheus sample (name plus the labels given, in any
// order) over every host's /metrics.
func (c *cluster) metric(name string, labels ...string) float64 {
	c.t.Helper()
	var sum float64
	for _, h := range c.hosts {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(h.url("/metrics"))
		if err != nil {
			c.t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
	line:
		for sc.Scan() {
			l := sc.Text()
			if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
				continue
			}
			for _, lb := range labels {
				if !strings.Contains(l, lb) {
					continue line
				}
			}
			v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			if err != nil {
				c.t.Fatalf("metric line %q: %v", l, err)
			}
			sum += v
		}
		resp.Body.Close()
	}
	return sum
}

// ---------------------------------------------------------------- 1. ticks

// TestMultiHostEachTickRunsOnce runs three hosts with every job on a
// one-second schedule (and one on @every 2s) for ten seconds.
//
// What "exactly once" honestly means for a cron tick: no (job, tick) ran
// twice, no two runs of one job overlapped in time (on any hosts), and every
// tick of the window either ran or fell while a run of that job was in
// progress (skip-if-running, which spans hosts through the tick lock). A tick
// whose host dies mid-run is not retried (TestMultiHostKilledMidJob).
func TestMultiHostEachTickRunsOnce(t *testing.T) {
	start := time.Now()
	c := newCluster(t, clusterOptions{hosts: 3, jobs: `
  catalog: {type: catalog, plugin: catalog, schedule: "* * * * * *", run_at_start: true}
  inventory: {type: inventory, plugin: catalog, schedule: "* * * * * *"}
  prices: {type: price, plugin: catalog, schedule: "@every 2s"}
  reconcile: {type: reconcile, schedule: "* * * * * *"}
  updates: {type: order_updates, plugin: catalog, schedule: "* * * * * *"}
`, stagger: time.Second})
	ready := time.Now()
	time.Sleep(10 * time.Second)
	end := time.Now()
	c.stopAll()

	period := map[string]time.Duration{"catalog": time.Second, "inventory": time.Second, "prices": 2 * time.Second,
		"reconcile": time.Second, "updates": time.Second}
	ctx := context.Background()
	for _, job := range []string{"catalog", "inventory", "prices", "reconcile", "updates"} {
		runs, err := c.st.RecentRuns(ctx, job, 0)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(runs, func(i, k int) bool { return runs[i].StartedAt.Before(runs[k].StartedAt) })
		byTick := map[int64][]string{} // by tick in unix microseconds
		byHost := map[string]int{}
		p := period[job]
		for _, r := range runs {
			// Scheduled ticks are whole seconds (start-up runs are not) and
			// must be activations of the schedule: with hosts started at
			// different times, an @every schedule must not fire at each
			// host's own phase.
			if r.Tick.Nanosecond() == 0 && r.Tick.UnixMicro()%p.Microseconds() != 0 {
				t.Errorf("%s: run on %s has tick %s, which is not an activation of its schedule", job, r.Host, r.Tick.Format(time.TimeOnly))
			}
			byTick[r.Tick.UnixMicro()] = append(byTick[r.Tick.UnixMicro()], r.Host)
			byHost[r.Host]++
			if r.FinishedAt.IsZero() {
				t.Errorf("%s: run of tick %s on %s never finished although every host stopped gracefully", job, r.Tick.Format(time.TimeOnly), r.Host)
			}
			if r.Outcome != "ok" {
				t.Errorf("%s: run of tick %s on %s: %s: %s", job, r.Tick.Format(time.TimeOnly), r.Host, r.Outcome, r.Message)
			}
			// A catalog run with deletions reads the whole catalog, on
			// whichever host it runs.
			if job == "catalog" && strings.Contains(r.Message, ": 0 read") {
				t.Errorf("catalog: run of tick %s on %s read nothing: %s", r.Tick.Format(time.TimeOnly), r.Host, r.Message)
			}
		}
		// No tick twice.
		for tick, hosts := range byTick {
			if len(hosts) > 1 {
				t.Errorf("%s: tick %s ran %d times (hosts %v)", job, time.UnixMicro(tick).Format("15:04:05.000"), len(hosts), hosts)
			}
		}
		// Never two runs of one job at once, on any hosts (start-up runs
		// included).
		for i := 1; i < len(runs); i++ {
			prev, cur := runs[i-1], runs[i]
			if !prev.FinishedAt.IsZero() && cur.StartedAt.Before(prev.FinishedAt) {
				t.Errorf("%s: run of tick %s on %s started at %s while the run of tick %s on %s was still going (until %s)", job,
					cur.Tick.Format(time.TimeOnly), cur.Host, cur.StartedAt.Format("15:04:05.000"),
					prev.Tick.Format(time.TimeOnly), prev.Host, prev.FinishedAt.Format("15:04:05.000"))
			}
		}
		// Every scheduled activation of the window ran, or was skipped
		// because a run of the job was in progress when it fired.
		var ran, skipped int
		for tick := ready.Truncate(p).Add(2 * p); tick.Before(end.Add(-time.Second)); tick = tick.Add(p) {
			if len(byTick[tick.UnixMicro()]) == 1 {
				ran++
				continue
			}
			if busy(runs, tick) {
				skipped++
				continue
			}
			t.Errorf("%s: tick %s neither ran nor was covered by a run in progress (runs: %s)", job, tick.Format(time.TimeOnly), describeRuns(runs))
		}
		t.Logf("%s: %d runs on %d hosts %v; %d ticks of the window ran, %d skipped while a run was in progress", job, len(runs), len(byHost), hostCounts(byHost), ran, skipped)
		if ran < 3 {
			t.Errorf("%s: only %d ticks ran in ten seconds", job, ran)
		}
	}
	t.Logf("took %s (hosts ready after %s)", time.Since(start).Round(time.Millisecond), ready.Sub(start).Round(time.Millisecond))
}

// busy reports whether a run was in progress when tick fired: the hosts
// try a tick within moments of it, and the tick lock is held from just
// before a run's start to just after its finish.
func busy(runs []store.Run, tick time.Time) bool {
	const slack = 250 * time.Millisecond
	for _, r := range runs {
		fin := r.FinishedAt
		if fin.IsZero() {
			fin = time.Now()
		}
		if r.StartedAt.Before(tick.Add(time.Second)) && fin.After(tick.Add(-slack)) {
			return true
		}
	}
	return false
}

func describeRuns(runs []store.Run) string {
	var b strings.Builder
	for _, r := range runs {
		fmt.Fprintf(&b, "\n  tick %s on %s: %s..%s %s", r.Tick.Format("15:04:05.000"), r.Host,
			r.StartedAt.Format("15:04:05.000"), r.FinishedAt.Format("15:04:05.000"), r.Outcome)
	}
	return b.String()
}

func hostCounts(m map[string]int) []int {
	var out []int
	for _, n := range m {
		out = append(out, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(out)))
	return out
}

// ---------------------------------------------------------------- 2. orders

// TestMultiHostOrdersPushedOnce completes 1,000 checkouts and delivers each
// checkout.session.completed event twice, concurrently, to two different
// hosts (round-robin over three), while reconciliation runs every two
// seconds on whichever host takes the tick; every tenth event is held back
// until reconciliation has recorded its order. Every order must reach the
// backend exactly once: 1,000 outbox files, one plugin write per session,
// one claim per order in the ledger.
func TestMultiHostOrdersPushedOnce(t *testing.T) {
	const sessions = 1000
	start := time.Now()
	// The checkouts are completed before the hosts start, so that
	// deliveries and reconciliation (from its first run at start-up) race
	// for every order from the first moment.
	ids := map[string]bool{}
	var events [][]byte
	var created time.Time
	c := newCluster(t, clusterOptions{hosts: 3, jobs: `
  reconcile: {type: reconcile, schedule: "*/2 * * * * *", run_at_start: true}
`, beforeHosts: func(c *cluster) {
		for i := 0; i < sessions; i++ {
			id, err := c.emu.CompleteCheckout(emulator.CheckoutInput{
				Lines:        []emulator.CheckoutLine{{SKU: "HP-TEE-BLK-M", Name: "Organic Cotton Tee - Black / M", Quantity: 1, UnitAmount: 3200}},
				ShippingName: fmt.Sprintf("Shopper %d", i),
				Shipping:     emulator.Address{Line1: "1 Main St", City: "San Francisco", State: "CA", PostalCode: "94107", Country: "US"},
				Email:        fmt.Sprintf("shopper%d@example.com", i),
			})
			if err != nil {
				t.Fatal(err)
			}
			ids[id] = true
		}
		for _, raw := range c.emu.Events() {
			var ev struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(raw, &ev) == nil && ev.Type == "checkout.session.completed" {
				events = append(events, raw)
			}
		}
		created = time.Now()
	}})
	ready := time.Now()
	if len(events) != sessions {
		t.Fatalf("the emulator has %d completed events for %d sessions", len(events), sessions)
	}
	if d := c.emu.Deliveries(); len(d) != 0 {
		t.Fatalf("the emulator delivered %d events itself; its delivery must be off", len(d))
	}

	// deliver sends event i to hosts i%3 and (i+1)%3 at the same moment,
	// eight events at a time.
	deliver := func(which []int) {
		t.Helper()
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			failed []string
			work   = make(chan int)
		)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					var pair sync.WaitGroup
					gate := make(chan struct{})
					for k := 0; k < 2; k++ {
						pair.Add(1)
						go func() {
							defer pair.Done()
							h := c.hosts[(i+k)%len(c.hosts)]
							<-gate
							resp, body, err := signedPost(h.url("/webhooks"), webhookSecret, events[i], 30*time.Second)
							if err != nil || resp.StatusCode != http.StatusOK {
								mu.Lock()
								failed = append(failed, fmt.Sprintf("event %d to %s: %v %v %s", i, h.addr, err, resp, body))
								mu.Unlock()
							}
						}()
					}
					close(gate)
					pair.Wait()
				}
			}()
		}
		for _, i := range which {
			work <- i
		}
		close(work)
		wg.Wait()
		if len(failed) > 0 {
			t.Fatalf("%d deliveries failed, first: %s", len(failed), failed[0])
		}
	}
	// Every tenth event is "lost" at first: reconciliation has to find
	// those orders. They are delivered (twice) late, after it has.
	var now, late []int
	for i := range events {
		if i%10 == 0 {
			late = append(late, i)
		} else {
			now = append(now, i)
		}
	}
	deliver(now)
	delivered := time.Now()
	ctx := context.Background()
	waitFor(t, 90*time.Second, "a reconciliation run that started after the deliveries", func() bool {
		runs, err := c.st.RecentRuns(ctx, "reconcile", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.StartedAt.After(delivered) && !r.FinishedAt.IsZero() {
				return true
			}
		}
		return false
	})
	deliver(late)
	delivered = time.Now()

	// Wait until the ledger has every order accepted.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n, err := c.st.CountOrdersByState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n[store.OrderAccepted] == sessions {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orders by state after 2 minutes: %v", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	fulfilled := time.Now()
	// Let a reconciliation run (and the retry passes) see the finished
	// ledger too, then stop so every log line is in.
	time.Sleep(2500 * time.Millisecond)
	c.stopAll()

	// The ledger: every order once, claimed once, accepted.
	orders, err := c.st.RecentOrders(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != sessions {
		t.Errorf("ledger has %d orders, want %d", len(orders), sessions)
	}
	for _, o := range orders {
		if !ids[o.SessionID] {
			t.Errorf("ledger has an order for unknown session %s", o.SessionID)
		}
		if o.State != store.OrderAccepted || o.Attempts != 1 {
			t.Errorf("order %s: state %s after %d claims; want accepted after 1", o.SessionID, o.State, o.Attempts)
		}
	}

	// The backend: one outbox file per session, nothing else.
	files, err := os.ReadDir(filepath.Join(c.catalog, "outbox"))
	if err != nil {
		t.Fatal(err)
	}
	inOutbox := map[string]bool{}
	for _, f := range files {
		id, ok := strings.CutSuffix(f.Name(), ".json")
		if !ok || !ids[id] {
			t.Errorf("unexpected file in the outbox: %s", f.Name())
			continue
		}
		inOutbox[id] = true
	}
	if len(inOutbox) != sessions {
		t.Errorf("outbox holds %d orders, want %d", len(inOutbox), sessions)
	}

	// The plugins' own record: the csvdir processes (one per host) log each
	// file they write; an overwrite by a second push would show as a
	// second line. The hosts log each acceptance.
	writes, accepts, received := map[string]int{}, map[string]int{}, map[string]int{}
	perHost := map[string]int{}
	for _, h := range c.hosts {
		for _, l := range lines(h.logs.String()) {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) != nil {
				continue
			}
			sess, _ := m["session"].(string)
			switch m["msg"] {
			case "csvdir: order written to the outbox":
				writes[sess]++
				perHost[h.addr]++
			case "order accepted by the backend":
				accepts[sess]++
			case "order received":
				received[sess]++
			}
		}
	}
	for what, m := range map[string]map[string]int{"plugin writes": writes, "acceptances": accepts} {
		if len(m) != sessions {
			t.Errorf("%s: %d sessions, want %d", what, len(m), sessions)
		}
		for id, n := range m {
			if n != 1 {
				t.Errorf("%s: session %s %d times", what, id, n)
			}
		}
	}
	var reconciled float64
	warnings := map[string]int{}
	for _, e := range c.logEntries() {
		if e["msg"] == "reconciliation found an order no webhook delivered" {
			reconciled++
		}
		if lvl, _ := e["level"].(string); lvl == "WARN" || lvl == "ERROR" {
			warnings[fmt.Sprint(e["msg"])]++
		}
	}
	if len(warnings) > 0 {
		t.Logf("warnings and errors logged by the hosts: %v", warnings)
	}
	runs, err := c.st.RecentRuns(ctx, "reconcile", 0)
	if err != nil {
		t.Fatal(err)
	}
	if reconciled < float64(len(late)) {
		t.Errorf("reconciliation recorded %.0f orders; the %d whose events came late were its to find", reconciled, len(late))
	}
	t.Logf("%d sessions created in %s; hosts ready %s later; %d deliveries (2 per event, 3 hosts, %d events held back until a reconciliation ran) done %s after the hosts were ready; "+
		"all accepted %s after the hosts were ready; pushes per host %v; %d recorded by webhooks, %.0f by reconciliation (%d reconcile runs); total %s",
		sessions, created.Sub(start).Round(time.Millisecond), ready.Sub(created).Round(time.Millisecond), 2*sessions, len(late),
		delivered.Sub(ready).Round(time.Millisecond), fulfilled.Sub(ready).Round(time.Millisecond), hostCounts(perHost),
		len(received), reconciled, len(runs), time.Since(start).Round(time.Millisecond))
}

// ---------------------------------------------------------------- 3. crash

// TestMultiHostKilledMidJob kills (SIGKILL) the host running a slow job in
// the middle of its run. Its tick lock dies with its database connection: the
// next tick runs on another host at once, and that run cleans up what the dead
// run left and finishes.
func TestMultiHostKilledMidJob(t *testing.T) {
	start := time.Now()
	// The test plugin streams 1,500 catalog records with a 300ms pause per
	// 100: a run takes about 4.5s, so several ticks fall inside it.
	c := newCluster(t, clusterOptions{hosts: 3, slowRecords: 1500, slowDelay: "300ms", jobs: `
  slow: {type: catalog, plugin: slow, schedule: "* * * * * *", timeout: 1m}
`})
	ctx := context.Background()
	byID := map[string]*host{}
	for _, h := range c.hosts {
		byID[h.hostID()] = h
	}

	// Wait for a run to be well under way.
	var victim store.Run
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs, err := c.st.RecentRuns(ctx, "slow", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 1 && runs[0].FinishedAt.IsZero() && time.Since(runs[0].StartedAt) > 1500*time.Millisecond {
			victim = runs[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run of the slow job in progress after 30s: %v", runs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	dead := byID[victim.Host]
	if dead == nil {
		t.Fatalf("the run in progress names host %q, which is none of ours", victim.Host)
	}
	dead.stop(syscall.SIGKILL, 10*time.Second)
	killed := time.Now()

	// The next tick runs elsewhere, right away.
	var next store.Run
	deadline = time.Now().Add(15 * time.Second)
	for next.ID == 0 {
		runs, err := c.st.RecentRuns(ctx, "slow", 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(runs) - 1; i >= 0; i-- { // oldest first
			if runs[i].ID > victim.ID {
				next = runs[i]
				break
			}
		}
		if next.ID == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no run of the slow job within 15s of killing %s", victim.Host)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if next.Host == victim.Host {
		t.Errorf("the run after the kill names the killed host %s", next.Host)
	}
	if lag := next.StartedAt.Sub(killed); lag > 3*time.Second {
		t.Errorf("the next run started %s after the kill; the dead host's lock held it up", lag.Round(time.Millisecond))
	}
	if !next.Tick.After(victim.Tick) {
		t.Errorf("the next run's tick %s is not after the killed run's %s", next.Tick, victim.Tick)
	}

	// The killed run's record stays unfinished, and its tick is not marked
	// as done: it rolled back with the dead host's transaction.
	runs, err := c.st.RecentRuns(ctx, "slow", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.ID == victim.ID && !r.FinishedAt.IsZero() {
			t.Errorf("the killed run has a finish time: %+v", r)
		}
	}
	db, err := sql.Open("pgx", c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM tick_locks WHERE job = 'slow' AND tick = $1`, victim.Tick).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the killed run's tick is recorded as taken")
	}

	// The survivor's run finishes: it removes the dead run's half-built
	// upload and uploads its own.
	deadline = time.Now().Add(30 * time.Second)
	for {
		r, err := c.st.RecentRuns(ctx, "slow", 0)
		if err != nil {
			t.Fatal(err)
		}
		var done *store.Run
		for i := range r {
			if r[i].ID == next.ID && !r[i].FinishedAt.IsZero() {
				done = &r[i]
			}
		}
		if done != nil {
			if done.Outcome != "ok" {
				t.Errorf("the run after the kill: %s: %s", done.Outcome, done.Message)
			}
			t.Logf("killed %s %s into its run of tick %s; tick %s ran on %s, starting %s after the kill, and finished in %s: %s",
				victim.Host, killed.Sub(victim.StartedAt).Round(time.Millisecond), victim.Tick.Format(time.TimeOnly),
				next.Tick.Format(time.TimeOnly), next.Host, next.StartedAt.Sub(killed).Round(time.Millisecond),
				done.FinishedAt.Sub(done.StartedAt).Round(time.Millisecond), done.Message)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run after the kill did not finish within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// ---------------------------------------------------------------- 4. hooks

// TestMultiHostHookAnsweredOnce sends each finalize_checkout hook to all
// three hosts at the same moment, then once more: every delivery of an id
// gets the same answer, and the plugin is asked once per id across all hosts
// (counted by the hosts' plugin RPC metrics).
func TestMultiHostHookAnsweredOnce(t *testing.T) {
	const hooks = 20
	start := time.Now()
	c := newCluster(t, clusterOptions{hosts: 3, jobs: `
  inventory: {type: inventory, plugin: catalog, schedule: "@every 1h"}
`})
	before := c.metric("acs_plugin_rpc_duration_seconds_count", `method="CheckAvailability"`)
	for i := 0; i < hooks; i++ {
		id := fmt.Sprintf("fc_multihost_%d", i)
		qty := 1 + i%3
		if i == hooks-1 {
			qty = 99 // more than in stock: a decline is replayed as faithfully
		}
		body := finalizeBody(id, "HP-TEE-BLK-M", qty)
		answers := make([]string, len(c.hosts)+1)
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for k, h := range c.hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				resp, b, err := signedPost(h.url("/hooks"), hookSecret, body, 10*time.Second)
				if err != nil || resp.StatusCode != http.StatusOK {
					answers[k] = fmt.Sprintf("error: %v %v %s", err, resp, b)
					return
				}
				answers[k] = string(b)
			}()
		}
		close(gate)
		wg.Wait()
		// A retry after the fact, to the host after the one that answered
		// the last one.
		resp, b, err := signedPost(c.hosts[i%len(c.hosts)].url("/hooks"), hookSecret, body, 10*time.Second)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s retry: %v %v %s", id, err, resp, b)
		}
		answers[len(c.hosts)] = string(b)
		for _, a := range answers[1:] {
			if a != answers[0] {
				t.Errorf("%s: hosts answered differently:\n%s", id, strings.Join(answers, "\n"))
				break
			}
		}
		want := `"approved"`
		if qty == 99 {
			want = `"declined"`
		}
		if !strings.Contains(answers[0], want) {
			t.Errorf("%s: want %s, got %s", id, want, answers[0])
		}
		rec, err := c.st.GetHook(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if string(rec.Response) != answers[0] {
			t.Errorf("%s: stored answer %s, sent %s", id, rec.Response, answers[0])
		}
	}
	asked := c.metric("acs_plugin_rpc_duration_seconds_count", `method="CheckAvailability"`) - before
	if asked != hooks {
		t.Errorf("the plugins were asked %.0f times for %d hooks sent %d times each", asked, hooks, len(c.hosts)+1)
	}
	var replayed int
	for _, e := range c.logEntries() {
		if e["msg"] == "hook answered" && e["replayed"] == true {
			replayed++
		}
	}
	t.Logf("%d hooks x %d deliveries: plugins asked %.0f times, %d answers replayed from the store; took %s",
		hooks, len(c.hosts)+1, asked, replayed, time.Since(start).Round(time.Millisecond))
}

// ---------------------------------------------------------------- 5. imports

// TestMultiHostImportFinishedOnce uploads a catalog whose import Stripe
// accepts with errors while three hosts poll pending imports. The import is
// finished (error report downloaded, rows stored, hashes accepted) once: its
// rejected rows are stored once, not once per host that polled it.
func TestMultiHostImportFinishedOnce(t *testing.T) {
	const products = 10000
	start := time.Now()
	rejected := 0
	c := newCluster(t, clusterOptions{hosts: 3, products: products,
		rowChecker: func(kind string, header, row []string) []string {
			if kind == emulator.KindProduct && strings.HasSuffix(row[0], "3") {
				return []string{"title: rejected by the test"}
			}
			return nil
		}, jobs: `
  catalog: {type: catalog, plugin: catalog, schedule: "@every 1h", run_at_start: true}
`})
	for i := 1; i <= products; i++ {
		if i%10 == 3 {
			rejected++
		}
	}
	ctx := context.Background()
	var up store.Upload
	waitFor(t, 60*time.Second, "the catalog import to finish", func() bool {
		ups, err := c.st.RecentUploads(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range ups {
			if u.Job == "catalog" && store.IsFinalUploadStatus(u.Status) {
				up = u
				return true
			}
		}
		return false
	})
	// Every host's poller has had a look since.
	time.Sleep(4 * time.Second)
	c.stopAll()
	rows, err := c.st.UploadErrors(ctx, up.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	stripe := 0
	for _, r := range rows {
		if r.Source == store.ErrorSourceStripe {
			stripe++
		}
	}
	finished := 0
	for _, e := range c.logEntries() {
		if e["msg"] == "feed import finished" && e["import"] == up.ImportID {
			finished++
		}
	}
	if up.Status != store.UploadSucceededWithErrors || stripe != rejected {
		t.Errorf("upload %d: %s, %d rejected rows stored; want succeeded_with_errors and %d", up.ID, up.Status, stripe, rejected)
	}
	if finished != 1 {
		t.Errorf("import %s was finished %d times", up.ImportID, finished)
	}
	t.Logf("%d products, %d rejected by Stripe, %d stored; finished on %d host(s); took %s", products, rejected, stripe, finished,
		time.Since(start).Round(time.Millisecond))
}

// TestMultiHostEmbeddedEmulatorWarns: a host on PostgreSQL without a Stripe
// key runs its own emulator, which no other host can see; it says so.
func TestMultiHostEmbeddedEmulatorWarns(t *testing.T) {
	dsn := freshDatabase(t)
	dir := t.TempDir()
	addr := freePort(t)
	cfg := strings.Replace(baseConfig(addr, filepath.Join(dir, "state"), sampleCatalog(t, dir), "catalog"),
		"state:\n", fmt.Sprintf("state:\n  driver: postgres\n  dsn: %q\n", dsn), 1)
	h := startHost(t, cfg)
	h.addr = addr
	h.expectNotify("READY=1", 60*time.Second)
	waitFor(t, 5*time.Second, "the warning that other hosts cannot see this host's emulator", func() bool {
		return strings.Contains(h.logs.String(), "runs its own embedded Stripe emulator, which other hosts sharing the database cannot see")
	})
	h.stop(syscall.SIGTERM, 60*time.Second)
}
