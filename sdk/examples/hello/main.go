// Command hello is the smallest useful acs-connector plugin: a fixed catalog
// and an availability check, in a few lines. Copy it to start a new backend.
package main

import (
	"context"

	"github.com/acs-connector/acs-connector/sdk"
)

type hello struct{ sdk.UnimplementedPlugin }

var stock = map[string]int64{"HELLO-1": 3}

func (hello) Info() sdk.Info {
	return sdk.Info{Name: "hello", Version: "0.1.0", SampleConfig: "# hello takes no settings\n{}\n"}
}

func (hello) ReadCatalog(ctx context.Context, _ *sdk.ReadRequest, w *sdk.RecordWriter) error {
	return w.Write(sdk.Record{Origin: "hello:1", Fields: map[string]string{
		"id": "HELLO-1", "title": "Hello mug", "description": "A mug that says hello.",
		"link": "https://example.com/hello", "image_link": "https://example.com/hello.png",
		"brand": "Hello", "mpn": "HELLO-1", "product_category": "Home > Kitchen",
		"availability": sdk.InStock, "inventory_quantity": "3", "price": sdk.Money(1200, "usd"),
	}})
}

func (hello) CheckAvailability(ctx context.Context, req *sdk.AvailabilityRequest, resp *sdk.AvailabilityResponse) error {
	for _, it := range req.Items {
		n, ok := stock[it.SKU]
		a := sdk.ItemAvailability{SKU: it.SKU, Available: ok && n >= it.Quantity, QuantityAvailable: n}
		if !a.Available {
			a.Reason = "not in stock"
		}
		resp.Items = append(resp.Items, a)
	}
	return nil
}

func main() { sdk.Serve(hello{}) }
