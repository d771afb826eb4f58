// Package bridge lets sdk/sdktest reach the SDK's gRPC server constructor
// without exporting protobuf types from the author-facing sdk package.
package bridge

import pb "github.com/acs-connector/acs-connector/proto/connector/v1"

// NewServer is set by package sdk's init.
var NewServer func(plugin any) pb.ConnectorServer
