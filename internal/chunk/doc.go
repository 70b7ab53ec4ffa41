// Package chunk encodes a dataset as the contract's IngestDataRequest
// messages (proto/embeddingstream/v1), whichever RPC carries them: the
// metadata first, then DataChunks bounded by a record count and by their
// encoded size. The push client (internal/batchclient) sends them on a
// client stream; a pull server sends the same messages on a server stream.
//
// # Encoding
//
// An [Encoder] writes each chunk straight from the table's columns into a
// pooled buffer, with no intermediate message tree: vectors and doubles
// are copied once, as blocks, into the message. The bytes are exactly what
// proto.Marshal writes for wire.ChunkToProto's message (encode_test.go
// checks it on every column type). [Codec] is gRPC's proto codec that sends
// such a [Message] as the bytes it holds, on a client or a server stream.
// [Encoder.Metadata] builds the metadata message, so every front end sends
// the same bytes: with contract v2's resume point and chunk options, or
// without them ([Encoder.MetadataV1]) for a peer of contract v1.
//
// # Windows and boundaries
//
// The encoder reads its [table.Source] one window at a time, of at most
// Source.WindowRows rows (a [table.Table] is one window: the whole table),
// and cuts chunks inside each window, never across a window boundary: by
// [Options.Records], by the target [Options.Bytes] (from a cheap per-row
// size estimate) and never above [Options.MaxBytes]. A single record
// larger than that is [ErrRecordTooLarge]. Boundaries depend only on the
// data, the options and the [Start]: a stream resumed at chunk s, record r
// (the chunks before it delivered) sends exactly the chunks the first
// stream would have sent from there.
//
// # Pipelining
//
// [Encoder.Pipe] encodes on its own goroutine, one chunk ahead of the
// caller's send (a pipeline one chunk deep), and returns only once that
// goroutine has ended and freed what it built, whatever happens: send
// fails, the context ends, or send panics.
//
// # Errors
//
// Data that cannot be sent at all (a window breaking the table invariants,
// a string that is not UTF-8, a record above the message limit, metadata
// breaking the contract's rules, a start outside the dataset) wraps
// sink.ErrRejected. A source whose memory faults when read (a mapped file
// truncated by another process while it streams) is [ErrFault] from
// Pipe, on the encoding goroutine's runtime/debug.SetPanicOnFault, never
// a crash.
package chunk
