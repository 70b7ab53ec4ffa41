// Package dashboard is the publisher's web dashboard: server-rendered HTML
// (html/template) with one small plain-JavaScript file, all embedded with
// the go:embed directive, so it needs no build step, no CDN and no network beyond the
// publisher itself.
//
// # Pages
//
//	GET  /                          overview: queue depth and in-flight jobs of ingest-workers,
//	                                jobs per state, records/s, busy workers and waiting pull
//	                                requests (workers with a free slot), dead letters, recent jobs
//	GET  /ui/jobs?state=&domain=    jobs, newest first, with live progress bars
//	GET  /ui/jobs/{id}              a job's full status record and attempt history
//	GET  /ui/dlq?domain=            dead letters with Replay and Delete
//	POST /ui/dlq/{id}/replay        replay a dead letter (confirmed), then show the job
//	POST /ui/dlq/{id}/delete        delete a dead letter (confirmed)
//	GET  /ui/enqueue, POST          the enqueue form; success redirects to the job's page
//	GET  /ui/login, POST            login form (only when a token is configured)
//	POST /ui/logout
//	GET  /ui/static/...             app.js, app.css, favicon.svg
//
// [Dashboard.Wrap] mounts these next to the JSON API of package httpapi,
// whose routes (/jobs, /dlq, /healthz, ...) stay as they are.
//
// # Live updates
//
// Regions marked data-live (the overview, the jobs table, a job's status)
// are re-fetched by app.js every [Config.RefreshInterval] (1 s by default)
// from the page's own URL and swapped in place, so one template renders both
// the first view and every update. Polling, not server-sent events, keeps
// the server stateless and lets a graceful shutdown finish at once.
//
// Each refresh is bounded: the overview reads at most the newest 1,000
// status records, takes the dead-letter count from INGEST_DLQ's stream info
// (no scan) and the consumer's figures from one lookup, and is computed at
// most once per half refresh interval for all open tabs; a finished job's
// page is rendered without data-live and stops refreshing.
//
// # Security
//
//   - With [Config.Token] (API_TOKEN) set, every page needs a session: the
//     login form compares the typed token with API_TOKEN in constant time
//     and sets [SessionCookie]: a random session id and an expiry, signed
//     with HMAC-SHA256 keyed by the token, Secure, HttpOnly and
//     SameSite=Lax (links from elsewhere open logged in; POSTs are guarded
//     by the anti-CSRF token). Logout revokes the id in the JetStream key-value
//     bucket [SessionBucket] (TTL [Config.SessionTTL]), which every page
//     request checks, so a captured cookie is refused after logout by every
//     publisher replica; if NATS cannot be read the page answers 503 rather
//     than trust the session. The JSON API keeps its bearer tokens; the
//     health endpoints need neither.
//   - Failed logins are limited per client IP (the TCP peer: forwarded
//     headers are not trusted, so behind a proxy all clients share one
//     budget): a burst of 10, then one every 6 s; past it the login answers
//     429 with Retry-After before comparing the token.
//   - Every POST form carries an anti-CSRF token, the HMAC of a random
//     [CSRFCookie] value under a server key, and cross-origin POSTs are
//     refused besides (net/http.CrossOriginProtection).
//   - Everything is rendered by html/template, so file names and error
//     messages, which come from users, are escaped; the Content-Security-Policy
//     allows scripts, styles and fetches from the dashboard's origin only and
//     no inline script or style at all.
//
// # Validation
//
// The enqueue form applies the API's own checks (httpapi.CheckJob), with the
// API's status codes and messages: unknown domain, bad source, missing or
// unsafe file name, extension, and a file missing from a visible data
// directory. A failure to read the data directory is logged, and the form
// says only that.
package dashboard
