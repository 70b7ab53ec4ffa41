package dashboard_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/dashboard"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
)

const wantCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// Every dashboard page answers HTML with the CSP and no inline script; the
// API's routes stay JSON.
func TestPagesHeadersAndRoutes(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{})
	c := s.client(t)
	for _, path := range []string{"/", "/?range=7d", "/ui/jobs", "/ui/jobs?state=failed&domain=recruit", "/ui/jobs?q=x&since=1h", "/ui/queue", "/ui/workers", "/ui/dlq", "/ui/enqueue"} {
		p := c.get(path)
		if p.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, p.status, p.body)
		}
		if got := p.header.Get("Content-Security-Policy"); got != wantCSP {
			t.Errorf("GET %s: CSP %q", path, got)
		}
		if ct := p.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " style=") || strings.Contains(p.body, " onclick=") {
			t.Errorf("GET %s: inline script or style in the page", path)
		}
		if !strings.Contains(p.body, `<script src="/ui/static/app.js" defer></script>`) {
			t.Errorf("GET %s: no app.js", path)
		}
	}
	// The jobs list and the dead letters share one filter form, which
	// keeps the current filter selected.
	jobsPage := c.get("/ui/jobs?state=failed&domain=recruit").body
	for _, want := range []string{`action="/ui/jobs"`, `<option value="failed" selected>`, `<option value="recruit" selected>`} {
		if !strings.Contains(jobsPage, want) {
			t.Errorf("jobs filter form lacks %s", want)
		}
	}
	dlqPage := c.get("/ui/dlq?domain=recruit").body
	if !strings.Contains(dlqPage, `action="/ui/dlq"`) || !strings.Contains(dlqPage, `<option value="recruit" selected>`) || strings.Contains(dlqPage, `id="f-state"`) {
		t.Errorf("dead-letter filter form wrong")
	}
	for path, ct := range map[string]string{"/ui/static/app.js": "text/javascript", "/ui/static/app.css": "text/css", "/ui/static/favicon.svg": "image/svg+xml"} {
		p := c.get(path)
		if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), ct) {
			t.Errorf("GET %s: %d %q", path, p.status, p.header.Get("Content-Type"))
		}
	}
	if p := c.get("/ui/nope"); p.status != http.StatusNotFound || !strings.Contains(p.body, "Not found") {
		t.Errorf("GET /ui/nope: %d", p.status)
	}
	if p := c.get("/ui/jobs/" + queue.NewJobID()); p.status != http.StatusNotFound || !strings.Contains(p.body, "Not found") {
		t.Errorf("GET an unknown job: %d", p.status)
	}
	if p := c.get("/ui/"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
		t.Errorf("GET /ui/: %d %q", p.status, p.header.Get("Location"))
	}
	for _, bad := range []string{"/ui/jobs?state=bogus", "/ui/jobs?since=yesterday", "/ui/jobs?cursor=nope!"} {
		if p := c.get(bad); p.status != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", bad, p.status)
		}
	}
	// The API is still there, in JSON.
	for _, path := range []string{"/jobs", "/dlq", "/healthz", "/nope"} {
		p := c.get(path)
		if !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: Content-Type %q, want the API's JSON", path, p.header.Get("Content-Type"))
		}
	}
}

