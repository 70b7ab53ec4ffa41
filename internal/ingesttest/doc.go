// Package ingesttest runs an [ingest.Worker] in the test's process, on a
// real in-process NATS ([queuetest.Server]) and a real batch server
// address (usually one from [batchservertest.Start]).
//
// # Usage
//
//	ns := queuetest.StartServer(t)
//	bs := batchservertest.Start(t, batchserver.Config{}, log)
//	ingesttest.StartWorker(t, ns, ingesttest.Config{
//		BatchAddr: bs.Addr,
//		Worker:    ingesttest.WorkerConfig("w1"),
//		Processor: ingesttest.ProcessorConfig(dataDir),
//		Log:       log,
//	})
//
// The worker has its own NATS connection, queue and batch client, and
// stops when the test ends (or earlier, through [Worker.Stop]).
package ingesttest
