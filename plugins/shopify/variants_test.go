package main

import (
	"bytes"
	"encoding/csv"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/acs-connector/acs-connector/sdk/sdktest"
)

// inputs are the exports the format-variant tests rewrite: the synthetic
// edge.csv always, and the shared samples when they are present.
func inputs(t *testing.T) []string {
	files := []string{filepath.Join("testdata", "edge.csv")}
	if _, err := os.Stat(samplesDir); err == nil {
		for _, s := range samples {
			files = append(files, filepath.Join(samplesDir, s.file))
		}
	} else {
		t.Logf("shared samples not found (%v); testing edge.csv only", err)
	}
	return files
}

func parseCSV(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func encodeCSV(t *testing.T, recs [][]string, crlf, bom bool) []byte {
	t.Helper()
	var b bytes.Buffer
	if bom {
		b.WriteString("\xEF\xBB\xBF")
	}
	w := csv.NewWriter(&b)
	w.UseCRLF = crlf
	if err := w.WriteAll(recs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readBytes writes data as dir/name (name kept so origins compare equal)
// and reads the catalog with the golden config.
func readBytes(t *testing.T, name string, data []byte) *sdktest.ReadResult {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return read(t, goldenConfig(path), sdktest.Catalog)
}

// TestLineEndingsAndBOM: CRLF, LF, and CRLF with a UTF-8 BOM versions of the
// same export (multi-line quoted cells included) give identical output.
func TestLineEndingsAndBOM(t *testing.T) {
	for _, in := range inputs(t) {
		name := filepath.Base(in)
		t.Run(name, func(t *testing.T) {
			orig, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			recs := parseCSV(t, in)
			want := readBytes(t, name, orig)
			for _, v := range []struct {
				label     string
				crlf, bom bool
			}{{"LF", false, false}, {"CRLF", true, false}, {"BOM+CRLF", true, true}, {"BOM+LF", false, true}} {
				got := readBytes(t, name, encodeCSV(t, recs, v.crlf, v.bom))
				if !bytes.Equal(recordsJSON(got.Records), recordsJSON(want.Records)) {
					t.Errorf("%s: records differ from the original file's", v.label)
				}
				if !bytes.Equal(rejectsJSON(got.Rejects), rejectsJSON(want.Rejects)) {
					t.Errorf("%s: rejects differ from the original file's", v.label)
				}
			}
		})
	}
}

// TestHeaderCase: headers match whatever their case and padding.
func TestHeaderCase(t *testing.T) {
	for _, in := range inputs(t) {
		name := filepath.Base(in)
		t.Run(name, func(t *testing.T) {
			recs := parseCSV(t, in)
			want := readBytes(t, name, encodeCSV(t, recs, false, false))
			for i, h := range recs[0] {
				switch i % 3 {
				case 0:
					recs[0][i] = strings.ToUpper(h)
				case 1:
					recs[0][i] = "  " + strings.ToLower(h) + " "
				default:
					recs[0][i] = strings.ReplaceAll(h, " ", "  ")
				}
			}
			got := readBytes(t, name, encodeCSV(t, recs, false, false))
			if !bytes.Equal(recordsJSON(got.Records), recordsJSON(want.Records)) {
				t.Errorf("records differ when the header's case and spacing change")
			}
			if len(got.Rejects) != len(want.Rejects) {
				t.Errorf("rejects: %d, want %d", len(got.Rejects), len(want.Rejects))
			}
			for i := range got.Rejects {
				if i < len(want.Rejects) && (got.Rejects[i].Origin != want.Rejects[i].Origin || got.Rejects[i].Field != want.Rejects[i].Field) {
					t.Errorf("reject %d: %s %s, want %s %s", i, got.Rejects[i].Origin, got.Rejects[i].Field, want.Rejects[i].Origin, want.Rejects[i].Field)
				}
			}
		})
	}
}

// TestStableIDs: shuffling the rows of each product (its first row stays
// first: it carries the product fields) changes no id and no field.
func TestStableIDs(t *testing.T) {
	for _, in := range inputs(t) {
		name := filepath.Base(in)
		t.Run(name, func(t *testing.T) {
			recs := parseCSV(t, in)
			h := resolveHeader(recs[0])
			want := readBytes(t, name, encodeCSV(t, recs, false, false))
			rng := rand.New(rand.NewSource(1))
			for round := 0; round < 3; round++ {
				out := [][]string{recs[0]}
				rows := recs[1:]
				for i := 0; i < len(rows); {
					j := i + 1
					handle := h.get(rows[i], fHandle)
					for j < len(rows) && handle != "" && h.get(rows[j], fHandle) == handle {
						j++
					}
					rest := append([][]string(nil), rows[i+1:j]...)
					rng.Shuffle(len(rest), func(a, b int) { rest[a], rest[b] = rest[b], rest[a] })
					out = append(out, rows[i])
					out = append(out, rest...)
					i = j
				}
				got := readBytes(t, name, encodeCSV(t, out, false, false))
				if g, w := idsOf(got.Records), idsOf(want.Records); !reflect.DeepEqual(g, w) {
					for id := range w {
						if _, ok := g[id]; !ok {
							t.Errorf("round %d: id %q missing after shuffling", round, id)
						} else if !reflect.DeepEqual(g[id], w[id]) {
							t.Errorf("round %d: %s differs after shuffling:\n got  %v\n want %v", round, id, g[id], w[id])
						}
					}
					if len(g) != len(w) {
						t.Errorf("round %d: %d ids, want %d", round, len(g), len(w))
					}
				}
				if len(got.Rejects) != len(want.Rejects) {
					t.Errorf("round %d: %d rejects, want %d", round, len(got.Rejects), len(want.Rejects))
				}
			}
		})
	}
}
