package chunk

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// Codec returns gRPC's proto codec, except that a [*Message] goes out as
// the bytes it already holds, so chunks are encoded once, ahead of the
// send ([Encoder.Pipe]), and never marshalled again. Everything else
// (responses, other requests) goes through the proto codec, and the codec
// keeps its name "proto", so the peer sees ordinary protobuf messages.
//
// Use it on a client stream with the call option grpc.ForceCodecV2(Codec())
// (push) and on a server with grpc.ForceServerCodecV2(Codec()) (a server
// stream sending the same messages: pull).
func Codec() encoding.CodecV2 {
	return passthroughCodec{base: encoding.GetCodecV2("proto")}
}

type passthroughCodec struct{ base encoding.CodecV2 }

func (c passthroughCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*Message); ok {
		return m.data, nil
	}
	return c.base.Marshal(v)
}

func (c passthroughCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return c.base.Unmarshal(data, v)
}

func (c passthroughCodec) Name() string { return c.base.Name() }
