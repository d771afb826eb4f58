package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the SQLite run")

var examples = []struct {
	name       string
	inStockSKU string
}{
	{"saleor", "MONO-TEE-S"},
	{"northwind", "NW-1"},
}

// TestAcceptance runs the SDK's acceptance suite against both examples on
// SQLite and PostgreSQL.
func TestAcceptance(t *testing.T) {
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			forEachDriver(t, func(t *testing.T, driver string) {
				t.Parallel()
				_, cfg := loadExample(t, ex.name, driver)
				sdktest.Run(t, sdktest.Acceptance{
					New:        func(*testing.T) sdk.Plugin { return newPlugin() },
					Config:     cfg,
					InStockSKU: ex.inStockSKU,
				})
			})
		})
	}
}

// golden is one record as stored in testdata.
type golden struct {
	Origin string            `json:"origin"`
	Fields map[string]string `json:"fields"`
}

// TestGolden reads every feed of both examples and compares the records
// with testdata/<example>_<feed>.golden.json. SQLite and PostgreSQL must
// produce the same records: the queries are portable and the value
// conversion (numeric, real, boolean, date) is the same for both.
func TestGolden(t *testing.T) {
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			forEachDriver(t, func(t *testing.T, driver string) {
				t.Parallel()
				_, cfg := loadExample(t, ex.name, driver)
				c := start(t, cfg)
				for _, kind := range []struct {
					name string
					k    sdktest.Kind
				}{{"catalog", sdktest.Catalog}, {"inventory", sdktest.Inventory}, {"prices", sdktest.Prices}} {
					res, err := c.Read(context.Background(), kind.k, "")
					if err != nil {
						t.Fatalf("read %s: %v", kind.name, err)
					}
					if len(res.Rejects) > 0 {
						t.Errorf("read %s rejected rows: %+v", kind.name, res.Rejects)
					}
					got := make([]golden, len(res.Records))
					for i, r := range res.Records {
						got[i] = golden{Origin: r.Origin, Fields: r.Fields}
					}
					path := filepath.Join("testdata", ex.name+"_"+kind.name+".golden.json")
					if *update && driver == driverSQLite {
						b, _ := json.MarshalIndent(got, "", "  ")
						if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
							t.Fatal(err)
						}
					}
					b, err := os.ReadFile(path)
					if err != nil {
						t.Fatalf("%v (run with -update to create it)", err)
					}
					var want []golden
					if err := json.Unmarshal(b, &want); err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						gb, _ := json.MarshalIndent(got, "", "  ")
						t.Errorf("%s %s differs from %s:\n%s", driver, kind.name, path, gb)
					}
				}
			})
		})
	}
}

// TestHostConfigs checks that configs/sql-*.yaml hold a plugin block that
// configures against its example database, and that the block matches the
// example's queries.
func TestHostConfigs(t *testing.T) {
	for _, hc := range []struct {
		file, example, driver string
	}{
		{"sql-sqlite.yaml", "northwind", driverSQLite},
		{"sql-postgres.yaml", "saleor", driverPostgres},
	} {
		t.Run(hc.file, func(t *testing.T) {
			if hc.driver == driverPostgres {
				pgAdminDSN(t)
			}
			d, _ := loadExample(t, hc.example, hc.driver)
			raw, err := os.ReadFile(filepath.Join("..", "..", "configs", hc.file))
			if err != nil {
				t.Fatal(err)
			}
			expanded := expandEnv(string(raw), map[string]string{"ACS_SQL_DSN": d.dsn})
			var host struct {
				Version int
				Plugins map[string]struct {
					Path   string
					Config map[string]any
				}
				Jobs map[string]struct {
					Type, Plugin, Schedule string
				}
			}
			if err := yaml.Unmarshal([]byte(expanded), &host); err != nil {
				t.Fatal(err)
			}
			p, ok := host.Plugins["sql"]
			if !ok || p.Path != "bin/acs-plugin-sql" {
				t.Fatalf("plugins.sql with path bin/acs-plugin-sql expected, got %+v", host.Plugins)
			}
			if p.Config["driver"] != hc.driver || p.Config["dsn"] != d.dsn {
				t.Errorf("driver/dsn: got %v %v", p.Config["driver"], p.Config["dsn"])
			}
			if !reflect.DeepEqual(p.Config["queries"], exampleConfig(t, hc.example)["queries"]) {
				t.Errorf("the queries in configs/%s differ from examples/%s/config.yaml", hc.file, hc.example)
			}
			if _, errs := configure(t, p.Config); len(errs) > 0 {
				t.Errorf("Configure: %s", fieldErrors(errs))
			}
			for name, j := range host.Jobs {
				if j.Plugin != "sql" {
					t.Errorf("job %s runs plugin %q", name, j.Plugin)
				}
			}
		})
	}
}

var envRE = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}`)

// expandEnv expands ${VAR} and ${VAR:-default} like the host's loader.
func expandEnv(s string, env map[string]string) string {
	return envRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := envRE.FindStringSubmatch(m)
		if v, ok := env[sub[1]]; ok && v != "" {
			return v
		}
		return sub[2]
	})
}

func TestSampleConfigIsTheEmbeddedOne(t *testing.T) {
	b, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if newPlugin().Info().SampleConfig != string(b) || !strings.Contains(string(b), "queries:") {
		t.Error("Info().SampleConfig must be sample.yaml")
	}
}
