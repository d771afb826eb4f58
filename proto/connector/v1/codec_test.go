package connectorv1

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func testBatches() []*RecordBatch {
	var packed []byte
	for i := 0; i < 300; i++ {
		packed = AppendPacked(packed, fmt.Sprintf("p.csv:%d", i+2), []string{fmt.Sprintf("SKU-%d", i), strings.Repeat("é", i), "1.00 USD"})
	}
	return []*RecordBatch{
		{},
		{Columns: []string{"id"}, Cursor: "c"},
		{Columns: []string{"id", "title", "price"}, Packed: packed, PackedCount: 300, Cursor: "off:9",
			Errors: []*RecordError{{Origin: "p.csv:1", Field: "price", Message: "bad", Partial: map[string]string{"id": "x"}}}},
		{Columns: []string{"id"}, Records: []*Record{{Values: []string{"A"}, Origin: "o"}}},
		{Columns: []string{"id"}, Packed: []byte{}, PackedCount: 0},
	}
}

// oddWire is wire with fields out of order, packed twice (last wins) and
// unknown fields of every wire type but groups.
func oddWire(wire []byte) []byte {
	odd := protowire.AppendTag(nil, 5, protowire.BytesType)
	odd = protowire.AppendBytes(odd, []byte("first"))
	odd = append(odd, wire...)
	odd = protowire.AppendTag(odd, 99, protowire.VarintType)
	odd = protowire.AppendVarint(odd, 7)
	odd = protowire.AppendTag(odd, 98, protowire.Fixed64Type)
	odd = protowire.AppendFixed64(odd, 1<<60)
	odd = protowire.AppendTag(odd, 97, protowire.Fixed32Type)
	return protowire.AppendFixed32(odd, 3)
}

// The codec must decode exactly what protobuf decodes.
func TestUnmarshalRecordBatchMatchesProto(t *testing.T) {
	for i, want := range testBatches() {
		wire, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		for j, in := range [][]byte{wire, oddWire(wire)} {
			var std, got RecordBatch
			if err := proto.Unmarshal(in, &std); err != nil {
				t.Fatal(err)
			}
			if err := UnmarshalRecordBatch(bytes.Clone(in), &got); err != nil {
				t.Fatalf("batch %d/%d: %v", i, j, err)
			}
			if !proto.Equal(&std, &got) || (std.Packed == nil) != (got.Packed == nil) {
				t.Errorf("batch %d/%d: got %v, want %v", i, j, &got, &std)
			}
			if !bytes.Equal(std.ProtoReflect().GetUnknown(), got.ProtoReflect().GetUnknown()) {
				t.Errorf("batch %d/%d: unknown fields differ", i, j)
			}
		}
	}
	for _, bad := range [][]byte{{0x2a, 0x05, 'a'}, {0x2a}, {0xff}} {
		if err := UnmarshalRecordBatch(bad, &RecordBatch{}); err == nil {
			t.Errorf("%x: want an error", bad)
		}
	}
}

// grpc recycles the frames' buffers once Unmarshal returns (unless it was
// given a reference): the batch must not point into them.
func TestCodecOwnsItsBuffer(t *testing.T) {
	want := testBatches()[2]
	wire, _ := proto.Marshal(want)
	pool := mem.DefaultBufferPool()
	var data mem.BufferSlice
	for off := 0; off < len(wire); off += 1000 { // several frames, as on the wire
		chunk := wire[off:min(off+1000, len(wire))]
		data = append(data, mem.Copy(chunk, pool))
	}
	var raw []*[]byte
	for _, b := range data {
		bs := b.ReadOnlyData()
		raw = append(raw, &bs)
	}
	var got RecordBatch
	if err := Codec().Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	// What grpc does next: free the frames; the pool reuses the memory.
	for i, b := range data {
		bs := *raw[i]
		b.Free()
		for k := range bs {
			bs[k] = 0xEE
		}
	}
	if !proto.Equal(want, &got) {
		t.Fatal("the decoded batch changed when grpc's buffers were reused")
	}
	var d BatchDecoder
	rows, bad, err := d.Decode(&got)
	if err != nil || len(bad) != 0 || len(rows) != 300 || rows[299].Values[0] != "SKU-299" {
		t.Fatalf("decode: %d rows, %v, %v", len(rows), bad, err)
	}
}

