// Package batchservertest runs the reference batch server
// ([batchserver.Server]) on a loopback listener for tests.
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
// a failure to stop cleanly fails the test.
package batchservertest
