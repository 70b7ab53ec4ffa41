// Package sink is the contract between a dataset on its way out and
// whatever carries it to the batch server: what a stream is about
// ([Meta]), how it is cut and when it may commit ([Options]), what comes
// back ([Result], [ProgressFunc]) and how it fails ([ErrRejected],
// [ErrUnavailable]).
//
// It is a leaf: it imports nothing of embedstream, so the front ends that
// send datasets (the push client in internal/batchclient today, a pull
// server and a resumable push later) and the code that drives them
// (internal/ingest) share one vocabulary without depending on each other.
// Each consumer declares the interface it calls where it calls it (for
// example ingest.Streamer); implementations translate their transport's
// failures into the two sentinels here, so callers never look at gRPC
// codes.
//
// # Commit gate
//
// A stream commits all of its data or nothing. [Options.BeforeCommit] is
// the last word before the commit: it runs once every chunk has been sent
// and before the half-close that lets the server apply them, and an error
// from it cancels the stream instead, so nothing is applied. The worker
// uses it to validate a dataset while it streams and to check its job's
// lease one last time.
//
// # Resume
//
// A sender may resume a stream that an earlier attempt broke off, sending
// only the chunks the server does not hold yet (contract v2). It says so
// through [Options.Resumed] before the first chunk goes out, and in
// [Result.ResumedRecords] and [Result.ResumedChunks]; [ProgressFunc]
// totals start at the resume point, so they always count the whole
// dataset.
//
// # Errors
//
//   - [ErrRejected]: the server refused the data for good, or the data
//     cannot be sent at all. Retrying the same data cannot succeed.
//   - [ErrUnavailable]: the stream failed in a way that may pass when the
//     whole stream is retried under the same ingest_id.
//
// A stream cut off by its caller's context reports the context's cause
// instead of either sentinel.
package sink