type streamServer struct {
	UnimplementedConnectorServer
	batches []*RecordBatch
}

func (s *streamServer) ReadCatalog(_ *ReadRequest, st grpc.ServerStreamingServer[RecordBatch]) error {
	for _, b := range s.batches {
		if err := st.Send(b); err != nil {
			return err
		}
	}
	return nil
}

// streamBatches makes 40 batches of 200 rows; titleLen(batch, row) sets each
// title's length.
func streamBatches(titleLen func(i, r int) int) []*RecordBatch {
	var batches []*RecordBatch
	for i := 0; i < 40; i++ {
		var packed []byte
		for r := 0; r < 200; r++ {
			packed = AppendPacked(packed, fmt.Sprintf("b%d:%d", i, r), []string{fmt.Sprintf("id-%d-%d", i, r), strings.Repeat("x", titleLen(i, r))})
		}
		batches = append(batches, &RecordBatch{Columns: []string{"id", "title"}, Packed: packed, PackedCount: 200, Cursor: fmt.Sprint(i)})
	}
	return batches
}

// readCatalogOver serves batches over an in-memory gRPC connection and
// opens a ReadCatalog stream on it with Codec in force.
func readCatalogOver(t *testing.T, batches []*RecordBatch) grpc.ServerStreamingClient[RecordBatch] {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	RegisterConnectorServer(srv, &streamServer{batches: batches})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///buf",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	st, err := NewConnectorClient(conn).ReadCatalog(context.Background(), &ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// End to end through grpc, with batches kept while later ones arrive (the
// host decodes one batch ahead): run with -race.
func TestCodecOverGRPC(t *testing.T) {
	batches := streamBatches(func(i, r int) int { return 100 + r })
	st := readCatalogOver(t, batches)
	var got []*RecordBatch
	var wg sync.WaitGroup
	for {
		b, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b)
		// Read the batch on another goroutine while the next arrives.
		wg.Add(1)
		go func(b *RecordBatch) {
			defer wg.Done()
			var d BatchDecoder
			if _, _, err := d.Decode(b); err != nil {
				t.Error(err)
			}
		}(b)
	}
	wg.Wait()
	if len(got) != len(batches) {
		t.Fatalf("%d batches, want %d", len(got), len(batches))
	}
	for i := range got {
		if !proto.Equal(got[i], batches[i]) {
			t.Fatalf("batch %d differs after the stream ended", i)
		}
	}
}

// splitFrames cuts wire into buffers of at most n bytes, as grpc hands a
// message over in HTTP/2 frames.
func splitFrames(wire []byte, n int) mem.BufferSlice {
	var data mem.BufferSlice
	for off := 0; off < len(wire); off += n {
		data = append(data, mem.Copy(wire[off:min(off+n, len(wire))], mem.DefaultBufferPool()))
	}
	return data
}

// A BatchBuffer must decode exactly what protobuf decodes, however the
// message is cut into frames, and whatever it held before.
func TestBatchBufferMatchesProto(t *testing.T) {
	var bb BatchBuffer
	for i, want := range testBatches() {
		wire, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		for j, in := range [][]byte{wire, oddWire(wire)} {
			var std RecordBatch
			if err := proto.Unmarshal(in, &std); err != nil {
				t.Fatal(err)
			}
			for _, frame := range []int{1, 3, 7, 1000, 1 << 20} {
				if err := Codec().Unmarshal(splitFrames(in, frame), &bb); err != nil {
					t.Fatalf("batch %d/%d, frames of %d: %v", i, j, frame, err)
				}
				got := bb.Batch
				if !proto.Equal(&std, got) || (std.Packed == nil) != (got.Packed == nil) {
					t.Errorf("batch %d/%d, frames of %d: got %v, want %v", i, j, frame, got, &std)
				}
				if !bytes.Equal(std.ProtoReflect().GetUnknown(), got.ProtoReflect().GetUnknown()) {
					t.Errorf("batch %d/%d, frames of %d: unknown fields differ", i, j, frame)
				}
			}
		}
	}
	for _, bad := range [][]byte{{0x2a, 0x05, 'a'}, {0x2a}, {0xff}, {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}} {
		for _, frame := range []int{1, 2, 100} {
			if err := Codec().Unmarshal(splitFrames(bad, frame), &bb); err == nil {
				t.Errorf("%x, frames of %d: want an error", bad, frame)
			}
		}
	}
}

