package hooks

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	"github.com/acs-connector/acs-connector/host/internal/testbin"
)

var binDir string

// TestMain builds the real plugin binaries the tests run as subprocesses.
func TestMain(m *testing.M) {
	testbin.Main(m, &binDir, map[string]string{"testplugin": "./sdk/internal/testplugin", "csvdir": "./plugins/csvdir"})
}

// startPlugin runs one plugin binary under a fresh manager. minBackoff
// steers how soon a killed plugin comes back.
func startPlugin(t testing.TB, name string, cfg any, minBackoff time.Duration) (*pluginmgr.Plugin, *testbin.RPCCounter) {
	t.Helper()
	cnt := &testbin.RPCCounter{}
	m := pluginmgr.New(pluginmgr.Options{DialOptions: cnt.Dial, HostVersion: "test"})
	t.Cleanup(func() { m.Stop(context.Background()) })
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec := pluginmgr.Spec{Name: name, Path: filepath.Join(binDir, name), ConfigJSON: raw, ConfigSource: "test.yaml:1",
		MinBackoff: minBackoff, MaxBackoff: 2 * minBackoff, CallTimeout: 10 * time.Second, StartTimeout: 20 * time.Second}
	if err := m.Start(context.Background(), []pluginmgr.Spec{spec}); err != nil {
		t.Fatal(err)
	}
	p, ok := m.Get(name)
	if !ok {
		t.Fatal("plugin not running")
	}
	return p, cnt
}

// csvdirConfig writes a small catalog and returns the plugin's config.
func csvdirConfig(t testing.TB) map[string]any {
	t.Helper()
	dir := t.TempDir()
	products := "id,title,description,link,image_link,availability,inventory_quantity,price\n" +
		"MUG-BLUE,Blue enamel mug,A mug.,https://shop.example.com/p/mug,https://img.example.com/mug.jpg,in_stock,12,12.00 USD\n" +
		"TEE-L,Organic tee,A tee.,https://shop.example.com/p/tee,https://img.example.com/tee.jpg,out_of_stock,0,25.00 USD\n"
	if err := os.WriteFile(filepath.Join(dir, "products.csv"), []byte(products), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"outbox", "inbox"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]any{
		"dir": dir, "outbox": filepath.Join(dir, "outbox"), "inbox": filepath.Join(dir, "inbox"),
		"shipping_options": []map[string]any{
			{"id": "standard", "name": "Standard shipping", "amount": "5.00", "currency": "USD", "countries": []string{"US"}, "min_days": 3, "max_days": 5},
			{"id": "express", "name": "Express <b>shipping</b>", "amount": "15.00", "currency": "USD", "countries": []string{"US"}, "min_days": 1, "max_days": 2},
		},
		"tax_rates": []map[string]any{{"country": "US", "state": "CA", "name": "California sales tax", "percentage": 7.25}},
	}
}
