// Package queue is embedstream's JetStream topology and its data: the job
// stream, the workers' durable consumer, the job status bucket, the dead
// letters and the file object store, shared by the worker and the publisher.
package queue
