// Package dashboard is the publisher's web dashboard: server-rendered HTML
// (html/template) with one small plain-JavaScript file, all embedded with
// the go:embed directive, so it needs no build step, no CDN and no network beyond the
// publisher itself.
//
// # Pages
//
//	GET  /?range=1h|6h|24h|7d       overview: queue depth, in flight, workers and busy slots,
//	                                records committed per second, failures and dead letters,
//	                                jobs per state, charts with axes over the chosen range,
//	                                recent jobs
//	GET  /ui/jobs?q=&state=&domain=&since=&until=&cursor=
//	                                jobs, newest first, searched and paged (Next / First page)
//	GET  /ui/jobs/{id}              a job's status: phase, pace (elapsed, records/s, ETA),
//	                                records sent and acknowledged, retry, history, Cancel
//	POST /ui/jobs/{id}/cancel       cancel a queued or running job (confirmed)
//	GET  /ui/queue                  JetStream's counts and the jobs by domain and state
//	GET  /ui/workers                the workers' heartbeats: who runs what, since when
//	GET  /ui/dlq?domain=            dead letters with Replay and Delete, and a bulk form
//	POST /ui/dlq/{id}/replay        replay a dead letter (confirmed), then show the job
//	POST /ui/dlq/{id}/delete        delete a dead letter (confirmed)
//	POST /ui/dlq/replay-all         replay every dead letter of a domain, error class and
//	POST /ui/dlq/purge-all          time (confirmed), or purge them
//	GET  /ui/enqueue, POST          the enqueue form; success redirects to the job's page
//	GET  /ui/login, POST            login form (only when a token is configured)
//	POST /ui/logout
//	GET  /ui/static/...             app.js, app.css, favicon.svg
//
// [Dashboard.Wrap] mounts these next to the JSON API of package httpapi,
// whose routes (/jobs, /queue, /dlq, /healthz, ...) stay as they are.
//
// # Live updates
//
// Regions marked data-live (the overview, the jobs table and its pager, a
// job's status, the queue and workers pages) are re-fetched by app.js
// every [Config.RefreshInterval] (1 s by default) from the page's own URL
// (a jobs page keeps its cursor) and swapped in place, so one template
// renders both the first view and every update. Polling, not server-sent
// events, keeps the server stateless and lets a graceful shutdown finish
// at once.
//
// # Costs
//
// No page reads the status records one by one. Counts, charts, listings
// and searches come from the publisher's job index ([Config].Index: the
// same jobindex.Index the API answers from), the queue's figures from
// JetStream's stream and consumer info (httpapi.LoadQueueView, as GET
// /queue), the workers from one heartbeat record each. The overview is
// computed at most once per half refresh interval per chart range for all
// open tabs; a finished job's page is rendered without data-live and stops
// refreshing.
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
