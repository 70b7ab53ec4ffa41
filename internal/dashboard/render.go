package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"overview", "jobs", "job", "queue", "workers", "dlq", "enqueue", "login", "confirm", "error"}

var funcs = template.FuncMap{
	"join":  strings.Join,
	"num":   groupDigits,
	"short": shortID,
	"pct":   func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) },
	"add":   func(a, b int) int { return a + b },
	"numi":  func(n int) string { return groupDigits(uint64(max(n, 0))) },
}

// groupDigits renders n with thousands separators: 42259 -> "42,259".
func groupDigits(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// shortID abbreviates a long job id for tables, keeping both ends (the
// generated ids share their leading timestamp digits): "01a214…f9f8e".
func shortID(id string) string {
	if len(id) <= 16 {
		return id
	}
	return id[:6] + "…" + id[len(id)-6:]
}

// parsePages parses every page with the layout.
func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what layout.html renders: the page's own data in Data.
type view struct {
	Page string // template name, also the active navigation entry
	CSRF string // anti-CSRF token for the page's forms
	Auth bool   // a token is configured: show the logout button
	// Insecure names the banner of a request over plain HTTP to a
	// non-loopback host: "login" (a token is set, and the Secure session
	// cookie will be dropped), "open" (no token: anyone may act), or "".
	Insecure string
	Refresh  int    // live-region refresh interval, in milliseconds
	Notice   string // a one-line confirmation of the last action
	Data     any
	Domains  []string
	Statuses []string
}

// notices are the messages a redirect may ask a page to show (?notice=...);
// only these fixed texts are ever shown.
var notices = map[string]string{
	"enqueued":   "Job enqueued.",
	"duplicate":  "A job with this id was already enqueued; nothing new was added.",
	"replayed":   "Dead letter replayed: the job is queued again under the same id.",
	"deleted":    "Dead letter deleted.",
	"canceled":   "Job canceled: it left the queue, and nothing of it was committed.",
	"canceling":  "Cancel requested: the worker running the job is stopping it; nothing of it will be committed.",
	"bulkreplay": "%d dead letter(s) replayed: their jobs are queued again under their ids.",
	"bulkpurge":  "%d dead letter(s) purged.",
}

// notice returns the fixed text a redirect asked for; a %d in it takes
// the query's n (an integer, nothing else).
func notice(q url.Values) string {
	text := notices[q.Get("notice")]
	if strings.Contains(text, "%d") {
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 {
			return ""
		}
		return fmt.Sprintf(text, n)
	}
	return text
}

// render executes page name with data and writes it with status. The page is
// rendered to a buffer first, so a template failure still answers cleanly.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	v := view{
		Page:     name,
		CSRF:     d.csrfToken(w, r),
		Auth:     d.cfg.Token != "" && authenticated(r),
		Insecure: insecureBanner(d.cfg.Token != "", r),
		Refresh:  int(d.cfg.RefreshInterval.Milliseconds()),
		Notice:   notice(r.URL.Query()),
		Data:     data,
		Domains:  d.domains.Names(),
		Statuses: allStates,
	}
	var buf bytes.Buffer
	if err := d.pages[name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		d.log.Error().Err(err).Str("page", name).Msg("dashboard template failed")
		http.Error(w, "internal error: the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a failed write means the client left
}

// insecureBanner returns view.Insecure for r.
func insecureBanner(token bool, r *http.Request) string {
	switch {
	case secureRequest(r):
		return ""
	case token:
		return "login"
	default:
		return "open"
	}
}

type errorData struct {
	Status int
	Title  string
	Detail string
}

// renderError answers with the error page.
func (d *Dashboard) renderError(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	d.render(w, r, status, "error", errorData{Status: status, Title: title, Detail: detail})
}

// handlerFunc is a dashboard handler; a returned error is shown as an error
// page (an *errPage chooses its status and text) and logged.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// page adapts a GET handler.
func (d *Dashboard) page(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d.finish(w, r, h(w, r))
	}
}

// maxFormBytes bounds a form body.
const maxFormBytes = 64 << 10

// form adapts a POST handler: it parses the (bounded) form and checks its
// anti-CSRF token first.
func (d *Dashboard) form(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			d.finish(w, r, &errPage{status: http.StatusBadRequest, title: "Bad form", detail: "The form could not be read.", err: err})
			return
		}
		if !d.validCSRF(r) {
			d.finish(w, r, &errPage{status: http.StatusForbidden, title: "Form expired",
				detail: "The form's security token is missing or stale. Go back, reload the page and submit it again."})
			return
		}
		d.finish(w, r, h(w, r))
	}
}

func (d *Dashboard) finish(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		return
	}
	var ep *errPage
	if !errors.As(err, &ep) {
		ep = &errPage{status: http.StatusInternalServerError, title: "Internal error", detail: "The request failed.", err: err}
	}
	ev := d.log.Warn()
	if ep.status >= 500 {
		ev = d.log.Error()
	}
	if id := r.PathValue("id"); id != "" {
		ev = ev.Str("job_id", id)
	}
	ev.Err(err).Str("method", r.Method).Str("path", r.URL.Path).Int("status", ep.status).Msg("dashboard request failed")
	d.renderError(w, r, ep.status, ep.title, ep.detail)
}
