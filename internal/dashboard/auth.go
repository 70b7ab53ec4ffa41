package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Cookie names. Both cookies are Secure, HttpOnly and SameSite=Strict.
const (
	// SessionCookie holds a login: "<expiry unix seconds>.<HMAC-SHA256 of
	// the expiry keyed with API_TOKEN>", so it proves knowledge of the token
	// without holding it, and every session ends when the token changes.
	SessionCookie = "embedstream_session"
	// CSRFCookie holds a random value the forms' csrf field is bound to.
	CSRFCookie = "embedstream_csrf"
	// csrfField is the hidden form field holding the anti-CSRF token.
	csrfField = "csrf"
)

// sessionValue returns a session cookie value that expires at exp.
func (d *Dashboard) sessionValue(exp time.Time) string {
	ts := strconv.FormatInt(exp.Unix(), 10)
	return ts + "." + base64.RawURLEncoding.EncodeToString(d.sessionMAC(ts))
}

func (d *Dashboard) sessionMAC(ts string) []byte {
	m := hmac.New(sha256.New, []byte(d.cfg.Token))
	m.Write([]byte("embedstream dashboard session\x00" + ts))
	return m.Sum(nil)
}

// validSession reports whether r carries an unexpired session cookie
// signed with the current token.
func (d *Dashboard) validSession(r *http.Request) bool {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return false
	}
	ts, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || d.now().Unix() >= exp {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	return hmac.Equal(got, d.sessionMAC(ts)) // constant time
}

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
		if r.URL.Path == pathLogin || strings.HasPrefix(r.URL.Path, pathStatic) || d.validSession(r) {
			h.ServeHTTP(w, r)
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
	http.SetCookie(w, &http.Cookie{
		Name: CSRFCookie, Value: v, Path: "/",
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
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
	d.render(w, r, http.StatusOK, "login", loginData{Next: safeNext(r.URL.Query().Get("next")), Insecure: !secureRequest(r)})
	return nil
}

type loginData struct {
	Next     string
	Error    string
	Insecure bool // served over plain HTTP to a non-loopback host: the Secure cookie will be dropped
}

func (d *Dashboard) handleLogin(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.PostFormValue("next"))
	if d.cfg.Token == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	if !d.tokenMatches(r.PostFormValue("token")) {
		d.log.Warn().Str("remote", r.RemoteAddr).Msg("dashboard login with a wrong token")
		d.render(w, r, http.StatusUnauthorized, "login", loginData{Next: next, Error: "Wrong token.", Insecure: !secureRequest(r)})
		return nil
	}
	exp := d.now().Add(d.cfg.SessionTTL)
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: d.sessionValue(exp), Path: "/",
		Expires: exp, MaxAge: int(d.cfg.SessionTTL.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (d *Dashboard) handleLogout(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
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
