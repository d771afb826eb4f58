package e2e

// Real Shopify exports through the shopify plugin binary and the host's
// feed validator, the way a merchant runs `feed export` before going live:
// every variant row of an export must come out either as a valid feed row
// or as a rejected row whose reason names the file and the line.

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
)

// shopifySamples is ../shared/testdata/shopify relative to the repo root;
// the test is skipped when it is absent.
func shopifySamples(t *testing.T) (dir string, files []string) {
	t.Helper()
	dir = filepath.Join(repoDir, "..", "shared", "testdata", "shopify")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("no Shopify sample exports at %s (%v)", dir, err)
	}
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") && strings.HasSuffix(e.Name(), ".csv") {
			files = append(files, e.Name())
		}
	}
	if len(files) == 0 {
		t.Skipf("no *.csv in %s", dir)
	}
	return dir, files
}

// exportRows is what a reader of a Shopify export counts in it, by the
// rules of plugins/shopify/README.md: which lines must come out of a
// catalog export (variant rows of published products, and rows without a
// handle, which are rejected), and which are left out on purpose.
type exportRows struct {
	want      map[int]bool   // line -> must be a feed row or a reject
	sku       map[int]string // line -> the row's SKU, when it has one
	drafts    int            // variant rows of unpublished products
	imageOnly int            // later rows of a product that only add an image
}

// countVariantRows parses one export with its own reader.
func countVariantRows(t *testing.T, path string) exportRows {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1 // short rows are fine
	header, err := r.Read()
	if err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.Join(strings.Fields(strings.ToLower(strings.TrimPrefix(h, "\ufeff"))), " ")
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	// The first of the names a field has in the known dialects.
	idx := func(names ...string) int {
		for _, n := range names {
			if i, ok := col[n]; ok {
				return i
			}
		}
		return -1
	}
	handle := idx("handle", "url handle")
	if handle < 0 {
		t.Fatalf("%s: no handle column", path)
	}
	status, published := idx("status"), idx("published", "published on online store")
	sku := idx("variant sku", "sku")
	variantCols := []int{sku,
		idx("option1 value"), idx("option2 value"), idx("option3 value"),
		idx("variant price", "price"), idx("variant compare at price", "compare-at price"),
		idx("variant barcode", "barcode"), idx("variant inventory qty", "inventory quantity"),
		idx("variant image", "variant image url")}

	out := exportRows{want: map[int]bool{}, sku: map[int]string{}}
	cell := func(rec []string, i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	current, live := "", false
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		line, _ := r.FieldPos(0)
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue
		}
		h := cell(rec, handle)
		if h == "" {
			out.want[line] = true // rejected: no handle
			continue
		}
		if h != current { // a product's first row: its first variant
			current = h
			st, pub := strings.ToLower(cell(rec, status)), strings.ToLower(cell(rec, published))
			live = (st == "" || st == "active") && pub != "false"
		} else {
			isVariant := false
			for _, i := range variantCols {
				if cell(rec, i) != "" {
					isVariant = true
				}
			}
			if !isVariant {
				out.imageOnly++
				continue
			}
		}
		if !live {
			out.drafts++
			continue
		}
		out.want[line] = true
		if s := cell(rec, sku); s != "" {
			out.sku[line] = s
		}
	}
	return out
}

// goldenOrigins maps feed ids to the lines they came from, from the
// plugin's reviewed goldens (nil when there is no golden for the file).
func goldenOrigins(t *testing.T, file string) (ids map[string]int, rejects int) {
	t.Helper()
	dir := filepath.Join(repoDir, "plugins", "shopify", "testdata", "golden")
	data, err := os.ReadFile(filepath.Join(dir, file+".records.json"))
	if err != nil {
		return nil, 0
	}
	var recs []struct {
		Origin string            `json:"origin"`
		Fields map[string]string `json:"fields"`
	}
	if err := json.Unmarshal(data, &recs); err != nil {
		t.Fatalf("golden %s: %v", file, err)
	}
	ids = map[string]int{}
	for _, r := range recs {
		_, l, _ := strings.Cut(r.Origin, ":")
		n, err := strconv.Atoi(l)
		if err != nil {
			t.Fatalf("golden %s: origin %q", file, r.Origin)
		}
		ids[r.Fields["id"]] = n
	}
	var rej []json.RawMessage
	if data, err := os.ReadFile(filepath.Join(dir, file+".rejects.json")); err == nil {
		_ = json.Unmarshal(data, &rej)
	}
	return ids, len(rej)
}

func readCSV(t *testing.T, path string) (header []string, rows [][]string) {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(all) == 0 {
		return nil, nil
	}
	return all[0], all[1:]
}

