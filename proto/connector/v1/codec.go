package connectorv1

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	// Registers grpc's "proto" codec, which Codec delegates to.
	_ "google.golang.org/grpc/encoding/proto"
)

// Codec returns a gRPC codec, wire-compatible with grpc's "proto" codec, that
// receives a RecordBatch with one copy of its packed records instead of two,
// and a BatchBuffer with that one copy into memory reused from batch to
// batch.
//
// grpc's codec first gathers the message's HTTP/2 frames into one pooled
// buffer, then protobuf copies the packed field out of it into a fresh
// slice: about 650 bytes a row copied twice, the second copy ~10% of the
// host's CPU on a catalog export. Here the frames are gathered once into a
// slice the message then owns, and Packed points into it. Nothing refers to
// grpc's (pooled, recycled) buffers once Unmarshal returns, so the usual
// rule holds: the message is the caller's, whatever grpc does with the frames.
//
// Every other message, and every Marshal, goes to grpc's proto codec.
func Codec() encoding.CodecV2 { return batchCodec{encoding.GetCodecV2("proto")} }

type batchCodec struct{ encoding.CodecV2 }

func (c batchCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *RecordBatch:
		return UnmarshalRecordBatch(data.Materialize(), m)
	case *BatchBuffer:
		return m.receive(data)
	}
	return c.CodecV2.Unmarshal(data, v)
}

// BatchBuffer receives record batches into memory it keeps from one batch
// to the next: pass it to a stream's RecvMsg (with Codec in force) instead
// of calling Recv, and read the batch from Batch.
//
// A fresh slice per batch, as Recv gives, costs more than the copy into it:
// the GC must reclaim every slice, and on a VM the first write to each new
// page of heap is a page fault costing about as much as copying the page
// ten times over. A long read through a few BatchBuffers in turn touches
// the same few MiB throughout.
//
// Receiving into a BatchBuffer overwrites the rows of the batch it held
// before, and every string a BatchDecoder cut from them: the caller must be
// done with that batch first.
type BatchBuffer struct {
	// Batch is the last batch received; its Packed points into storage.
	Batch   *RecordBatch
	storage []byte
	rest    []byte
}

// receive copies the message from grpc's frames into b.storage, reused
// from batch to batch, and decodes it there: Packed points into storage, as
// it points into Materialize's slice for a RecordBatch.
func (b *BatchBuffer) receive(data mem.BufferSlice) error {
	if b.Batch == nil {
		b.Batch = new(RecordBatch)
	}
	n := data.Len()
	if cap(b.storage) < n {
		// Batches of one stream differ by a row or so in size; room for a
		// few more keeps the next one in.
		b.storage = make([]byte, n, n+n/8)
	}
	buf := b.storage[:n]
	data.CopyTo(buf)
	var err error
	b.rest, err = unmarshalRecordBatch(buf, b.Batch, b.rest[:0])
	return err
}

// UnmarshalRecordBatch is proto.Unmarshal for a RecordBatch, except that
// b.Packed aliases buf instead of copying it: buf must not change while b is
// in use.
func UnmarshalRecordBatch(buf []byte, b *RecordBatch) error {
	_, err := unmarshalRecordBatch(buf, b, nil)
	return err
}

// unmarshalRecordBatch is UnmarshalRecordBatch collecting the fields other
// than packed in rest (a reused scratch buffer), which it returns.
func unmarshalRecordBatch(buf []byte, b *RecordBatch, rest []byte) ([]byte, error) {
	var packed []byte
	hasPacked := false
	// Every field but packed goes through protobuf (its validation, unknown
	// fields, the legacy records form). They are small: columns, cursor,
	// count, errors. Collected only when packed is actually cut out, so a
	// batch without one costs nothing extra.
	restFrom := 0
	for pos := 0; pos < len(buf); {
		num, typ, n := protowire.ConsumeTag(buf[pos:])
		if n < 0 {
			return rest, fmt.Errorf("connectorv1: RecordBatch: %w", protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, buf[pos+n:])
		if m < 0 {
			return rest, fmt.Errorf("connectorv1: RecordBatch: %w", protowire.ParseError(m))
		}
		if num == 5 && typ == protowire.BytesType {
			v, k := protowire.ConsumeBytes(buf[pos+n:])
			if k < 0 {
				return rest, fmt.Errorf("connectorv1: RecordBatch: %w", protowire.ParseError(k))
			}
			// Last one wins, as in protobuf.
			packed, hasPacked = v, true
			rest = append(rest, buf[restFrom:pos]...)
			restFrom = pos + n + m
		}
		pos += n + m
	}
	if !hasPacked {
		return rest, proto.Unmarshal(buf, b)
	}
	rest = append(rest, buf[restFrom:]...)
	if err := proto.Unmarshal(rest, b); err != nil {
		return rest, err
	}
	// A zero-length packed field decodes to an empty (non-nil) slice in
	// protobuf; keep that.
	if packed == nil {
		packed = []byte{}
	}
	b.Packed = packed[:len(packed):len(packed)]
	return rest, nil
}
