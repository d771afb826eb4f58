package testbin

import (
	"context"
	"strings"
	"sync"

	"google.golang.org/grpc"
)

// RPCCounter counts the unary RPCs the host makes to plugins, by method
// name ("CheckAvailability", "PushOrder"), so tests can assert how often a
// plugin was asked. Use Dial as pluginmgr.Options.DialOptions.
type RPCCounter struct {
	mu sync.Mutex
	n  map[string]int
}

// Dial returns the dial options that count calls.
func (c *RPCCounter) Dial(string) []grpc.DialOption {
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		c.mu.Lock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[method[strings.LastIndexByte(method, '/')+1:]]++
		c.mu.Unlock()
		return invoker(ctx, method, req, reply, cc, opts...)
	})}
}

// Get returns how many calls of method were made.
func (c *RPCCounter) Get(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}
