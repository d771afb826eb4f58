// Package protocol is the thin layer between the acs-connector wire protocol
// and hashicorp/go-plugin. It is the only package in the project that imports
// go-plugin: the SDK uses its server half, the host its client half, so both
// sides agree on the handshake, the plugin set and the message limits by
// construction.
package protocol

import (
	"github.com/hashicorp/go-plugin"
)

// PluginName is the key of the single service every plugin binary serves.
const PluginName = "connector"

// MaxMessageBytes bounds one gRPC message in either direction. Catalog data
// travels in batches well below this; the limit exists so a bad batch fails
// with ResourceExhausted instead of exhausting memory, and is set on both ends
// because go-plugin's default server would otherwise cap receives at 4 MB.
const MaxMessageBytes = 64 << 20

// Handshake guards against running a plugin binary by hand or running some
// other program as a plugin. The cookie is not a secret and must never change.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "ACS_CONNECTOR_PLUGIN",
	MagicCookieValue: "8f1d2c6e4b0a4f7e9c3d5a1b7e2f6c90a4d8b3e1f5c7a9d2e6b0c4f8a1d3e5b7",
}

// HostVersions are the application protocol majors this host build speaks,
// newest last. When v2 ships, v1 stays in this list for one major release so
// merchants can upgrade the host before their plugins.
var HostVersions = []int{1}

// PluginVersions are the majors a plugin built with this SDK speaks.
var PluginVersions = []int{1}
