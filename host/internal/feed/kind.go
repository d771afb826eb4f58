package feed

import (
	"fmt"
	"strings"
)

// Kind is one of Stripe's catalog feed types.
type Kind int

// The feed kinds Stripe accepts for ACS catalogs.
const (
	Product Kind = iota + 1
	Inventory
	Price
)

// ParseKind accepts "product" (or "catalog"), "inventory" and "price" (or
// "pricing"), case-insensitively.
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "product", "products", "catalog":
		return Product, nil
	case "inventory":
		return Inventory, nil
	case "price", "prices", "pricing":
		return Price, nil
	}
	return 0, fmt.Errorf("unknown feed kind %q (want product, inventory or price)", s)
}

// String returns "product", "inventory" or "price".
func (k Kind) String() string {
	switch k {
	case Product:
		return "product"
	case Inventory:
		return "inventory"
	case Price:
		return "price"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// StandardDataFormat is the standard_data_format of the legacy ImportSet API
// (POST /v1/data_management/import_sets). "price_feed" comes from the seller
// guide and is not confirmed by any other public source.
func (k Kind) StandardDataFormat() string {
	switch k {
	case Product:
		return "product_catalog_feed"
	case Inventory:
		return "inventory_feed"
	case Price:
		return "price_feed"
	}
	return ""
}

// V2FeedType is the feed_type of the v2 Product Catalog Import API
// (POST /v2/commerce/product_catalog/imports).
func (k Kind) V2FeedType() string {
	switch k {
	case Product:
		return "product"
	case Inventory:
		return "inventory"
	case Price:
		return "pricing"
	}
	return ""
}

func (k Kind) valid() bool { return k >= Product && k <= Price }
