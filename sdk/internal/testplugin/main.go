// Command testplugin is a plugin whose behaviour tests steer through its
// config: how many records to stream and how slowly, and which SKUs panic.
// It exists to exercise the host's supervision through the real subprocess
// path; it is not shipped.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/acs-connector/acs-connector/sdk"
)

type config struct {
	Records    int    `json:"records"`
	BatchDelay string `json:"batch_delay"`
	PanicSKU   string `json:"panic_sku"`
	SlowSKU    string `json:"slow_sku"`
}

type testPlugin struct {
	sdk.UnimplementedPlugin
	mu     sync.Mutex
	cfg    config
	delay  time.Duration
	pushed map[string]string
}

func (p *testPlugin) Info() sdk.Info {
	return sdk.Info{Name: "testplugin", Version: "0.0.1", SampleConfig: "records: 10\nbatch_delay: 0s\n"}
}

func (p *testPlugin) Configure(_ context.Context, req *sdk.ConfigureRequest, resp *sdk.ConfigureResponse) error {
	var c config
	if err := req.Decode(&c, resp); err != nil {
		return err
	}
	d, err := time.ParseDuration(orDefault(c.BatchDelay, "0s"))
	if err != nil {
		resp.AddError("batch_delay", "%v", err)
		return nil
	}
	p.mu.Lock()
	p.cfg, p.delay = c, d
	p.mu.Unlock()
	sdk.Logger().Info("configured", "records", c.Records)
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (p *testPlugin) ReadCatalog(ctx context.Context, req *sdk.ReadRequest, w *sdk.RecordWriter) error {
	p.mu.Lock()
	n, delay := p.cfg.Records, p.delay
	p.mu.Unlock()
	cols := []string{"id", "title", "price"}
	for i := 0; i < n; i++ {
		if err := w.WriteValues(fmt.Sprintf("test:%d", i+1), cols, []string{fmt.Sprintf("SKU-%d", i), "Item", "1.00 USD"}); err != nil {
			return err
		}
		if delay > 0 && (i+1)%100 == 0 {
			time.Sleep(delay)
		}
	}
	w.SetCursor(fmt.Sprintf("n=%d", n))
	return nil
}

func (p *testPlugin) CheckAvailability(ctx context.Context, req *sdk.AvailabilityRequest, resp *sdk.AvailabilityResponse) error {
	p.mu.Lock()
	cfg := p.cfg
	p.mu.Unlock()
	for _, it := range req.Items {
		// "ENV:NAME" reports the plugin's view of an environment variable,
		// so the host can test what it passes on.
		if name, ok := strings.CutPrefix(it.SKU, "ENV:"); ok {
			resp.Items = append(resp.Items, sdk.ItemAvailability{SKU: it.SKU, Reason: os.Getenv(name)})
			continue
		}
		if cfg.PanicSKU != "" && it.SKU == cfg.PanicSKU {
			panic("boom: " + it.SKU)
		}
		if cfg.SlowSKU != "" && it.SKU == cfg.SlowSKU {
			select {
			case <-time.After(10 * time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		resp.Items = append(resp.Items, sdk.ItemAvailability{SKU: it.SKU, Available: true, QuantityAvailable: 100})
	}
	return nil
}

func (p *testPlugin) PushOrder(ctx context.Context, req *sdk.PushOrderRequest, resp *sdk.PushOrderResponse) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pushed == nil {
		p.pushed = map[string]string{}
	}
	ref, ok := p.pushed[req.IdempotencyKey]
	if !ok {
		ref = fmt.Sprintf("T-%d", len(p.pushed)+1)
		p.pushed[req.IdempotencyKey] = ref
	}
	resp.Status, resp.BackendReference = sdk.Accepted, ref
	return nil
}

func main() { sdk.Serve(&testPlugin{}) }
