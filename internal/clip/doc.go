// Package clip bounds text that came from outside before it is echoed: a
// value quoted in an error message (a JSON key, a file name, a query
// value), an error message stored in a job's status record or dead
// letter, a URL written to a log line.
//
// # Bounds
//
// [Quote] quotes a value as %q does, cut to [MaxEcho] bytes of the value
// with a marker saying how much was cut; [Text] cuts a message to a
// number of bytes the same way. Both cut on a UTF-8 boundary, so the
// result stays valid text, and both leave short text as it is, so the
// common case reads as before. A hostile 440 KB JSON key thus becomes a
// 2 KiB quote in a job's error, not a 440 KB status record.
//
// # Secrets
//
// [RedactURL] hides the password (or token) of a URL, and of every URL in
// a comma-separated list, before it is logged or put in an error: it is
// the one function every line that prints a NATS URL goes through.
package clip
