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
// receives a RecordBatch with one copy of its packed records instead of two.
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
	b, ok := v.(*RecordBatch)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	return UnmarshalRecordBatch(data.Materialize(), b)
}

// UnmarshalRecordBatch is proto.Unmarshal for a RecordBatch, except that
// b.Packed aliases buf instead of copying it: buf must not change while b is
// in use.
func UnmarshalRecordBatch(buf []byte, b *RecordBatch) error {
	var packed []byte
	hasPacked := false
	// Every field but packed goes through protobuf (its validation, unknown
	// fields, the legacy records form). They are small: columns, cursor,
	// count, errors. Collected only when packed is actually cut out, so a
	// batch without one costs nothing extra.
	var rest []byte
	restFrom := 0
	for pos := 0; pos < len(buf); {
		num, typ, n := protowire.ConsumeTag(buf[pos:])
		if n < 0 {
			return fmt.Errorf("connectorv1: RecordBatch: %w", protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, buf[pos+n:])
		if m < 0 {
			return fmt.Errorf("connectorv1: RecordBatch: %w", protowire.ParseError(m))
		}
		if num == 5 && typ == protowire.BytesType {
			v, k := protowire.ConsumeBytes(buf[pos+n:])
			if k < 0 {
				return fmt.Errorf("connectorv1: RecordBatch: %w", protowire.ParseError(k))
			}
			// Last one wins, as in protobuf.
			packed, hasPacked = v, true
			rest = append(rest, buf[restFrom:pos]...)
			restFrom = pos + n + m
		}
		pos += n + m
	}
	if !hasPacked {
		return proto.Unmarshal(buf, b)
	}
	rest = append(rest, buf[restFrom:]...)
	if err := proto.Unmarshal(rest, b); err != nil {
		return err
	}
	// A zero-length packed field decodes to an empty (non-nil) slice in
	// protobuf; keep that.
	if packed == nil {
		packed = []byte{}
	}
	b.Packed = packed[:len(packed):len(packed)]
	return nil
}
