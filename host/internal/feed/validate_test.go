package feed

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// readWant parses a .want file: "<row> <col,col>  # comment" lines.
func readWant(t *testing.T, path string) map[int]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[int]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		n, err := strconv.Atoi(fields[0])
		if err != nil {
			t.Fatalf("%s: bad row %q", path, fields[0])
		}
		cols := strings.Split(fields[1], ",")
		sort.Strings(cols)
		want[n] = strings.Join(cols, ",")
	}
	return want
}

func TestValidateFileTestdata(t *testing.T) {
	cases := []struct {
		file string
		kind Kind // 0 = detect
		want Kind
	}{
		{"product_rules.csv", 0, Product},
		{"product_rules.tsv", 0, Product},
		{"inventory.csv", 0, Inventory},
		{"price.csv", 0, Price},
		{"price.csv", Price, Price},
		{"delete_only.csv", 0, Product},
		{"duplicates.csv", 0, Inventory},
		{"ragged.csv", 0, Product},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			want := readWant(t, path+".want")
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rep, err := ValidateFile(f, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Kind != tc.want {
				t.Errorf("kind = %v, want %v", rep.Kind, tc.want)
			}
			if rep.TSV != strings.HasSuffix(tc.file, ".tsv") {
				t.Errorf("TSV = %v", rep.TSV)
			}
			got := map[int][]Problem{}
			for _, p := range rep.Problems {
				if p.Row < 1 || p.Row > rep.Rows {
					t.Errorf("problem row %d out of 1..%d", p.Row, rep.Rows)
				}
				got[p.Row] = append(got[p.Row], p)
			}
			rows := map[int]bool{}
			for r := range got {
				rows[r] = true
			}
			for r := range want {
				rows[r] = true
			}
			keys := make([]int, 0, len(rows))
			for r := range rows {
				keys = append(keys, r)
			}
			slices.Sort(keys)
			for _, r := range keys {
				if g := problemCols(got[r]); g != want[r] {
					t.Errorf("row %d: problem columns %q, want %q (%v)", r, g, want[r], got[r])
				}
			}
			if rep.Invalid != len(want) {
				t.Errorf("Invalid = %d, want %d", rep.Invalid, len(want))
			}
			if rep.OK() != (len(want) == 0) {
				t.Errorf("OK() = %v", rep.OK())
			}
		})
	}
}

func TestValidateFileErrors(t *testing.T) {
	cases := []struct {
		file string
		kind Kind
		want []string
	}{
		{"empty.csv", 0, []string{"empty file"}},
		{"blank.csv", 0, []string{"empty file"}},
		{"broken_quotes.csv", 0, []string{"lines 3-4", "after data row 1"}},
		{"not_a_feed.csv", 0, []string{"unknown columns", `"Handle"`, `"Title" (did you mean "title"?)`, "missing required columns id, title", "Shopify"}},
		{"woocommerce_inventory.csv", 0, []string{"inventory feed header", `"sku_id" (did you mean "id"?)`, "missing required columns id, availability"}},
		{"inventory.csv", Price, []string{"price feed header", "unknown columns", "missing required columns price"}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = ValidateFile(f, tc.kind)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestValidateFileSmall(t *testing.T) {
	for _, tc := range []struct {
		file     string
		rows     int
		kind     Kind
		wantKind Kind
	}{
		{"bom_crlf_price.csv", 1, 0, Price},
		{"header_only.csv", 0, 0, Product},
	} {
		f, err := os.Open(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := ValidateFile(f, tc.kind)
		f.Close()
		if err != nil || rep.Rows != tc.rows || !rep.OK() || rep.Kind != tc.wantKind {
			t.Errorf("%s: %+v, %v", tc.file, rep, err)
		}
	}
	if _, err := ValidateFile(strings.NewReader("id\n"), Kind(7)); err == nil {
		t.Error("invalid kind accepted")
	}
}

func TestValidateFileCapsProblems(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("id,availability,inventory_quantity\n")
	for i := 0; i < 1500; i++ {
		sb.WriteString("X" + strconv.Itoa(i) + ",nope,-1\n") // two problems per row
	}
	rep, err := ValidateFile(strings.NewReader(sb.String()), 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 1500 || rep.Invalid != 1500 || len(rep.Problems) != MaxReportProblems || rep.Omitted != 3000-MaxReportProblems {
		t.Errorf("rows %d invalid %d problems %d omitted %d", rep.Rows, rep.Invalid, len(rep.Problems), rep.Omitted)
	}
}

// sharedTestdata locates /work/shared/testdata relative to this package.
func sharedTestdata(t *testing.T) string {
	dir := filepath.Join("..", "..", "..", "..", "shared", "testdata")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared test data not found at %s", dir)
	}
	return dir
}

// Every CSV and JSON file under shared/testdata is something a user might
// hand to `feed validate`. None of them is a Stripe feed: each must fail with
// a clear header/format error, never panic or pass.
func TestValidateFileSharedTestdata(t *testing.T) {
	root := sharedTestdata(t)
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := filepath.Ext(path)
		if ext != ".csv" && ext != ".json" {
			return nil
		}
		n++
		t.Run(strings.TrimPrefix(path, root+string(filepath.Separator)), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = ValidateFile(f, 0)
			if err == nil {
				t.Fatal("accepted as a Stripe feed")
			}
			msg := err.Error()
			switch ext {
			case ".json":
				if !strings.Contains(msg, "JSON") {
					t.Errorf("JSON input: %q", msg)
				}
			case ".csv":
				for _, w := range []string{"unknown columns", "missing required columns id", "Shopify"} {
					if !strings.Contains(msg, w) {
						t.Errorf("%q lacks %q", msg, w)
					}
				}
			}
			t.Log(msg)
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Skip("no CSV or JSON files in shared test data")
	}
}