// With API_TOKEN set, pages need a login; the health endpoints do not, and
// the API keeps bearer tokens.
func TestLogin(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token"
	s := startStack(t, stackOpts{token: token})
	c := s.client(t)

	for _, path := range []string{"/", "/ui/jobs", "/ui/dlq", "/ui/enqueue", "/ui/jobs/abc"} {
		p := c.get(path)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/ui/login?next=") {
			t.Errorf("GET %s without login: %d Location %q", path, p.status, p.header.Get("Location"))
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if p := c.get(path); p.status != http.StatusOK {
			t.Errorf("GET %s without login: %d", path, p.status)
		}
	}
	if p := c.get("/jobs"); p.status != http.StatusUnauthorized {
		t.Errorf("API without bearer: %d", p.status)
	}
	if p := c.get("/ui/static/app.css"); p.status != http.StatusOK {
		t.Errorf("static asset without login: %d", p.status)
	}
	// A POST without a session is refused outright.
	if p := c.post("/ui/enqueue", url.Values{"domain": {"recruit"}, "file_name": {"a.pkl"}}); p.status != http.StatusUnauthorized {
		t.Errorf("POST without login: %d", p.status)
	}

	csrf := c.csrf("/ui/login?next=/ui/dlq")
	// Wrong token: 401 and the form again.
	p := c.post("/ui/login", url.Values{"csrf": {csrf}, "token": {"wrong"}, "next": {"/ui/dlq"}})
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "Wrong token.") {
		t.Fatalf("wrong token: %d", p.status)
	}
	// Without the CSRF field: refused.
	if p := c.post("/ui/login", url.Values{"token": {token}}); p.status != http.StatusForbidden {
		t.Errorf("login without csrf: %d", p.status)
	}
	// Right token: a Secure, HttpOnly, SameSite=Lax session cookie that
	// does not contain the token, and back to where we were going.
	p = c.post("/ui/login", url.Values{"csrf": {csrf}, "token": {token}, "next": {"/ui/dlq"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/dlq" {
		t.Fatalf("login: %d Location %q", p.status, p.header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range (&http.Response{Header: p.header}).Cookies() {
		if ck.Name == dashboard.SessionCookie {
			session = ck
		}
	}
	if session == nil {
		t.Fatal("no session cookie set")
	}
	if !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || strings.Contains(session.Value, token) {
		t.Errorf("session cookie %+v", session)
	}
	if p := c.get("/ui/dlq"); p.status != http.StatusOK {
		t.Errorf("GET /ui/dlq after login: %d", p.status)
	}
	// A forged cookie does not pass.
	forged := s.client(t)
	forged.hc.Jar.SetCookies(mustURL(t, s.http.URL), []*http.Cookie{{Name: dashboard.SessionCookie, Value: "99999999999.AAAA"}})
	if p := forged.get("/"); p.status != http.StatusSeeOther {
		t.Errorf("forged session: %d", p.status)
	}
	// An open redirect through next is refused.
	p = c.post("/ui/login", url.Values{"csrf": {csrf}, "token": {token}, "next": {"//evil.example/x"}})
	if p.header.Get("Location") != "/" {
		t.Errorf("next=//evil.example: Location %q", p.header.Get("Location"))
	}
	// Logout ends the session: not only in this browser's jar, but for a
	// captured copy of the cookie replayed later, on this replica and on
	// another one sharing the NATS account.
	var captured *http.Cookie
	for _, ck := range (&http.Response{Header: p.header}).Cookies() {
		if ck.Name == dashboard.SessionCookie {
			captured = ck
		}
	}
	replica := startReplica(t, s, token)
	for _, base := range []string{s.http.URL, replica.URL} {
		if st := getWithCookie(t, base+"/ui/jobs", captured); st != http.StatusOK {
			t.Fatalf("GET %s/ui/jobs with the session before logout: %d", base, st)
		}
	}
	if p := c.post("/ui/logout", url.Values{"csrf": {c.csrf("/")}}); p.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", p.status)
	}
	if p := c.get("/"); p.status != http.StatusSeeOther {
		t.Errorf("GET / after logout: %d", p.status)
	}
	for _, base := range []string{s.http.URL, replica.URL} {
		if st := getWithCookie(t, base+"/ui/jobs", captured); st != http.StatusSeeOther {
			t.Errorf("GET %s/ui/jobs replaying the session cookie after logout: %d, want 303 to the login", base, st)
		}
	}
	// A new login is a new session, unaffected by the old one's revocation.
	p = c.post("/ui/login", url.Values{"csrf": {c.csrf("/ui/login")}, "token": {token}, "next": {"/"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("login again: %d", p.status)
	}
	if p := c.get("/ui/jobs"); p.status != http.StatusOK {
		t.Errorf("GET /ui/jobs after logging in again: %d", p.status)
	}
}

// Failed logins are limited per client address: once its burst is spent,
// an address gets 429 with Retry-After, even with the right token, while
// other addresses may still log in.
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token"
	s := startStack(t, stackOpts{token: token})
	h := s.http.Config.Handler
	page := httptest.NewRecorder()
	h.ServeHTTP(page, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/ui/login", nil))
	var csrfCookie *http.Cookie
	for _, ck := range page.Result().Cookies() {
		if ck.Name == dashboard.CSRFCookie {
			csrfCookie = ck
		}
	}
	body := page.Body.String()
	const marker = `name="csrf" value="`
	i := strings.Index(body, marker)
	if csrfCookie == nil || i < 0 {
		t.Fatal("no CSRF cookie or field on the login page")
	}
	csrf := body[i+len(marker):]
	csrf = csrf[:strings.IndexByte(csrf, '"')]
	login := func(remote, tok string) *httptest.ResponseRecorder {
		form := url.Values{"csrf": {csrf}, "token": {tok}, "next": {"/"}}
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/ui/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: csrfCookie.Name, Value: csrfCookie.Value})
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	attacker := "192.0.2.7:40000"
	var last *httptest.ResponseRecorder
	for range 50 {
		if last = login(attacker, "guess"); last.Code != http.StatusUnauthorized {
			break
		}
	}
	if last.Code != http.StatusTooManyRequests || last.Header().Get("Retry-After") == "" {
		t.Fatalf("repeated wrong logins: %d Retry-After %q, want 429 with Retry-After", last.Code, last.Header().Get("Retry-After"))
	}
	if rec := login("192.0.2.7:40001", token); rec.Code != http.StatusTooManyRequests {
		t.Errorf("right token from the limited address: %d, want 429", rec.Code)
	}
	if rec := login("198.51.100.1:5000", token); rec.Code != http.StatusSeeOther {
		t.Errorf("right token from another address: %d, want 303", rec.Code)
	}
}

// startReplica serves a second publisher (API and dashboard) on s's NATS,
// as another replica behind a load balancer would.
func startReplica(t *testing.T, s *stack, token string) *httptest.Server {
	t.Helper()
	domains, err := domain.NewRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	log := testLogger(t)
	dash, err := dashboard.New(dashboard.Config{Token: token}, s.q, domains, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(dash.Wrap(httpapi.New(httpapi.Config{Token: token}, s.q, domains, log)))
	t.Cleanup(srv.Close)
	return srv
}

// getWithCookie GETs rawURL carrying only cookie, without following a
// redirect, and returns the status.
func getWithCookie(t *testing.T, rawURL string, cookie *http.Cookie) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	hc := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Over plain HTTP to a non-loopback host (no API_TOKEN), the forms still
// work: the CSRF cookie is not Secure there, so the browser keeps it. Every
// page says the dashboard is open; over HTTPS none does.
func TestPlainHTTPForms(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{})
	h := s.http.Config.Handler
	serve := func(req *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	page := serve(httptest.NewRequest(http.MethodGet, "http://dashboard.example/ui/enqueue", nil))
	var csrfCookie *http.Cookie
	for _, ck := range page.Result().Cookies() {
		if ck.Name == dashboard.CSRFCookie {
			csrfCookie = ck
		}
	}
	if csrfCookie == nil || csrfCookie.Secure {
		t.Fatalf("CSRF cookie over plain HTTP %+v, want one that is not Secure", csrfCookie)
	}
	if !strings.Contains(page.Body.String(), `data-banner="insecure"`) {
		t.Error("no insecure banner over plain HTTP without a token")
	}
	body := page.Body.String()
	const marker = `name="csrf" value="`
	i := strings.Index(body, marker)
	if i < 0 {
		t.Fatal("no csrf field")
	}
	token := body[i+len(marker):]
	token = token[:strings.IndexByte(token, '"')]
	form := url.Values{"csrf": {token}, "domain": {"recruit"}, "file_name": {"plain.pkl"}}
	req := httptest.NewRequest(http.MethodPost, "http://dashboard.example/ui/enqueue", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: csrfCookie.Name, Value: csrfCookie.Value})
	if rec := serve(req); rec.Code != http.StatusSeeOther {
		t.Fatalf("enqueue over plain HTTP: %d, want 303 to the job\n%s", rec.Code, rec.Body)
	}
	for _, target := range []string{"https://dashboard.example/", "http://127.0.0.1/ui/jobs", "http://localhost/ui/dlq"} {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		if rec := serve(req); strings.Contains(rec.Body.String(), `data-banner="insecure"`) {
			t.Errorf("GET %s: insecure banner on a secure request", target)
		}
	}
}

// POST forms need the anti-CSRF token bound to the browser's cookie, and
// cross-origin POSTs are refused.
func TestCSRF(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{})
	c := s.client(t)
	form := url.Values{"domain": {"recruit"}, "file_name": {"a.pkl"}}
	if p := c.post("/ui/enqueue", form); p.status != http.StatusForbidden {
		t.Errorf("no csrf: %d", p.status)
	}
	page := s.client(t).get("/ui/enqueue") // a fresh browser gets the cookie
	var csrfCookie *http.Cookie
	for _, ck := range (&http.Response{Header: page.header}).Cookies() {
		if ck.Name == dashboard.CSRFCookie {
			csrfCookie = ck
		}
	}
	if csrfCookie == nil || !csrfCookie.Secure || !csrfCookie.HttpOnly || csrfCookie.SameSite != http.SameSiteStrictMode {
		t.Errorf("CSRF cookie %+v, want Secure, HttpOnly, SameSite=Strict", csrfCookie)
	}
	form.Set("csrf", c.csrf("/ui/enqueue"))
	other := s.client(t) // another browser: its own cookie, so the token does not fit
	other.csrf("/ui/enqueue")
	if p := other.post("/ui/enqueue", form); p.status != http.StatusForbidden {
		t.Errorf("token of another browser: %d", p.status)
	}
	p := c.do(http.MethodPost, "/ui/enqueue", strings.NewReader(form.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Sec-Fetch-Site": {"cross-site"},
	})
	if p.status != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", p.status)
	}
	if n := len(listJobs(t, s)); n != 0 {
		t.Errorf("%d jobs enqueued by refused forms", n)
	}
}

func listJobs(t *testing.T, s *stack) []queue.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	jobs, err := s.q.ListStatus(ctx, queue.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// The enqueue form refuses what the API refuses, with the API's status and
// message, and enqueues nothing.
func TestEnqueueValidationMatchesAPI(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{publisherSeesData: true})
	s.copyFixture(t, "present.pkl")
	c := s.client(t)
	csrf := c.csrf("/ui/enqueue")
	for _, tc := range []struct {
		name, domain, file, source string
		status                     int
	}{
		{"unknown domain", "nope", "present.pkl", "", http.StatusNotFound},
		{"absolute path", "recruit", "/etc/passwd.pkl", "", http.StatusBadRequest},
		{"dot dot", "recruit", "../x.pkl", "", http.StatusBadRequest},
		{"extension", "recruit", "data.csv", "", http.StatusBadRequest},
		{"missing file", "recruit", "absent.pkl", "", http.StatusUnprocessableEntity},
		{"no file name", "recruit", "", "", http.StatusBadRequest},
		{"bad source", "recruit", "present.pkl", "ftp", http.StatusBadRequest},
		{"name too long", "recruit", strings.Repeat("a", 2000) + ".pkl", "object", http.StatusBadRequest},
		// Bytes, not characters: 1,020 '€' are 3,060 bytes (their object
		// subject would pass NATS's control-line limit).
		{"1,020 '€' as an object", "recruit", strings.Repeat("€", 1020) + ".pkl", "object", http.StatusBadRequest},
		{"component over 255 bytes", "recruit", "d/" + strings.Repeat("é", 128) + ".pkl", "object", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := c.post("/ui/enqueue", url.Values{"csrf": {csrf}, "domain": {tc.domain}, "file_name": {tc.file}, "source": {tc.source}})
			if p.status != tc.status {
				t.Fatalf("form: %d, want %d", p.status, tc.status)
			}
			// The API's answer to the same input.
			q := url.Values{"file_name": {tc.file}}
			if tc.source != "" {
				q.Set("source", tc.source)
			}
			resp := c.do(http.MethodPost, "/data/ingest/"+url.PathEscape(tc.domain)+"?"+q.Encode(), nil, nil)
			var body struct{ Error struct{ Message string } }
			if err := json.Unmarshal([]byte(resp.body), &body); err != nil || body.Error.Message == "" {
				t.Fatalf("API answer %d %s", resp.status, resp.body)
			}
			if resp.status != tc.status {
				t.Errorf("API status %d, form %d", resp.status, tc.status)
			}
			if !strings.Contains(p.body, html.EscapeString(body.Error.Message)) {
				t.Errorf("form page does not show the API's message %q", body.Error.Message)
			}
		})
	}
	if n := len(listJobs(t, s)); n != 0 {
		t.Errorf("%d jobs enqueued by refused forms", n)
	}
	// A valid form enqueues and redirects to the job's page.
	p := c.post("/ui/enqueue", url.Values{"csrf": {csrf}, "domain": {"recruit"}, "file_name": {"present.pkl"}})
	loc := p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/jobs/") {
		t.Fatalf("valid form: %d Location %q", p.status, loc)
	}
	jp := c.get(loc)
	if jp.status != http.StatusOK || !strings.Contains(jp.body, "Job enqueued.") || !strings.Contains(jp.body, "present.pkl") {
		t.Errorf("job page %d", jp.status)
	}
}

