package dashboard

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/telemetry"
)

// Queue is what the dashboard needs from the job queue; *queue.Queue
// implements it. Its errors wrap the queue package's sentinels
// (queue.ErrNotFound, queue.ErrQueueFull, queue.ErrUnavailable,
// queue.ErrStatusWrite, queue.ErrFinished), which the dashboard turns
// into messages.
type Queue interface {
	Enqueue(ctx context.Context, job queue.Job) (queue.EnqueueResult, error)
	GetStatus(ctx context.Context, id string) (queue.Status, error)
	ListDeadLetters(ctx context.Context, domain string, limit int) ([]queue.DeadLetter, error)
	GetDeadLetter(ctx context.Context, id string) (queue.DeadLetter, error)
	ReplayDeadLetter(ctx context.Context, id string) (queue.EnqueueResult, error)
	DeleteDeadLetter(ctx context.Context, id string) error
	// CancelJob cancels a queued or running job.
	CancelJob(ctx context.Context, id string) (queue.CancelResult, error)
	// ReplayDeadLetters and PurgeDeadLetters act on every dead letter a
	// filter selects.
	ReplayDeadLetters(ctx context.Context, f queue.DeadLetterFilter) (queue.BulkResult, error)
	PurgeDeadLetters(ctx context.Context, f queue.DeadLetterFilter) (queue.BulkResult, error)
	// Info gives JetStream's figures: the job stream, the workers'
	// consumer ingest-workers, the dead letters.
	Info(ctx context.Context) (queue.QueueInfo, error)
	// ListWorkers reads the workers' heartbeats.
	ListWorkers(ctx context.Context) ([]queue.WorkerInfo, error)
	// Bucket binds the dashboard's own bucket ([SessionBucket]) beside
	// the queue's, creating it with the queue's replicas when missing.
	Bucket(ctx context.Context, name, description string, ttl time.Duration) (jetstream.KeyValue, error)
	// The status bucket's watch and state, which a one-shot job index
	// reads when [Config].Index is nil.
	jobindex.Source
}

// Domains lists the domains jobs may name; *domain.Registry implements it.
type Domains interface {
	Names() []string
}

// Config tunes a [Dashboard]. Zero values take the defaults named on each
// field.
type Config struct {
	// Token is API_TOKEN. When set, every page needs a session, which the
	// login form grants to whoever types the token; static assets and the
	// login page itself do not.
	Token string
	// DataDir is the workers' data directory as the publisher sees it. When
	// it names an existing directory, the enqueue form refuses a missing
	// file as the API does; otherwise that check is left to the worker.
	DataDir string
	// AllowedExt lists the file extensions a job may name (default
	// httpapi.DefaultAllowedExt: .pkl, .pickle), as for the API.
	AllowedExt []string
	// RequestTimeout bounds each call into the queue (default 10s).
	RequestTimeout time.Duration
	// Index answers the job listings, counts and series (the publisher's
	// job index, as for the API). Nil: each page that needs them reads
	// the whole status bucket once, a cost that grows with retention:
	// for tests only.
	Index httpapi.JobIndex
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL time.Duration
	// RefreshInterval is how often open pages refresh their live parts
	// (default 1s).
	RefreshInterval time.Duration
	// CSRFKey signs the forms' anti-CSRF tokens. When empty it is derived
	// from Token, or, with no Token, drawn at random at start (forms
	// rendered by another replica or before a restart are then refused
	// once and rendered anew).
	CSRFKey []byte
}

func (c *Config) setDefaults() {
	if len(c.AllowedExt) == 0 {
		c.AllowedExt = httpapi.DefaultAllowedExt()
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = time.Second
	}
	if len(c.CSRFKey) == 0 {
		if c.Token != "" {
			m := hmac.New(sha256.New, []byte(c.Token))
			m.Write([]byte("embedstream dashboard csrf"))
			c.CSRFKey = m.Sum(nil)
		} else {
			c.CSRFKey = make([]byte, 32)
			_, _ = rand.Read(c.CSRFKey) // crypto/rand.Read never fails (Go 1.24+)
		}
	}
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Dashboard is the publisher's web dashboard, an [http.Handler] for "/"
// and everything under "/ui/". Mount it next to the API with
// [Dashboard.Wrap].
type Dashboard struct {
	cfg      Config
	q        Queue
	domains  Domains
	log      zerolog.Logger
	pages    map[string]*template.Template
	mux      *http.ServeMux
	handler  http.Handler
	now      func() time.Time
	sessions *sessionStore
	ov       overviewCache
	logins   loginLimiter
}

// New builds the dashboard over q and domains. It does no I/O; it fails
// only if the embedded templates do not parse.
func New(cfg Config, q Queue, domains Domains, log zerolog.Logger) (*Dashboard, error) {
	cfg.setDefaults()
	pages, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	d := &Dashboard{
		cfg:     cfg,
		q:       q,
		domains: domains,
		log:     log.With().Str("component", "dashboard").Logger(),
		pages:   pages,
		mux:     http.NewServeMux(),
		now:     time.Now,
	}
	d.logins.now = d.now
	d.sessions = &sessionStore{open: q.Bucket, ttl: cfg.SessionTTL, now: d.now}
	d.routes()
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.renderError(w, r, http.StatusForbidden, "Cross-origin request refused", "This form was submitted from another site.")
	}))
	d.handler = d.observe(secureHeaders(cop.Handler(d.authenticate(d.mux))))
	return d, nil
}