// errorOriginRE is the start of an error report's message: file:line.
var errorOriginRE = regexp.MustCompile(`^([^:]+\.csv):(\d+): (\S.*)$`)

// checkReport checks an export's feed and error report against the lines
// that must come out of each file; ids maps feed ids to their line when
// known (per file), so every line is accounted for exactly once.
func checkReport(t *testing.T, feedPath, errorsPath string, want map[string]exportRows, ids map[string]map[string]int) {
	t.Helper()
	header, feedRows := readCSV(t, feedPath)
	if header == nil || header[0] != "id" {
		t.Fatalf("%s: no feed header: %v", feedPath, header)
	}
	errHeader, errRows := readCSV(t, errorsPath)
	if errRows != nil && (errHeader[0] != "stripe_error_message" || errHeader[1] != "id") {
		t.Fatalf("%s: header %v", errorsPath, errHeader[:2])
	}
	seen := map[string]string{} // file:line -> how it came out
	total := 0
	for _, w := range want {
		total += len(w.want)
	}
	for i, r := range errRows {
		m := errorOriginRE.FindStringSubmatch(r[0])
		if m == nil {
			t.Errorf("%s row %d: the reason must start with file:line: %q", errorsPath, i+2, r[0])
			continue
		}
		line, _ := strconv.Atoi(m[2])
		key := m[1] + ":" + m[2]
		w, ok := want[m[1]]
		if !ok || !w.want[line] {
			t.Errorf("%s row %d: %s is not a variant row of a published product: %q", errorsPath, i+2, key, r[0])
		}
		if prev, dup := seen[key]; dup {
			t.Errorf("%s comes out twice: %s and rejected (%q)", key, prev, m[3])
		}
		seen[key] = "rejected: " + m[3]
	}
	skuLines := map[string]string{} // sku -> file:line
	for f, w := range want {
		for l, s := range w.sku {
			skuLines[s] = f + ":" + strconv.Itoa(l)
		}
	}
	for _, r := range feedRows {
		id := r[0]
		key := ""
		for f, m := range ids {
			if l, ok := m[id]; ok {
				key = f + ":" + strconv.Itoa(l)
			}
		}
		if k, ok := skuLines[id]; ok {
			if key != "" && key != k {
				t.Errorf("feed id %s: the golden says %s, the SKU is on %s", id, key, k)
			}
			key = k
		}
		if key == "" {
			t.Errorf("feed id %q comes from no variant row this test can find (not a SKU, not in the plugin's goldens)", id)
			continue
		}
		f, l, _ := strings.Cut(key, ":")
		n, _ := strconv.Atoi(l)
		if !want[f].want[n] {
			t.Errorf("feed id %s comes from %s, which is not a variant row of a published product", id, key)
		}
		if prev, dup := seen[key]; dup {
			t.Errorf("%s comes out twice: %s and as feed id %s", key, prev, id)
		}
		seen[key] = "feed id " + id
	}
	var missing []string
	for f, w := range want {
		for l := range w.want {
			if _, ok := seen[f+":"+strconv.Itoa(l)]; !ok {
				missing = append(missing, f+":"+strconv.Itoa(l))
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d variant row(s) are neither in the feed nor in the error report: %s", len(missing), strings.Join(missing, ", "))
	}
	if len(feedRows)+len(errRows) != total {
		t.Errorf("feed rows %d + rejected rows %d != %d variant rows", len(feedRows), len(errRows), total)
	}
}

func feedValidate(t *testing.T, path string) string {
	t.Helper()
	out, errOut, err := cli(t, 30*time.Second, nil, "feed", "validate", path)
	if err != nil {
		t.Errorf("feed validate %s: %v\n%s%s", path, err, out, errOut)
	}
	return out
}

func TestShopifyExportsThroughTheHost(t *testing.T) {
	samples, files := shopifySamples(t)
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			dir := t.TempDir()
			src, _ := filepath.Abs(filepath.Join(samples, file))
			// The goldens' config: apparel.csv needs the category fallback.
			cfg := fmt.Sprintf(`version: 1
state: {dir: %s}
log: {level: warn}
plugins:
  shopify:
    path: %s
    config:
      export: %s
      store_url: https://shop.example.com
      product_category_fallback: "Apparel & Accessories > Clothing"
jobs:
  catalog: {type: catalog, plugin: shopify, schedule: "@daily"}
`, filepath.Join(dir, "state"), filepath.Join(binDir, "acs-plugin-shopify"), src)
			cfgPath := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			feedPath, errorsPath := filepath.Join(dir, "feed.csv"), filepath.Join(dir, "errors.csv")
			out, errOut, err := cli(t, 60*time.Second, []string{"STRIPE_SECRET_KEY="},
				"feed", "export", "--config", cfgPath, "--job", "catalog", "--out", feedPath, "--errors", errorsPath)
			if err != nil {
				t.Fatalf("feed export: %v\n%s%s", err, out, errOut)
			}
			rows := countVariantRows(t, src)
			ids, goldenRejects := goldenOrigins(t, file)
			if ids != nil && len(ids)+goldenRejects != len(rows.want) {
				t.Errorf("this test counts %d variant rows (%d drafts, %d image-only rows left out), the plugin's goldens %d records + %d rejects",
					len(rows.want), rows.drafts, rows.imageOnly, len(ids), goldenRejects)
			}
			checkReport(t, feedPath, errorsPath, map[string]exportRows{file: rows}, map[string]map[string]int{file: ids})
			feedValidate(t, feedPath)
			t.Logf("%s: %d variant rows (%d drafts, %d image-only left out): %s in %s",
				file, len(rows.want), rows.drafts, rows.imageOnly, strings.TrimSpace(out), time.Since(start).Round(time.Millisecond))
		})
	}
}

