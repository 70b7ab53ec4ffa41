// Package batchservertest runs batch servers for tests: the reference batch
// server ([batchserver.Server]) on a loopback listener, and a batch server
// of wire contract v1 written in Python ([PythonV1]) as a separate process.
//
// # Usage
//
//	bs := batchservertest.Start(t, batchserver.Config{ChunkDelay: 10 * time.Millisecond}, zerolog.Nop())
//	c, err := batchclient.New(ctx, batchclient.Config{Addr: bs.Addr}, log)
//	...
//	entry, ok := bs.Committed(jobID)
//
// The server writes into a t.TempDir() unless the configuration names an
// output directory, and stops (Serve returns, then Close) in t.Cleanup;
// a failure to stop cleanly fails the test. With
// batchserver.Config{Contract: batchserver.ContractV1} it emulates a v1
// server in-process.
//
// # A real v1 server in Python
//
//	v1 := batchservertest.StartPythonV1(t) // skips without python3-grpcio, python3-grpc-tools
//	c, err := batchclient.New(ctx, batchclient.Config{Addr: v1.Addr}, log)
//	...
//	entry, ok := v1.Committed(t, jobID)
//	records := v1.Records(t, "recruit", jobID)
//
// testdata/v1server holds the v1 contract (the proto as it was before v2)
// and server.py, a grpcio server written from it alone: it knows only
// IngestDataStream, so gRPC answers GetIngestState UNIMPLEMENTED, and it
// never reads the v2 metadata fields, so a resumed stream is a sequence gap
// (INVALID_ARGUMENT). StartPythonV1 generates its stubs with
// python3 -m grpc_tools.protoc into a temp directory (no generated Python is
// committed), runs it on 127.0.0.1 and a free port it reports once
// listening, and stops it with SIGTERM at cleanup. deploy/test installs the
// Debian packages when missing.
package batchservertest