// Paths of the dashboard; all but the overview live under /ui/, off the
// API's routes.
const (
	pathOverview = "/"
	pathJobs     = "/ui/jobs"
	pathQueue    = "/ui/queue"
	pathWorkers  = "/ui/workers"
	pathDLQ      = "/ui/dlq"
	pathEnqueue  = "/ui/enqueue"
	pathLogin    = "/ui/login"
	pathLogout   = "/ui/logout"
	pathStatic   = "/ui/static/"
)

func (d *Dashboard) routes() {
	d.mux.HandleFunc("GET /{$}", d.page(d.handleOverview))
	d.mux.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, pathOverview, http.StatusSeeOther)
	})
	d.mux.HandleFunc("GET "+pathJobs, d.page(d.handleJobs))
	d.mux.HandleFunc("GET "+pathJobs+"/{id}", d.page(d.handleJob))
	d.mux.HandleFunc("POST "+pathJobs+"/{id}/cancel", d.form(d.handleCancel))
	d.mux.HandleFunc("GET "+pathQueue, d.page(d.handleQueue))
	d.mux.HandleFunc("GET "+pathWorkers, d.page(d.handleWorkers))
	d.mux.HandleFunc("GET "+pathDLQ, d.page(d.handleDLQ))
	d.mux.HandleFunc("POST "+pathDLQ+"/replay-all", d.form(d.handleBulk(bulkReplay)))
	d.mux.HandleFunc("POST "+pathDLQ+"/purge-all", d.form(d.handleBulk(bulkPurge)))
	d.mux.HandleFunc("POST "+pathDLQ+"/{id}/replay", d.form(d.handleReplay))
	d.mux.HandleFunc("POST "+pathDLQ+"/{id}/delete", d.form(d.handleDelete))
	d.mux.HandleFunc("GET "+pathEnqueue, d.page(d.handleEnqueueForm))
	d.mux.HandleFunc("POST "+pathEnqueue, d.form(d.handleEnqueue))
	d.mux.HandleFunc("GET "+pathLogin, d.page(d.handleLoginForm))
	d.mux.HandleFunc("POST "+pathLogin, d.form(d.handleLogin))
	d.mux.HandleFunc("POST "+pathLogout, d.form(d.handleLogout))
	static, _ := fs.Sub(staticFS, "static") // the directory is embedded: cannot fail
	d.mux.Handle("GET "+pathStatic, http.StripPrefix(pathStatic, staticHandler(http.FileServerFS(static))))
	d.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		d.renderError(w, r, http.StatusNotFound, "Not found", "There is no page at "+r.URL.Path+".")
	})
}

// ServeHTTP serves the dashboard's pages.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.handler.ServeHTTP(w, r)
}

// Wrap returns a handler that serves the dashboard at "/" (exactly) and
// under "/ui/", and passes every other request to api. The dashboard keeps
// its own session login, so api's bearer-token check does not apply to
// it, and api's routes (/jobs, /dlq, /healthz, ...) are untouched.
func (d *Dashboard) Wrap(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.Handle("GET /{$}", d)
	mux.Handle("/ui/", d)
	return mux
}

// csp is the Content-Security-Policy of every dashboard response: scripts,
// styles and fetches from the dashboard's own origin only, nothing inline,
// and no <base> element to redirect relative URLs.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// secureHeaders sets the security headers every response carries.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// observe logs each request when it is done: page views and the live
// refreshes at debug level, form posts and failures above it.
func (d *Dashboard) observe(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := telemetry.NewResponseRecorder(w)
		h.ServeHTTP(sw, r)
		status := cmp.Or(sw.Status(), http.StatusOK)
		ev := d.log.Debug()
		switch {
		case status >= 500:
			ev = d.log.Error()
		case status >= 400:
			ev = d.log.Warn()
		case r.Method == http.MethodPost:
			ev = d.log.Info()
		}
		ev.Str("method", r.Method).Str("path", r.URL.Path).Int("status", status).
			Dur("duration", time.Since(start)).Str("remote", r.RemoteAddr).Msg("dashboard request")
	})
}

// staticHandler lets browsers cache the embedded assets briefly; they
// change only with the binary.
func staticHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// errPage is an error a handler returns to be shown as an error page.
type errPage struct {
	status int
	title  string
	detail string
	err    error // cause, for the log; may be nil
}

func (e *errPage) Error() string {
	if e.err != nil {
		return e.title + ": " + e.err.Error()
	}
	return e.title
}

func (e *errPage) Unwrap() error { return e.err }

// index returns the job index, caught up with what JetStream stored
// before the request; without a configured one, a one-shot index read now.
func (d *Dashboard) index(ctx context.Context) (httpapi.JobIndex, error) {
	if d.cfg.Index == nil {
		ix, err := jobindex.Load(ctx, d.q)
		if err != nil {
			return nil, queueErr("Reading the job records", err)
		}
		return ix, nil
	}
	if err := d.cfg.Index.Sync(ctx); err != nil {
		return nil, &errPage{status: http.StatusServiceUnavailable, title: "Job index loading",
			detail: "The publisher is still reading the job records; retry in a few seconds.", err: err}
	}
	return d.cfg.Index, nil
}

// queueErr turns a failed queue call into the page that explains it.
func queueErr(what string, err error) error {
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return &errPage{status: http.StatusNotFound, title: "Not found", detail: what + ": not found.", err: err}
	case errors.Is(err, queue.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &errPage{status: http.StatusServiceUnavailable, title: "Queue unavailable",
			detail: "The job queue (NATS) is unavailable or did not answer in time; retry later.", err: err}
	default:
		return &errPage{status: http.StatusInternalServerError, title: "Internal error", detail: what + " failed.", err: err}
	}
}
