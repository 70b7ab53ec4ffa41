// Package queuetest runs a real in-process NATS server with JetStream for
// tests, and opens the embedstream queue on it.
//
// # Usage
//
//	s := queuetest.StartServer(t)
//	q := queuetest.OpenQueue(t, s, queuetest.Config())
//
// The server stores JetStream data in a t.TempDir() and shuts down in
// t.Cleanup; [Server.Restart] stops and starts it again on the same port
// and store, for redelivery-after-restart tests. [JetStream] and
// [StreamMsgs] let a test inspect or break the topology beside the queue.
package queuetest
