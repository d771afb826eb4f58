// Command futureplugin speaks only a protocol version newer than this host's,
// to test the version-skew error. It is not shipped.
package main

import (
	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
	"github.com/acs-connector/acs-connector/proto/protocol"
)

type server struct {
	pb.UnimplementedConnectorServer
}

func main() {
	latest := protocol.PluginVersions[len(protocol.PluginVersions)-1]
	protocol.Serve(protocol.ServeConfig{Impl: server{}, Versions: []int{latest + 1}})
}
