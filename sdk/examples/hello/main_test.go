package main

import (
	"testing"

	"github.com/acs-connector/acs-connector/sdk"
	"github.com/acs-connector/acs-connector/sdk/sdktest"
)

func TestAcceptance(t *testing.T) {
	sdktest.Run(t, sdktest.Acceptance{
		New:        func(*testing.T) sdk.Plugin { return hello{} },
		Config:     map[string]any{},
		InStockSKU: "HELLO-1",
	})
}
