package pluginmgr

import (
	"context"
	"io"

	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
	"github.com/acs-connector/acs-connector/proto/protocol"
)

// ReadKind selects a record stream.
type ReadKind int

const (
	ReadCatalog ReadKind = iota + 1
	ReadInventory
	ReadPrices
)

func (k ReadKind) method() string {
	switch k {
	case ReadCatalog:
		return "ReadCatalog"
	case ReadInventory:
		return "ReadInventory"
	}
	return "ReadPrices"
}

// RecordStream yields record batches until io.EOF.
type RecordStream struct {
	p      *Plugin
	method string
	gen    int
	recv   func(m any) error // the grpc stream's RecvMsg
	cancel context.CancelFunc
}

// Next returns the next batch, io.EOF at the end, or a typed error: a plugin
// that dies mid-stream yields ErrUnavailable. Streams are never retried by
// the manager, since a half-read catalog restarted silently would be wrong;
// the job fails and its next run starts over.
func (s *RecordStream) Next() (*pb.RecordBatch, error) {
	b := new(pb.RecordBatch)
	if err := s.receive(b); err != nil {
		return nil, err
	}
	return b, nil
}

// NextInto is Next into a pb.BatchBuffer, which keeps its memory from one
// batch to the next: the batch it held before, and every row decoded from
// it, is overwritten. bb.Batch is the batch received.
func (s *RecordStream) NextInto(bb *pb.BatchBuffer) error { return s.receive(bb) }

func (s *RecordStream) receive(m any) error {
	err := s.recv(m)
	if err == io.EOF {
		s.cancel()
		return io.EOF
	}
	if err != nil {
		s.cancel()
		return s.p.classify(s.method, s.gen, err)
	}
	return nil
}

// Close abandons the stream.
func (s *RecordStream) Close() { s.cancel() }

// Read opens a record stream.
func (p *Plugin) Read(ctx context.Context, kind ReadKind, cursor string, batchSize int) (*RecordStream, error) {
	conn, gen, err := p.connect(ctx)
	if err != nil {
		return nil, &CallError{Plugin: p.spec.Name, Method: kind.method(), Err: err}
	}
	sctx, cancel := context.WithCancel(ctx)
	req := &pb.ReadRequest{Cursor: cursor, BatchSize: int32(batchSize), PackedRepeats: true}
	s := &RecordStream{p: p, method: kind.method(), gen: gen, cancel: cancel}
	switch kind {
	case ReadCatalog:
		st, err := conn.ReadCatalog(sctx, req)
		if err != nil {
			cancel()
			return nil, p.classify(s.method, gen, err)
		}
		s.recv = st.RecvMsg
	case ReadInventory:
		st, err := conn.ReadInventory(sctx, req)
		if err != nil {
			cancel()
			return nil, p.classify(s.method, gen, err)
		}
		s.recv = st.RecvMsg
	default:
		st, err := conn.ReadPrices(sctx, req)
		if err != nil {
			cancel()
			return nil, p.classify(s.method, gen, err)
		}
		s.recv = st.RecvMsg
	}
	return s, nil
}

// CheckAvailability is idempotent: retried once across a plugin restart.
func (p *Plugin) CheckAvailability(ctx context.Context, req *pb.CheckAvailabilityRequest) (*pb.CheckAvailabilityResponse, error) {
	return callIdempotent(ctx, p, "CheckAvailability", func(ctx context.Context, c *protocol.Conn) (*pb.CheckAvailabilityResponse, error) {
		return c.CheckAvailability(ctx, req)
	})
}

// CustomizeCheckout is idempotent: retried once across a plugin restart.
func (p *Plugin) CustomizeCheckout(ctx context.Context, req *pb.CustomizeCheckoutRequest) (*pb.CustomizeCheckoutResponse, error) {
	return callIdempotent(ctx, p, "CustomizeCheckout", func(ctx context.Context, c *protocol.Conn) (*pb.CustomizeCheckoutResponse, error) {
		return c.CustomizeCheckout(ctx, req)
	})
}

// PushOrder is never retried here: the order ledger decides when to try
// again, always with the same idempotency key.
func (p *Plugin) PushOrder(ctx context.Context, req *pb.PushOrderRequest) (*pb.PushOrderResponse, error) {
	return callOnce(ctx, p, "PushOrder", func(ctx context.Context, c *protocol.Conn) (*pb.PushOrderResponse, error) {
		return c.PushOrder(ctx, req)
	})
}

// ReadOrderUpdates is idempotent (updates stay until acknowledged).
func (p *Plugin) ReadOrderUpdates(ctx context.Context, limit int) (*pb.ReadOrderUpdatesResponse, error) {
	return callIdempotent(ctx, p, "ReadOrderUpdates", func(ctx context.Context, c *protocol.Conn) (*pb.ReadOrderUpdatesResponse, error) {
		return c.ReadOrderUpdates(ctx, &pb.ReadOrderUpdatesRequest{Limit: int32(limit)})
	})
}

// AckOrderUpdates is idempotent (acking twice is harmless).
func (p *Plugin) AckOrderUpdates(ctx context.Context, ids []string) error {
	_, err := callIdempotent(ctx, p, "AckOrderUpdates", func(ctx context.Context, c *protocol.Conn) (*pb.AckOrderUpdatesResponse, error) {
		return c.AckOrderUpdates(ctx, &pb.AckOrderUpdatesRequest{Ids: ids})
	})
	return err
}
