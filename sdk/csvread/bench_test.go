package csvread

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"testing"
)

// productCSV returns a header and n product-feed rows shaped like the exports
// plugins stream: 25 columns, ~650 bytes a row, several quoted fields with
// commas inside and some with "" escapes.
func productCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("id,title,description,link,image_link,additional_image_link,availability,price,sale_price,brand,gtin,mpn,condition,google_product_category,product_type,color,size,material,gender,age_group,item_group_id,shipping,shipping_weight,custom_label_0,custom_label_1\n")
	colors := []string{"Black", "White", "Navy Blue", "Forest Green", "Red"}
	sizes := []string{"S", "M", "L", "XL", "One Size"}
	for i := range n {
		desc := fmt.Sprintf(`"Durable, lightweight everyday item #%d, made from recycled materials, lifetime warranty."`, i)
		title := fmt.Sprintf("Classic Cotton Crew T-Shirt %d", i)
		if i%5 == 0 {
			desc = fmt.Sprintf(`"Fits laptops up to 15"" wide, padded, water-resistant; model %d, ""Pro"" edition, 2-year warranty."`, i)
			title = fmt.Sprintf(`"Laptop Sleeve 15"", Model %d"`, i)
		}
		fmt.Fprintf(&b, "SKU-%07d,%s,%s,https://shop.example.com/products/item-%d,https://cdn.example.com/images/item-%d/main.jpg,"+
			`"https://cdn.example.com/images/item-%d/alt1.jpg,https://cdn.example.com/images/item-%d/alt2.jpg,https://cdn.example.com/images/item-%d/alt3.jpg"`+
			",in_stock,%d.99 USD,%d.49 USD,Acme Apparel,%013d,ACM-%06d,new,"+
			`"Apparel & Accessories > Clothing > Shirts & Tops"`+
			",\"Men's Clothing, Tops, T-Shirts\",%s,%s,100%% Cotton,male,adult,GRP-%05d,"+
			`"US:ALL:Standard:3-5:5.00 USD,US:ALL:Express:1-2:15.00 USD"`+
			",0.4 lb,summer-sale,bestseller\n",
			i, title, desc, i, i, i, i, i, 10+i%90, 9+i%90, 4000000000000+i, i, colors[i%len(colors)], sizes[i%len(sizes)], i/3)
	}
	return b.Bytes()
}

const benchRows = 100_000

func benchData(b *testing.B) []byte {
	b.Helper()
	data := productCSV(benchRows)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	return data
}

func reportPerRow(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(benchRows+1), "ns/row")
}

type recordReader interface{ Read() ([]string, error) }

// benchReads reads the benchmark data to the end with a reader from open,
// once per iteration.
func benchReads(b *testing.B, open func(io.Reader) recordReader) {
	data := benchData(b)
	src := bytes.NewReader(data)
	for b.Loop() {
		src.Reset(data)
		r := open(src)
		n := 0
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n += len(rec)
		}
		if n != 25*(benchRows+1) {
			b.Fatalf("read %d fields", n)
		}
	}
	reportPerRow(b)
}

func BenchmarkRead(b *testing.B) {
	benchReads(b, func(src io.Reader) recordReader { return NewReader(src) })
}

func BenchmarkEncodingCSV(b *testing.B) {
	benchReads(b, func(src io.Reader) recordReader {
		r := csv.NewReader(src)
		r.FieldsPerRecord = -1
		r.ReuseRecord = true
		return r
	})
}

func TestProductCSVShape(t *testing.T) {
	data := productCSV(1000)
	r := NewReader(bytes.NewReader(data))
	rows := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(rec) != 25 {
			t.Fatalf("row %d has %d fields: %q", rows, len(rec), rec)
		}
		rows++
	}
	if avg := len(data) / rows; avg < 550 || avg > 750 {
		t.Errorf("average row is %d bytes, want ~650", avg)
	}
	if !strings.Contains(string(data), `""`) {
		t.Error("no escaped quotes in benchmark data")
	}
}