// User-supplied text (file names, error messages) is escaped everywhere it
// is shown.
func TestEscaping(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{})
	const evil = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">.pkl`
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: evil})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.q.UpdateStatus(ctx, res.JobID, func(st *queue.Status) error {
		st.State = queue.StateFailed
		st.Error = &queue.JobError{Class: "bad_pickle", Message: `bad <b>pickle</b> "` + evil + `"`, Permanent: true}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c := s.client(t)
	for _, path := range []string{"/", "/ui/jobs", "/ui/jobs/" + res.JobID} {
		p := c.get(path)
		if strings.Contains(p.body, "<script>window") || strings.Contains(p.body, "<img src=x") || strings.Contains(p.body, "<b>pickle") {
			t.Errorf("GET %s: unescaped user text in the page", path)
		}
		if !strings.Contains(p.body, "&lt;script&gt;window.__pwned=1&lt;/script&gt;") {
			t.Errorf("GET %s: the file name is not shown escaped", path)
		}
	}
}

// Without JavaScript, Replay and Delete show a confirmation page first; the
// confirmed action runs.
func TestDeadLetterActionsNeedConfirmation(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ids []string
	for _, name := range []string{"one.pkl", "two.pkl"} {
		res, err := s.q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: name})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.JobID)
		if err := s.q.PublishDeadLetter(ctx, queue.DeadLetter{
			JobID: res.JobID, Domain: "recruit", Subject: queue.SubjectPrefix + "recruit",
			Job: json.RawMessage(`{"file_name":"` + name + `"}`), Reason: queue.ReasonPermanent,
			Error: queue.JobError{Class: "file_not_found", Message: "no such file", Permanent: true}, Attempts: 1, StreamSeq: res.Seq,
		}); err != nil {
			t.Fatal(err)
		}
	}
	c := s.client(t)
	// The overview counts them from the dead-letter stream's info.
	if p := c.get("/"); !strings.Contains(p.body, `data-stat="deadletters">2<`) {
		t.Errorf("overview does not count 2 dead letters")
	}
	p := c.get("/ui/dlq")
	for _, id := range ids {
		if !strings.Contains(p.body, `data-dlq="`+id+`"`) {
			t.Fatalf("dead letter %s not listed", id)
		}
	}
	csrf := c.csrf("/ui/dlq")
	p = c.post("/ui/dlq/"+ids[0]+"/replay", url.Values{"csrf": {csrf}, "file_name": {"one.pkl"}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "Replay dead letter?") {
		t.Fatalf("unconfirmed replay: %d", p.status)
	}
	if _, err := s.q.GetDeadLetter(ctx, ids[0]); err != nil {
		t.Fatalf("unconfirmed replay removed the dead letter: %v", err)
	}
	p = c.post("/ui/dlq/"+ids[0]+"/replay", url.Values{"csrf": {csrf}, "confirmed": {"yes"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/jobs/"+ids[0]+"?notice=replayed" {
		t.Fatalf("replay: %d Location %q", p.status, p.header.Get("Location"))
	}
	p = c.post("/ui/dlq/"+ids[1]+"/delete", url.Values{"csrf": {csrf}, "confirmed": {"yes"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", p.status)
	}
	if p := c.get("/ui/dlq?notice=deleted"); !strings.Contains(p.body, "No dead letters") || !strings.Contains(p.body, "Dead letter deleted.") {
		t.Errorf("dead letters left after replay and delete")
	}
	if p := c.post("/ui/dlq/"+ids[1]+"/delete", url.Values{"csrf": {csrf}, "confirmed": {"yes"}}); p.status != http.StatusNotFound {
		t.Errorf("deleting twice: %d", p.status)
	}
	waitFor(t, "the overview to count 0 dead letters", func() bool {
		return strings.Contains(c.get("/").body, `data-stat="deadletters">0<`)
	})
}

// A job's page refreshes while the job may still change and stops once it
// is finished: the server renders the finished page without data-live.
func TestFinishedJobPageIsFinal(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: "final.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	c := s.client(t)
	if p := c.get("/ui/jobs/" + res.JobID); !strings.Contains(p.body, `id="live-job" data-live`) {
		t.Errorf("queued job's page is not live")
	}
	if _, err := s.q.UpdateStatus(ctx, res.JobID, func(st *queue.Status) error {
		st.State, st.FinishedAt = queue.StateSucceeded, time.Now()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if p := c.get("/ui/jobs/" + res.JobID); !strings.Contains(p.body, `id="live-job"`) || strings.Contains(p.body, `id="live-job" data-live`) {
		t.Errorf("finished job's page is still live")
	}
}

// Without JavaScript, cancel and the bulk actions show a confirmation page
// first, and act only once it is confirmed.
func TestCancelAndBulkNeedConfirmation(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: "one.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.q.PublishDeadLetter(ctx, queue.DeadLetter{JobID: "dl-1", Domain: "candidate", Subject: queue.SubjectPrefix + "candidate",
		Job: json.RawMessage(`{"file_name":"x.pkl"}`), Reason: queue.ReasonPermanent, Error: queue.JobError{Class: "validation"}, Attempts: 1, StreamSeq: 99}); err != nil {
		t.Fatal(err)
	}
	c := s.client(t)
	csrf := c.csrf("/ui/jobs/" + res.JobID)
	p := c.post("/ui/jobs/"+res.JobID+"/cancel", url.Values{"csrf": {csrf}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "Cancel job?") {
		t.Fatalf("unconfirmed cancel: %d", p.status)
	}
	if st, _ := s.q.GetStatus(ctx, res.JobID); st.State != queue.StateQueued {
		t.Fatalf("an unconfirmed cancel canceled: %s", st.State)
	}
	p = c.post("/ui/jobs/"+res.JobID+"/cancel", url.Values{"csrf": {csrf}, "confirmed": {"yes"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/jobs/"+res.JobID+"?notice=canceled" {
		t.Fatalf("cancel: %d Location %q", p.status, p.header.Get("Location"))
	}
	if p := c.get("/ui/jobs/" + res.JobID + "?notice=canceled"); !strings.Contains(p.body, `data-state="canceled"`) || !strings.Contains(p.body, "Job canceled") {
		t.Errorf("the job page after the cancel")
	}
	if p := c.post("/ui/jobs/"+res.JobID+"/cancel", url.Values{"csrf": {csrf}, "confirmed": {"yes"}}); p.status != http.StatusSeeOther {
		t.Errorf("a second cancel: %d", p.status)
	}

	form := url.Values{"csrf": {csrf}, "domain": {"candidate"}, "class": {"validation"}}
	p = c.post("/ui/dlq/purge-all", form)
	if p.status != http.StatusOK || !strings.Contains(p.body, "Purge dead letters?") || !strings.Contains(p.body, "every dead letter of domain candidate with error class validation") ||
		!strings.Contains(p.body, `name="class" value="validation"`) {
		t.Fatalf("unconfirmed bulk purge: %d %s", p.status, p.body)
	}
	if n, _ := s.q.DeadLetterCount(ctx); n != 1 {
		t.Fatalf("an unconfirmed purge purged")
	}
	form.Set("confirmed", "yes")
	p = c.post("/ui/dlq/purge-all", form)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/dlq?notice=bulkpurge&n=1" {
		t.Fatalf("bulk purge: %d Location %q", p.status, p.header.Get("Location"))
	}
	if p := c.get("/ui/dlq?notice=bulkpurge&n=1"); !strings.Contains(p.body, "1 dead letter(s) purged.") {
		t.Errorf("no notice after the bulk purge")
	}
	if p := c.get("/ui/dlq?notice=bulkpurge&n=<b>"); strings.Contains(p.body, "purged") || strings.Contains(p.body, "<b>") {
		t.Errorf("a notice took a non-number")
	}
	if p := c.post("/ui/dlq/replay-all", url.Values{"csrf": {csrf}, "since": {"soon"}}); p.status != http.StatusBadRequest {
		t.Errorf("a bad filter: %d", p.status)
	}
}
