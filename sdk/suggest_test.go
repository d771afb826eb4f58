package sdk

import "testing"

func TestClosest(t *testing.T) {
	cols := []string{"id", "title", "inventory_quantity", "image_link", "price"}
	for _, c := range []struct {
		name string
		max  int
		want string
	}{
		{"Inventory-Quantity", 3, "inventory_quantity"}, // separators and case
		{"tittle", 3, "title"},                          // one edit
		{"imagelnk", 3, "image_link"},                   // two edits
		{"prise", 3, "price"},
		{"colour", 3, ""}, // nothing close
		{"titel", 2, ""},  // two edits, max 2 is exclusive
	} {
		if got := Closest(c.name, cols, c.max); got != c.want {
			t.Errorf("Closest(%q, max %d) = %q, want %q", c.name, c.max, got, c.want)
		}
	}
}
