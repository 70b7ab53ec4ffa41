// Package httpapi is the publisher's HTTP API: it enqueues ingest jobs,
// reports their status, takes file uploads into the object store and manages
// dead letters, over the queue of package queue. It is stateless, so any
// number of replicas can serve it.
//
// # Routes
//
// docs/api.md (from the repository root) documents every route, status
// code and body. In short:
//
//	POST   /data/ingest/{domain}?file_name=...   enqueue a job (202, Location: /jobs/{id})
//	GET    /jobs/{id}                            a job's status record, with its pace and retry
//	POST   /jobs/{id}/cancel                     cancel a queued or running job
//	GET    /jobs?state=&domain=&id=&file=&q=&since=&until=&limit=&cursor=
//	                                             jobs, newest first, one page at a time
//	GET    /queue                                JetStream's counts, jobs by state, recent figures
//	GET    /workers                              the workers' heartbeats: who runs what, since when
//	GET    /stats/series?since=&until=&step=     jobs finished, retried and records committed per step
//	PUT    /files/{name}                         stream a file into the ingest_files object store
//	GET    /dlq?domain=&limit=                   dead letters
//	POST   /dlq/{id}/replay                      re-enqueue a dead letter under the same job id
//	DELETE /dlq/{id}                             drop a dead letter
//	POST   /dlq/replay?domain=&class=&reason=&since=&until=&all=
//	POST   /dlq/purge?...                        replay or purge every dead letter a filter selects
//	GET    /healthz, /readyz, /metrics           liveness, readiness, Prometheus
//
// # Costs
//
// Listings, counts and series come from the job index ([Config].Index, a
// jobindex.Index the publisher keeps current with a watch of the status
// bucket): a page costs O(log n + page) for filters on state, domain and
// time, and reads at most jobindex.MaxScan entries for text filters; each
// request first waits for the index to hold every write stored before it
// (one JetStream API call). GET /queue adds JetStream's stream and
// consumer info (three API calls); GET /workers reads one record per
// worker. None grows with the number of jobs retained.
//
// # Errors
//
// Every response is JSON. A failure is {"error": {"code": "...", "message":
// "..."}}, with a stable code ([CodeUnknownDomain], [CodeUnsafePath], ...)
// and an HTTP status chosen by one classifier from the error's sentinel
// (queue.ErrNotFound, queue.ErrQueueFull, queue.ErrUnavailable, ...).
//
// # Security
//
// When [Config.Token] is set every route except /healthz and /readyz needs
// "Authorization: Bearer <token>", compared in constant time. With or
// without it, a state-changing request (POST, PUT, DELETE) a browser sends
// from another site is refused with 403 [CodeCrossOrigin], by the check
// the dashboard's forms use (net/http.CrossOriginProtection: Sec-Fetch-Site,
// else Origin against Host); clients that send neither header (curl,
// scripts) are unaffected. Request bodies are bounded: JSON bodies by
// [Config.MaxBodyBytes] in size and [Config.ReadTimeout] in time, uploads
// by [Config.MaxUploadBytes]; file names by source.CheckLength (1 KiB, 255
// bytes per path component); and every outside value an error message
// quotes is cut at 2 KiB (internal/clip).
//
// # Sharing with other front ends
//
// The publisher's wiring (internal/wiring/publisher) builds [Config] from
// its settings for `publisher serve` and the local stack alike, and
// [EnqueueOutcome] interprets queue.Queue.Enqueue's result (a duplicate
// answers with the stored job; a status-write failure is still a success),
// so the CLI and the local stack answer exactly as the API does. [CheckJob]
// is the API's validation of a job to enqueue (domain, source, file name,
// options, file present in a visible data directory), returning a
// [*JobCheckError] with the API's status, code and message, so the
// dashboard's enqueue form refuses the same jobs in the same words.
package httpapi
