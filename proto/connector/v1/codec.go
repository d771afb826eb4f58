package connectorv1

import (
	"errors"
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

// receive decodes data into b.Batch, copying the packed rows once, straight
// from grpc's frames into b.storage. The other fields (columns, cursor,
// errors: small) go through protobuf, so its validation and unknown-field
// handling apply as for any message.
func (b *BatchBuffer) receive(data mem.BufferSlice) error {
	if b.Batch == nil {
		b.Batch = new(RecordBatch)
	}
	f := frames{bufs: data}
	rest := b.rest[:0]
	var packed []byte
	hasPacked := false
	for !f.done() {
		start := f.mark()
		tag, err := f.uvarint()
		if err != nil {
			return b.fallback(data)
		}
		num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
		if !num.IsValid() {
			return b.fallback(data)
		}
		switch typ {
		case protowire.VarintType:
			_, err = f.uvarint()
		case protowire.Fixed32Type:
			err = f.skip(4)
		case protowire.Fixed64Type:
			err = f.skip(8)
		case protowire.BytesType:
			var l uint64
			if l, err = f.uvarint(); err == nil && l > uint64(f.remaining()) {
				err = errShort
			}
			if err == nil && num == 5 {
				// Last one wins, as in protobuf.
				if uint64(cap(b.storage)) < l {
					// Batches of one stream differ by a row or so in
					// size; room for a few more keeps the next one in.
					b.storage = make([]byte, l, l+l/8)
				}
				packed = b.storage[:l]
				if err := f.read(packed); err != nil {
					return b.fallback(data)
				}
				hasPacked = true
				continue
			}
			if err == nil {
				err = f.skip(int(l))
			}
		default:
			// Groups: proto3 never writes them; let protobuf judge.
			return b.fallback(data)
		}
		if err != nil {
			return b.fallback(data)
		}
		// The field as it came, so unknown fields keep their bytes.
		rest = f.appendSince(rest, start)
	}
	b.rest = rest
	if err := proto.Unmarshal(rest, b.Batch); err != nil {
		return err
	}
	if hasPacked {
		if packed == nil {
			packed = []byte{} // as protobuf decodes an empty bytes field
		}
		b.Batch.Packed = packed[:len(packed):len(packed)]
	}
	return nil
}

// fallback decodes what receive could not parse the way protobuf would,
// errors included.
func (b *BatchBuffer) fallback(data mem.BufferSlice) error {
	return UnmarshalRecordBatch(data.Materialize(), b.Batch)
}

// frames reads a message spread over grpc's buffers (one per HTTP/2 frame).
type frames struct {
	bufs mem.BufferSlice
	i    int // current buffer
	off  int // offset in it
}

var errShort = errors.New("message ends early")

func (f *frames) cur() []byte {
	for f.i < len(f.bufs) {
		if d := f.bufs[f.i].ReadOnlyData(); f.off < len(d) {
			return d[f.off:]
		}
		f.i, f.off = f.i+1, 0
	}
	return nil
}

func (f *frames) done() bool { return len(f.cur()) == 0 }

func (f *frames) remaining() int {
	n := len(f.cur())
	for _, b := range f.bufs[min(f.i+1, len(f.bufs)):] {
		n += b.Len()
	}
	return n
}

func (f *frames) uvarint() (uint64, error) {
	if c := f.cur(); len(c) >= binaryMaxVarint {
		v, n := protowire.ConsumeVarint(c)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		f.off += n
		return v, nil
	}
	// Near a frame's end: a byte at a time.
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		c := f.cur()
		if len(c) == 0 {
			return 0, errShort
		}
		f.off++
		if shift == 63 && c[0] > 1 {
			break // as protowire: the 10th byte may only hold bit 63
		}
		v |= uint64(c[0]&0x7f) << shift
		if c[0] < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("varint overflow")
}

const binaryMaxVarint = 10

// read fills dst.
func (f *frames) read(dst []byte) error {
	for len(dst) > 0 {
		c := f.cur()
		if len(c) == 0 {
			return errShort
		}
		n := copy(dst, c)
		dst, f.off = dst[n:], f.off+n
	}
	return nil
}

func (f *frames) skip(n int) error {
	for n > 0 {
		c := f.cur()
		if len(c) == 0 {
			return errShort
		}
		k := min(n, len(c))
		n, f.off = n-k, f.off+k
	}
	return nil
}

// position is a place in frames.
type position struct{ i, off int }

func (f *frames) mark() position { return position{f.i, f.off} }

// appendSince appends the bytes from p up to the current position.
func (f *frames) appendSince(dst []byte, p position) []byte {
	for p.i < f.i {
		dst = append(dst, f.bufs[p.i].ReadOnlyData()[p.off:]...)
		p.i, p.off = p.i+1, 0
	}
	if p.i < len(f.bufs) {
		dst = append(dst, f.bufs[p.i].ReadOnlyData()[p.off:f.off]...)
	}
	return dst
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