// The point of a BatchBuffer: the next batch's rows go into the memory the
// last one used, and grpc's frames are not referenced after Unmarshal.
func TestBatchBufferReusesItsMemory(t *testing.T) {
	want := testBatches()[2]
	wire, _ := proto.Marshal(want)
	var bb BatchBuffer
	if err := Codec().Unmarshal(splitFrames(wire, 1000), &bb); err != nil {
		t.Fatal(err)
	}
	first := &bb.Batch.Packed[0]
	data := splitFrames(wire, 1000)
	var raw [][]byte
	for _, b := range data {
		raw = append(raw, b.ReadOnlyData())
	}
	if err := Codec().Unmarshal(data, &bb); err != nil {
		t.Fatal(err)
	}
	if &bb.Batch.Packed[0] != first {
		t.Error("the second batch's rows went into new memory")
	}
	for i, b := range data {
		b.Free()
		clear(raw[i]) // what the pool's next user might do
	}
	if !proto.Equal(want, bb.Batch) {
		t.Fatal("the batch changed when grpc's buffers were reused")
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := Codec().Unmarshal(splitFrames(wire, 16<<10), &bb); err != nil {
			t.Fatal(err)
		}
	})
	// The frames, and protobuf's columns, cursor and error, allocate; the
	// 17 KB of packed rows must not.
	frames := testing.AllocsPerRun(20, func() { _ = splitFrames(wire, 16<<10) })
	small := proto.Clone(want).(*RecordBatch)
	small.Packed = nil
	smallWire, _ := proto.Marshal(small)
	fields := testing.AllocsPerRun(20, func() { _ = proto.Unmarshal(smallWire, new(RecordBatch)) })
	if allocs > frames+fields {
		t.Errorf("%.0f allocations per receive, want at most %.0f (frames) + %.0f (protobuf's fields)", allocs, frames, fields)
	}
}

// Over a real stream, three BatchBuffers in turn, each decoded while the
// next arrives (as syncjob does): run with -race.
func TestBatchBuffersOverGRPC(t *testing.T) {
	batches := streamBatches(func(i, r int) int { return 100 + r + i })
	st := readCatalogOver(t, batches)
	var bufs [3]BatchBuffer
	var decs [3]BatchDecoder
	ch := make(chan int, 1)
	errc := make(chan error, 1)
	go func() {
		defer close(ch)
		for i := 0; ; i++ {
			if err := st.RecvMsg(&bufs[i%3]); err != nil {
				if err != io.EOF {
					errc <- err
				}
				return
			}
			ch <- i
		}
	}()
	n := 0
	for i := range ch {
		bb := &bufs[i%3]
		if !proto.Equal(bb.Batch, batches[i]) {
			t.Fatalf("batch %d differs", i)
		}
		rows, _, err := decs[i%3].Decode(bb.Batch)
		if err != nil || len(rows) != 200 || rows[199].Values[0] != fmt.Sprintf("id-%d-199", i) {
			t.Fatalf("batch %d: %d rows, %v", i, len(rows), err)
		}
		n++
	}
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	if n != len(batches) {
		t.Fatalf("%d batches, want %d", n, len(batches))
	}
}

// Whatever the bytes and however they are framed, a BatchBuffer agrees with
// protobuf: the same error or the same message.
func FuzzBatchBuffer(f *testing.F) {
	for _, b := range testBatches() {
		wire, _ := proto.Marshal(b)
		f.Add(wire, uint8(7))
	}
	f.Add([]byte{0x2a, 0x05, 'a'}, uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, frame uint8) {
		var std RecordBatch
		stdErr := proto.Unmarshal(in, &std)
		var bb BatchBuffer
		err := Codec().Unmarshal(splitFrames(in, int(frame)+1), &bb)
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("error %v, protobuf's %v", err, stdErr)
		}
		if err == nil && !proto.Equal(&std, bb.Batch) {
			t.Fatalf("got %v, want %v", bb.Batch, &std)
		}
	})
}
