// Command acs-plugin-csvdir is the acs-connector backend for a directory of
// CSV files: the catalog from products.csv (plus inventory.csv and
// prices.csv), paid orders written as JSON files to an outbox, and order
// updates read from an inbox. See README.md.
package main

import "github.com/acs-connector/acs-connector/sdk"

func main() { sdk.Serve(New()) }
