package protocol

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	connectorv1 "github.com/acs-connector/acs-connector/proto/connector/v1"
)

// grpcPlugin is the go-plugin glue for the Connector service. On the plugin
// side it registers Impl; on the host side it returns a typed client bound to
// the plugin process's lifetime.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl connectorv1.ConnectorServer
}

var _ plugin.GRPCPlugin = (*grpcPlugin)(nil)

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	connectorv1.RegisterConnectorServer(s, p.Impl)
	return nil
}

// Conn is what the host gets from Dispense: the typed client and a context
// that is cancelled when the plugin process exits.
type Conn struct {
	connectorv1.ConnectorClient
	Done context.Context
}

func (p *grpcPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &Conn{ConnectorClient: connectorv1.NewConnectorClient(c), Done: ctx}, nil
}

func pluginSets(versions []int, impl connectorv1.ConnectorServer) map[int]plugin.PluginSet {
	sets := make(map[int]plugin.PluginSet, len(versions))
	for _, v := range versions {
		sets[v] = plugin.PluginSet{PluginName: &grpcPlugin{Impl: impl}}
	}
	return sets
}

// ServeConfig configures the plugin side.
type ServeConfig struct {
	Impl connectorv1.ConnectorServer
	// Versions overrides PluginVersions; tests use it to build a plugin that
	// only speaks a newer protocol.
	Versions []int
	// LogOutput receives go-plugin's own log lines as hclog JSON. It must be
	// the process's real stderr captured before Serve, because Serve swaps
	// os.Stderr for a pipe into the gRPC stdio stream.
	LogOutput io.Writer
	// Test runs the server in-process and reports a reattach config.
	Test *TestConfig
}

// TestConfig runs a plugin server inside the calling process.
type TestConfig struct {
	Context  context.Context
	Reattach chan<- *plugin.ReattachConfig
	Closed   chan<- struct{}
}

// Serve runs the plugin server until the host disconnects or kills it.
func Serve(cfg ServeConfig) {
	versions := cfg.Versions
	if len(versions) == 0 {
		versions = PluginVersions
	}
	out := cfg.LogOutput
	if out == nil {
		out = os.Stderr
	}
	sc := &plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: pluginSets(versions, cfg.Impl),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts,
				grpc.MaxRecvMsgSize(MaxMessageBytes),
				grpc.MaxSendMsgSize(MaxMessageBytes),
				grpc.ChainUnaryInterceptor(recoverUnary),
				grpc.ChainStreamInterceptor(recoverStream),
			)
			return grpc.NewServer(opts...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       "plugin",
			Level:      hclog.Info,
			Output:     out,
			JSONFormat: true,
		}),
	}
	if cfg.Test != nil {
		sc.Test = &plugin.ServeTestConfig{
			Context:          cfg.Test.Context,
			ReattachConfigCh: cfg.Test.Reattach,
			CloseCh:          cfg.Test.Closed,
		}
	}
	plugin.Serve(sc)
}

// A panic in one handler must fail that call, not take the plugin (and every
// other in-flight call) down with it.
func recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(info.FullMethod, r)
		}
	}()
	return handler(ctx, req)
}

func recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(info.FullMethod, r)
		}
	}()
	return handler(srv, ss)
}

func panicError(method string, r any) error {
	// After Serve, os.Stderr is go-plugin's stdio stream, which the host logs
	// under the plugin's name.
	fmt.Fprintf(os.Stderr, "[ERROR] panic in %s: %v\n%s", method, r, debug.Stack())
	return status.Errorf(codes.Internal, "plugin panicked in %s: %v", method, r)
}
