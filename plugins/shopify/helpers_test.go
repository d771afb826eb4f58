package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// samplesDir holds the real Shopify exports shared by the project's tests.
const samplesDir = "../../../shared/testdata/shopify"

// testDay pins the snapshot day, so sale windows are stable in goldens.
var testDay = time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)

func needSamples(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(samplesDir); err != nil {
		t.Skipf("Shopify sample exports not found at %s (%v): these tests need the shared test material", samplesDir, err)
	}
}

func testConfig(export string) map[string]any {
	return map[string]any{
		"export":    export,
		"store_url": "https://shop.example.com",
	}
}

func start(t *testing.T, cfg map[string]any) *sdktest.Client {
	t.Helper()
	p := newPlugin()
	p.fixedDay = testDay
	c := sdktest.Start(t, p)
	errs, err := c.Configure(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if len(errs) > 0 {
		t.Fatalf("Configure: %v", errs)
	}
	return c
}

func read(t *testing.T, cfg map[string]any, kind sdktest.Kind) *sdktest.ReadResult {
	t.Helper()
	res, err := start(t, cfg).Read(context.Background(), kind, "")
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return res
}

type goldenRecord struct {
	Origin string            `json:"origin"`
	Fields map[string]string `json:"fields"`
}

type goldenReject struct {
	Origin  string            `json:"origin"`
	Field   string            `json:"field"`
	Message string            `json:"message"`
	Partial map[string]string `json:"partial,omitempty"`
}

func recordsJSON(recs []sdk.Record) []byte {
	out := make([]goldenRecord, len(recs))
	for i, r := range recs {
		out[i] = goldenRecord{r.Origin, r.Fields}
	}
	return marshal(out)
}

func rejectsJSON(rejs []sdk.RecordError) []byte {
	out := make([]goldenReject, len(rejs))
	for i, r := range rejs {
		out[i] = goldenReject{r.Origin, r.Field, r.Message, r.Partial}
	}
	return marshal(out)
}

func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the current output; run go test -update and review the diff.\n%s", path, firstDiff(want, got))
	}
}

func firstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + string(w) + "\n  got:  " + string(g)
		}
	}
	return ""
}

// copyFile copies src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func idsOf(recs []sdk.Record) map[string]map[string]string {
	m := map[string]map[string]string{}
	for _, r := range recs {
		m[r.Fields[sdk.FieldID]] = r.Fields
	}
	return m
}
