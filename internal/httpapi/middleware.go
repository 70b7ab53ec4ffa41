package httpapi

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	stdlog "log"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/clip"
	"github.com/embedstream/embedstream/internal/telemetry"
	"github.com/embedstream/embedstream/internal/wire"
)

// requestInfo is filled in while a request is served and read by the access
// log: the matched route, the job it concerned and the handler's error.
type requestInfo struct {
	id    string
	route string
	jobID string
	err   error
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// setJobID records the job a request concerns, for the access log.
func setJobID(r *http.Request, id string) {
	if info := infoFrom(r.Context()); info != nil {
		info.jobID = id
	}
}

// HeaderRequestID carries the request id; a client's valid value is kept,
// otherwise one is generated. Every response echoes it.
const HeaderRequestID = "X-Request-Id"

// observe wraps h with a request id, the ctx logger, panic recovery, the
// access log line and the request metrics.
func (s *Server) observe(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{id: requestID(r), route: routeNotFound}
		if _, pattern := s.mux.Handler(r); pattern != "" {
			info.route = pattern // also for answers the middleware gives (401)
		}
		w.Header().Set(HeaderRequestID, info.id)
		log := s.log.With().Str("request_id", info.id).Logger()
		ctx := context.WithValue(r.Context(), infoKey{}, info)
		ctx = telemetry.WithLogger(ctx, log)
		sw := telemetry.NewResponseRecorder(w)
		func() {
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					info.err = fmt.Errorf("panic: %v", p)
					if sw.Status() == 0 {
						writeError(sw, errorf(http.StatusInternalServerError, CodeInternal, "internal error"))
					}
				}
			}()
			h.ServeHTTP(sw, r.WithContext(ctx))
		}()
		status := cmp.Or(sw.Status(), http.StatusOK)
		elapsed := time.Since(start)
		s.metrics.observeRequest(info.route, status, elapsed)

		ev := log.Info()
		switch {
		case status >= 500:
			ev = log.Error()
		case status >= 400:
			ev = log.Warn()
		case info.route == routeHealthz || info.route == routeReadyz || info.route == routeMetrics:
			ev = log.Debug()
		}
		if info.jobID != "" {
			ev = ev.Str("job_id", info.jobID)
		}
		if info.err != nil {
			ev = ev.AnErr("error", info.err)
		}
		ev.Str("method", r.Method).
			Str("path", r.URL.Path).
			Str("route", info.route).
			Int("status", status).
			Int64("bytes_in", max(r.ContentLength, 0)).
			Int64("bytes_out", sw.Written()).
			Dur("duration", elapsed).
			Str("remote", r.RemoteAddr).
			Msg("http request")
	})
}

func requestID(r *http.Request) string {
	if id := r.Header.Get(HeaderRequestID); len(id) <= 64 && wire.ValidateID(HeaderRequestID, id) == nil {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// authenticate requires the bearer token on every route but the health
// checks, when a token is configured.
func (s *Server) authenticate(h http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return h
	}
	// Compare digests, so the comparison takes the same time whatever the
	// lengths of the two tokens.
	want := sha256.Sum256([]byte(s.cfg.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			h.ServeHTTP(w, r)
			return
		}
		got, ok := bearer(r.Header.Get("Authorization"))
		gotSum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 || !ok {
			writeError(w, errorf(http.StatusUnauthorized, CodeUnauthorized, "missing or wrong bearer token (send 'Authorization: Bearer <API_TOKEN>')"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// crossOrigin refuses state-changing requests a browser sends from
// another site (403 cross_origin), as the dashboard's forms do
// (net/http.CrossOriginProtection): a POST, PUT or DELETE whose
// Sec-Fetch-Site says cross-site or same-site, or, from a browser too old
// to send it, whose Origin is not the request's host. Without API_TOKEN a
// page on any site could otherwise make its visitors' browsers enqueue,
// upload, replay or purge on a publisher they can reach. Requests without
// those headers (curl, scripts, other services) are not browsers' and
// pass, as do GET, HEAD and OPTIONS.
func crossOrigin(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusForbidden, CodeCrossOrigin,
			"cross-origin request refused: a browser sent %s %s from another site", r.Method, clip.Quote(r.URL.Path)))
	}))
	return cop.Handler(h)
}

// newStdLogger routes net/http's internal log lines into zerolog.
func newStdLogger(log zerolog.Logger) *stdlog.Logger {
	return stdlog.New(log.With().Str("source", "net/http").Logger(), "", 0)
}
