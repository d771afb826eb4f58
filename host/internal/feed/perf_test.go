package feed

import (
	"encoding/csv"
	"io"
	"strconv"
	"testing"
)

func TestSchemaCheckDoesNotAllocate(t *testing.T) {
	for _, k := range []Kind{Product, Inventory, Price} {
		header := Columns(k)
		s, err := NewSchema(k, header)
		if err != nil {
			t.Fatal(err)
		}
		rows := [][]string{rowFor(header, base(k))}
		if k == Product {
			rows = append(rows,
				rowFor(header, with(baseProduct(), "delete", "true")),
				rowFor(header, with(baseProduct(), "inventory_not_tracked", "true", "inventory_quantity", "",
					"availability", "preorder", "availability_date", "2026-10-01T09:30:00+02:00",
					"brand", "", "google_product_category", "Media > Books", "gtin", "", "title", "Ünïcödé "+string(make([]byte, 0)),
					"shipping", "US:94*-95*:Standard:5.00 USD", "free_shipping_threshold", "",
					"applicable_fees", "US:ALL:Fee:1 USD:per_item", "product_warning", "prop_65:WARNING: x,legal_disclaimer:y")),
			)
		}
		for i, row := range rows {
			if ps := s.Check(row, nil); len(ps) != 0 {
				t.Fatalf("%v row %d invalid: %v", k, i, ps)
			}
			var dst []Problem
			allocs := testing.AllocsPerRun(200, func() {
				dst = s.Check(row, dst[:0])
			})
			if allocs != 0 {
				t.Errorf("%v row %d: Schema.Check allocates %.1f times per valid row", k, i, allocs)
			}
		}
	}
}

// withCheckDigit appends the GS1 check digit to a GTIN payload.
func withCheckDigit(payload string) string {
	sum, w := 0, 3
	for i := len(payload) - 1; i >= 0; i-- {
		sum += int(payload[i]-'0') * w
		w = 4 - w
	}
	return payload + strconv.Itoa((10-sum%10)%10)
}

// benchRecords returns n realistic product records sharing one Columns
// slice. Per-product fields (id, gtin, mpn, title, description, links,
// images, group, color, size, stock, price) differ on every row, like a
// real catalog; shop-wide fields (brand, category, shipping, fees, tax code)
// repeat, like a real catalog.
func benchRecords(n int) []Record {
	cols := Columns(Product)
	base := baseProduct()
	colors := []string{"Blue", "White", "Pink", "Striped Navy"}
	sizes := []string{"XS", "S", "M", "L", "XL", "XXL"}
	recs := make([]Record, n)
	for i := range recs {
		num := strconv.Itoa(100000 + i)
		base["id"] = "SKU-" + num
		base["gtin"] = withCheckDigit("4006381" + num[1:])
		base["mpn"] = "OX-" + num
		base["title"] = "Classic Oxford Shirt " + colors[i%4] + " " + sizes[i%6] + " no. " + num
		base["description"] = "Style " + num + ". " + baseProduct()["description"]
		base["link"] = "https://shop.example.com/products/oxford-shirt-" + num + "?variant=" + num
		base["image_link"] = "https://cdn.example.com/img/oxford-" + num + ".jpg"
		base["additional_image_link"] = "https://cdn.example.com/img/oxford-" + num + "-2.jpg,https://cdn.example.com/img/oxford-" + num + "-3.jpg"
		base["item_group_id"] = "OX-" + strconv.Itoa(i/24)
		base["color"] = colors[i%4]
		base["size"] = sizes[i%6]
		base["inventory_quantity"] = strconv.Itoa(i % 97)
		base["price"] = strconv.Itoa(40+i%20) + ".00 USD"
		base["sale_price"] = strconv.Itoa(30+i%10) + ".00 USD"
		base["related_products"] = "cross_sell:SKU-" + strconv.Itoa(200000+i) + ",accessory:SKU-" + strconv.Itoa(300000+i)
		recs[i] = Record{Origin: "bench", Columns: cols, Values: rowFor(cols, base)}
	}
	return recs
}

type discardCloser struct{ io.Writer }

func (discardCloser) Close() error { return nil }

func BenchmarkBuilder(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		recs := benchRecords(n)
		b.Run("rows="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			open := func(int) (io.WriteCloser, error) { return discardCloser{io.Discard}, nil }
			var bytes int64
			for b.Loop() {
				bl, err := NewBuilder(Product, open, io.Discard, Options{MaxPartBytes: DefaultMaxPartBytes})
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range recs {
					if ok, err := bl.Add(r); !ok || err != nil {
						b.Fatal(ok, err, bl.LastProblems())
					}
				}
				st, err := bl.Close()
				if err != nil {
					b.Fatal(err)
				}
				bytes = st.Bytes
			}
			b.SetBytes(bytes)
		})
	}
}

// BenchmarkPlainCSV is the baseline: encoding/csv writing the same rows with
// no validation at all.
func BenchmarkPlainCSV(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		recs := benchRecords(n)
		b.Run("rows="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			var cw countWriter
			for b.Loop() {
				cw = 0
				w := csv.NewWriter(&cw)
				if err := w.Write(recs[0].Columns); err != nil {
					b.Fatal(err)
				}
				for _, r := range recs {
					if err := w.Write(r.Values); err != nil {
						b.Fatal(err)
					}
				}
				w.Flush()
			}
			b.SetBytes(int64(cw))
		})
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