// configs/shopify.yaml, byte for byte, in a copy of the repo's layout
// (configs/ and bin/ side by side), with SHOPIFY_EXPORT pointing at the
// samples directory.
func TestShopifyExampleConfigUnchanged(t *testing.T) {
	samples, files := shopifySamples(t)
	root := t.TempDir()
	for _, d := range []string{"configs", "bin", "state"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	orig, err := os.ReadFile(filepath.Join(repoDir, "configs", "shopify.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(root, "configs", "shopify.yaml")
	if err := os.WriteFile(cfgPath, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(filepath.Join(binDir, "acs-plugin-shopify"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "acs-plugin-shopify"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	sum, err := pluginmgr.FileSHA256(filepath.Join(root, "bin", "acs-plugin-shopify"))
	if err != nil {
		t.Fatal(err)
	}
	lf := &pluginmgr.LockFile{Version: 1, Plugins: map[string]pluginmgr.LockEntry{"acs-plugin-shopify": {Name: "acs-plugin-shopify", SHA256: sum}}}
	if err := lf.Write(filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	absSamples, _ := filepath.Abs(samples)
	env := []string{"SHOPIFY_EXPORT=" + absSamples, "ACS_STATE_DIR=" + filepath.Join(root, "state"),
		"STRIPE_SECRET_KEY=", "STRIPE_WEBHOOK_SECRET=", "STRIPE_HOOK_SECRET=", "SHOPIFY_STORE_URL=", "SHOPIFY_CURRENCY=",
		"SHOPIFY_BRAND_FALLBACK=", "SHOPIFY_CATEGORY_FALLBACK=", "SHOPIFY_DEFAULT_SHIPPING=", "ACS_LISTEN="}
	want := map[string]exportRows{}
	total := 0
	for _, f := range files {
		want[f] = countVariantRows(t, filepath.Join(samples, f))
		total += len(want[f].want)
	}
	for _, job := range []string{"catalog", "inventory", "prices"} {
		feedPath, errorsPath := filepath.Join(root, job+".csv"), filepath.Join(root, job+"-errors.csv")
		out, errOut, err := cli(t, 60*time.Second, env, "feed", "export", "--config", cfgPath, "--job", job, "--out", feedPath, "--errors", errorsPath)
		if err != nil {
			t.Fatalf("feed export --job %s with configs/shopify.yaml: %v\n%s%s", job, err, out, errOut)
		}
		_, rows := readCSV(t, feedPath)
		if len(rows) == 0 {
			t.Errorf("%s: the sample exports give no valid row: %s", job, out)
		}
		feedValidate(t, feedPath)
		if job == "catalog" {
			// Every variant row of the six files: a feed row or a reject
			// naming its file and line. Ids are SKUs or derived; without
			// a per-file golden for the combined read, count them.
			_, errs := readCSV(t, errorsPath)
			for i, r := range errs {
				m := errorOriginRE.FindStringSubmatch(r[0])
				if m == nil {
					t.Errorf("%s row %d: the reason must start with file:line: %q", errorsPath, i+2, r[0])
					continue
				}
				if l, _ := strconv.Atoi(m[2]); !want[m[1]].want[l] {
					t.Errorf("%s row %d: %s:%s is not a variant row of a published product", errorsPath, i+2, m[1], m[2])
				}
			}
			if len(rows)+len(errs) != total {
				t.Errorf("catalog: %d feed rows + %d rejected rows != %d variant rows in %d files", len(rows), len(errs), total, len(files))
			}
		}
		t.Logf("%s: %s", job, strings.TrimSpace(out))
	}
}
