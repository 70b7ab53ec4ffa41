package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Cookie names. Both cookies are HttpOnly. The session cookie is Secure
// and SameSite=Lax, so a link to a dashboard page from elsewhere (a chat,
// an alert) opens it logged in; forms stay safe by their anti-CSRF token
// and the cross-origin check. The CSRF cookie is SameSite=Strict, and
// Secure only on a secure request.
const (
	// SessionCookie holds a login: "<random session id>.<expiry unix
	// seconds>.<HMAC-SHA256 of both keyed with API_TOKEN>", so it proves
	// knowledge of the token without holding it, every session ends when
	// the token changes, and logout revokes the id in [SessionBucket].
	SessionCookie = "embedstream_session"
	// CSRFCookie holds a random value the forms' csrf field is bound to.
	CSRFCookie = "embedstream_csrf"
	// csrfField is the hidden form field holding the anti-CSRF token.
	csrfField = "csrf"
)

// tokenMatches compares a typed token with API_TOKEN in constant time,
// whatever the lengths (digests are compared, not the strings).
func (d *Dashboard) tokenMatches(got string) bool {
	want := sha256.Sum256([]byte(d.cfg.Token))
	have := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(have[:], want[:]) == 1
}

// authenticate requires a session on every path but the login page and the
// static assets, when a token is configured. A page request without one is
// sent to the login form; any other request is refused.
func (d *Dashboard) authenticate(h http.Handler) http.Handler {
	if d.cfg.Token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == pathLogin || strings.HasPrefix(r.URL.Path, pathStatic) {
			h.ServeHTTP(w, r)
			return
		}
		ok, err := d.checkSession(r)
		if err != nil {
			d.log.Error().Err(err).Str("path", r.URL.Path).Msg("dashboard: checking a session failed")
			d.renderError(w, r, http.StatusServiceUnavailable, "Session check unavailable",
				"Your session could not be checked because the job queue (NATS) is unavailable; retry later.")
			return
		}
		if ok {
			h.ServeHTTP(w, withAuthenticated(r))
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, pathLogin+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		d.renderError(w, r, http.StatusUnauthorized, "Login required", "Your session has expired or you are not logged in.")
	})
}

// csrfToken returns the anti-CSRF token for r's forms, setting the CSRF
// cookie it is bound to when r has none.
func (d *Dashboard) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(CSRFCookie); err == nil && len(c.Value) >= 32 {
		return d.csrfMAC(c.Value)
	}
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	v := base64.RawURLEncoding.EncodeToString(b[:])
	// The value is a nonce, not a credential: Secure only where the browser
	// would keep a Secure cookie, or every form fails over plain HTTP.
	http.SetCookie(w, &http.Cookie{
		Name: CSRFCookie, Value: v, Path: "/",
		Secure: secureRequest(r), HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	return d.csrfMAC(v)
}

func (d *Dashboard) csrfMAC(v string) string {
	m := hmac.New(sha256.New, d.cfg.CSRFKey)
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validCSRF checks a form's csrf field against its cookie: the field must
// be the HMAC of the cookie under the dashboard's key, so a value planted
// in the cookie by another site is useless without the key.
func (d *Dashboard) validCSRF(r *http.Request) bool {
	c, err := r.Cookie(CSRFCookie)
	if err != nil || len(c.Value) < 32 {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(d.csrfMAC(c.Value)))
}

func (d *Dashboard) handleLoginForm(w http.ResponseWriter, r *http.Request) error {
	if d.cfg.Token == "" {
		http.Redirect(w, r, pathOverview, http.StatusSeeOther)
		return nil
	}
	d.render(w, r, http.StatusOK, "login", loginData{Next: safeNext(r.URL.Query().Get("next"))})
	return nil
}

type loginData struct {
	Next  string
	Error string
}

func (d *Dashboard) handleLogin(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.PostFormValue("next"))
	if d.cfg.Token == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	ip := clientIP(r)
	if wait := d.logins.wait(ip); wait > 0 {
		d.log.Warn().Str("remote", r.RemoteAddr).Msg("dashboard login refused: too many failed attempts from this address")
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		d.render(w, r, http.StatusTooManyRequests, "login", loginData{Next: next,
			Error: "Too many failed logins from your address; wait a few seconds and try again."})
		return nil
	}
	if !d.tokenMatches(r.PostFormValue("token")) {
		d.logins.fail(ip)
		d.log.Warn().Str("remote", r.RemoteAddr).Msg("dashboard login with a wrong token")
		d.render(w, r, http.StatusUnauthorized, "login", loginData{Next: next, Error: "Wrong token."})
		return nil
	}
	exp := d.now().Add(d.cfg.SessionTTL)
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: d.newSessionValue(exp), Path: "/",
		Expires: exp, MaxAge: int(d.cfg.SessionTTL.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// handleLogout revokes the session, so its cookie is refused from then on
// by every replica (a captured copy too), and clears the cookie.
func (d *Dashboard) handleLogout(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	if s, ok := d.parseSession(r); ok {
		ctx, cancel := context.WithTimeout(r.Context(), d.cfg.RequestTimeout)
		defer cancel()
		if err := d.sessions.revoke(ctx, s); err != nil {
			return &errPage{status: http.StatusServiceUnavailable, title: "Logout incomplete",
				detail: "This browser is logged out and this server refuses the session, but the logout could not be recorded " +
					"for the other publisher replicas (the job queue is unavailable). Log in and out again once it is back.", err: err}
		}
	}
	http.Redirect(w, r, pathLogin, http.StatusSeeOther)
	return nil
}

// safeNext returns next when it is a path on this site, else "/": a login
// must not redirect elsewhere.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return pathOverview
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return pathOverview
	}
	return next
}

// secureRequest reports whether a browser will keep a Secure cookie from
// r: it came over TLS (directly or through a proxy saying so), or to a
// loopback host, which browsers treat as secure.
func secureRequest(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
