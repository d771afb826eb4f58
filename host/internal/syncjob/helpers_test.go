package syncjob

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"github.com/acs-connector/acs-connector/host/internal/testbin"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/emulator"
	"github.com/acs-connector/acs-connector/host/internal/feed"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/store"
	"github.com/acs-connector/acs-connector/host/internal/stripeapi"
)

var pluginDir string

// TestMain builds the real csvdir plugin: feed jobs are tested through the
// same subprocess path production uses.
func TestMain(m *testing.M) {
	testbin.Main(m, &pluginDir, map[string]string{"csvdir": "./plugins/csvdir"})
}

// testLogger writes to the test log (visible with -v or on failure).
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// envOpts tune a test environment.
type envOpts struct {
	api          string
	maxPartBytes int64
	// reject makes the emulator fail rows the local validator accepts.
	reject func(kind string, header, row []string) []string
	delay  func(kind string, seq int) time.Duration
	// openStore opens the state store (default: SQLite in a temp dir).
	openStore func(t *testing.T, dir string) store.Store
}

// storeCase is one state store implementation to run a test against.
type storeCase struct {
	name string
	open func(t *testing.T, dir string) store.Store
}

// storeCases returns SQLite, plus PostgreSQL when ACS_TEST_POSTGRES_DSN is
// set (one fresh schema per test).
func storeCases(t *testing.T) []storeCase {
	cases := []storeCase{{"sqlite", func(t *testing.T, dir string) store.Store {
		s, err := store.Open(context.Background(), "sqlite", filepath.Join(dir, "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}}
	dsn := os.Getenv("ACS_TEST_POSTGRES_DSN")
	if dsn == "" {
		return cases
	}
	return append(cases, storeCase{"postgres", func(t *testing.T, dir string) store.Store {
		admin, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Close() })
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		schema := "acs_syncjob_" + hex.EncodeToString(rnd[:])
		if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		s, err := store.Open(context.Background(), "postgres", u.String())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}})
}

// env is a Stripe emulator, a SQLite store, a running csvdir plugin reading
// data, and a Runner wired to them.
type env struct {
	t     *testing.T
	emu   *emulator.Emulator
	st    store.Store
	data  string
	state string
	mgr   *pluginmgr.Manager
	r     *Runner
	sc    *stripeapi.Client
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	if o.delay == nil {
		o.delay = func(string, int) time.Duration { return 30 * time.Millisecond }
	}
	e := &env{t: t, data: t.TempDir(), state: t.TempDir()}
	e.emu = emulator.New(emulator.Options{
		ProcessingDelay: o.delay,
		RowChecker: func(kind string, header, row []string) []string {
			k, err := feed.ParseKind(kind)
			if err != nil {
				return []string{err.Error()}
			}
			var msgs []string
			for _, p := range feed.Check(k, header, row) {
				msgs = append(msgs, p.String())
			}
			if o.reject != nil {
				msgs = append(msgs, o.reject(kind, header, row)...)
			}
			return msgs
		},
	})
	base, err := e.emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.emu.Close() })
	e.sc, err = stripeapi.New(stripeapi.Config{Key: "sk_test_syncjob", URL: base, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if o.openStore == nil {
		o.openStore = storeCases(t)[0].open
	}
	e.st = o.openStore(t, e.state)
	t.Cleanup(func() { _ = e.st.Close() })
	e.writeData("products.csv", "id,title\n") // replaced by the test; Configure needs the file
	e.mgr = pluginmgr.New(pluginmgr.Options{Logger: testLogger(t), HostVersion: "test"})
	t.Cleanup(func() { e.mgr.Stop(context.Background()) })
	cfg := fmt.Sprintf(`{"dir":%q,"currency":"USD"}`, e.data)
	if err := e.mgr.Start(context.Background(), []pluginmgr.Spec{{Name: "csvdir", Path: filepath.Join(pluginDir, "csvdir"),
		ConfigJSON: []byte(cfg), ConfigSource: "test.yaml:1", WorkDir: e.data,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, CallTimeout: 10 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	if o.maxPartBytes == 0 {
		o.maxPartBytes = DefaultMaxPartBytes
	}
	e.r = New(Options{
		Store: e.st, Stripe: e.sc, UploadAPI: o.api, Plugin: e.mgr.Get, StateDir: e.state,
		Logger: testLogger(t), MaxPartBytes: o.maxPartBytes, PollInterval: 20 * time.Millisecond,
		UploaderOptions: stripeapi.UploaderOptions{Backoff: func(int) time.Duration { return 10 * time.Millisecond }},
	})
	return e
}

// writeData writes a file into the plugin's directory, making sure its
// modification time moves (csvdir's cursor includes it).
func (e *env) writeData(name, content string) {
	e.t.Helper()
	p := filepath.Join(e.data, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	mt := time.Now().Add(time.Duration(len(content)) * time.Millisecond)
	_ = os.Chtimes(p, mt, mt)
}

func job(typ string) *config.Job {
	return &config.Job{Type: typ, Plugin: "csvdir", Name: typ}
}

func (e *env) run(j *config.Job) Result {
	e.t.Helper()
	res, err := e.r.Run(context.Background(), j)
	if err != nil {
		e.t.Fatalf("Run(%s): %v", j.Name, err)
	}
	e.t.Logf("summary: %s", res.Summary())
	return res
}

// settle polls until no upload is pending at Stripe.
func (e *env) settle() {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := e.r.PollPending(context.Background()); err != nil {
			e.t.Fatalf("PollPending: %v", err)
		}
		pending, err := e.st.PendingUploads(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("uploads still pending: %+v", pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) accepted(job string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	if err := e.st.AcceptedHashes(context.Background(), job, func(id, h string) error { out[id] = h; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// product is a valid product row for the products.csv header below.
const productHeader = "id,title,description,link,image_link,brand,mpn,product_category,availability,inventory_quantity,price\n"

func product(id string, qty int, price string) string {
	return fmt.Sprintf("%s,Product %s,A fine product %s.,https://shop.example.com/p/%s,https://img.example.com/%s.jpg,Acme,MPN-%s,Home > Kitchen,in_stock,%d,%s\n",
		id, id, id, id, id, id, qty, price)
}

func products(rows ...string) string { return productHeader + strings.Join(rows, "") }

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

var _ io.Writer = (*syncBuffer)(nil)
