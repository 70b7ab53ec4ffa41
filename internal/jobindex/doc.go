// Package jobindex keeps an in-memory index of the job status records of
// the KV bucket ingest_jobs, fed by a watch of the bucket: its current
// records first, then every write, deletion and purge as it happens, and
// the records the bucket's TTL drops, which the index expires itself (the
// bucket sends no event for them). The publisher (`publisher serve` and
// the local stack) runs one [Index] and answers listings, counts and time
// series from it, so what a request costs does not grow with the number
// of jobs the bucket retains.
//
// # What it answers
//
//   - [Index.List]: jobs newest first (by enqueue time, then job id),
//     filtered by state, domain, job id prefix, file name, a free text
//     (job id or file name) and an enqueue time range, one page at a time
//     with an opaque cursor that stays valid while jobs come and go;
//   - [Index.Counts]: every retained job by state, and by domain and
//     state: exact, kept up to date on every change;
//   - [Index.Series]: per-minute figures (jobs succeeded, failed and
//     canceled by their finish time, transient failures retried by their
//     attempt's end, records committed) over any range, for charts and
//     throughput.
//
// # Costs
//
// Each change costs O(log n) (n: retained jobs). A page whose filters are
// state, domain and time range costs O(log n + page): one ordered tree per
// state, per domain and per domain and state. A page that also filters by
// text (job id prefix, file name, free text) reads the entries in order
// and stops at the page's end or after [MaxScan] entries, whichever comes
// first: a page may then hold fewer jobs than asked for, and its cursor
// continues the search. Counts are O(states × domains); a series is
// O(minutes in the range). Before it answers, a request waits until the
// index has applied every write JetStream stored before the request came
// ([Index.Sync]: one JetStream API call), so a job enqueued before a
// listing is in it.
//
// # One-shot use
//
// [Load] builds an index from one read of the bucket and stops: that costs
// every retained record, once. The CLI uses it when it has no publisher to
// ask (PUBLISHER_URL unset).
package jobindex
