package dashboard

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/queue"
)

var t0 = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)

func TestRow(t *testing.T) {
	t.Parallel()
	d := &Dashboard{now: func() time.Time { return t0.Add(time.Minute) }}
	for _, tc := range []struct {
		name          string
		st            queue.Status
		value, max    uint64
		pct           int
		duration, ago string
	}{
		{"queued", queue.Status{State: queue.StateQueued, EnqueuedAt: t0}, 0, 1, 0, "", "1m00s ago"},
		{"running", queue.Status{State: queue.StateRunning, RecordsTotal: 200, RecordsSent: 50, StartedAt: t0.Add(30 * time.Second)}, 50, 200, 25, "30.0s", ""},
		{"succeeded", queue.Status{State: queue.StateSucceeded, RecordsTotal: 10, RecordsSent: 10, StartedAt: t0, FinishedAt: t0.Add(1500 * time.Millisecond)}, 10, 10, 100, "1.5s", ""},
		{"empty file", queue.Status{State: queue.StateSucceeded, StartedAt: t0, FinishedAt: t0.Add(5 * time.Millisecond)}, 1, 1, 100, "5ms", ""},
		// Everything sent is not everything acknowledged: the bar is full
		// only once the job succeeded.
		{"sent beyond total", queue.Status{State: queue.StateRunning, RecordsTotal: 10, RecordsSent: 12}, 9, 10, 99, "", ""},
		{"all sent, committing", queue.Status{State: queue.StateRunning, Phase: queue.PhaseCommitting, RecordsTotal: 50, RecordsSent: 50}, 49, 50, 99, "", ""},
	} {
		r := d.row(tc.st)
		if r.ProgressValue != tc.value || r.ProgressMax != tc.max || r.Percent != tc.pct || r.Duration != tc.duration || r.EnqueuedAgo != tc.ago {
			t.Errorf("%s: row %+v", tc.name, r)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		-time.Second:                       "0s",
		850 * time.Millisecond:             "850ms",
		12300 * time.Millisecond:           "12.3s",
		4*time.Minute + 5*time.Second:      "4m05s",
		2*time.Hour + 10*time.Minute + 3e9: "2h10m",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for next, want := range map[string]string{
		"/ui/jobs?state=failed": "/ui/jobs?state=failed",
		"":                      "/",
		"//evil.example/x":      "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
		"ui/jobs":               "/",
		"javascript:alert(1)":   "/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

func TestSecureRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host  string
		tls   bool
		proto string
		want  bool
	}{
		{"127.0.0.1:8000", false, "", true},
		{"localhost:8000", false, "", true},
		{"[::1]:8000", false, "", true},
		{"dash.example:8000", false, "", false},
		{"dash.example", true, "", true},
		{"dash.example", false, "https", true},
	} {
		r := httptest.NewRequest("GET", "/ui/login", nil)
		r.Host = tc.host
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		if got := secureRequest(r); got != tc.want {
			t.Errorf("secureRequest(host %s, tls %v, proto %q) = %v", tc.host, tc.tls, tc.proto, got)
		}
	}
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	now := t0
	d := &Dashboard{cfg: Config{Token: "tok"}, now: func() time.Time { return now }}
	v := d.newSessionValue(t0.Add(time.Hour))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", SessionCookie+"="+v)
	if _, ok := d.parseSession(r); !ok {
		t.Fatal("fresh session refused")
	}
	now = t0.Add(time.Hour)
	if _, ok := d.parseSession(r); ok {
		t.Error("expired session accepted")
	}
	now = t0
	d.cfg.Token = "other"
	if _, ok := d.parseSession(r); ok {
		t.Error("session of an old token accepted")
	}
	// Two logins at the same instant are two sessions: logout revokes one.
	d.cfg.Token = "tok"
	if a, b := d.newSessionValue(t0.Add(time.Hour)), d.newSessionValue(t0.Add(time.Hour)); a == b {
		t.Errorf("two sessions share the value %q", a)
	}
}

// Whatever the range, the chart's bars have a positive width, stay inside
// the plot, and the y axis' top tick is at least the highest bar.
func TestChartGeometry(t *testing.T) {
	t.Parallel()
	for _, rng := range chartRanges {
		n := int(rng.Span / rng.Step)
		s := jobindex.Series{From: t0, To: t0.Add(rng.Span), Step: rng.Step}
		for i := range n {
			s.Points = append(s.Points, jobindex.Point{Start: t0.Add(time.Duration(i) * rng.Step), Records: uint64(i * 37 % 1000), Succeeded: uint64(i % 3), Failed: uint64(i % 2)})
		}
		for _, c := range []chart{newChart("records", "records", s, recordStack), newChart("jobs", "jobs", s, jobStack)} {
			if len(c.XTicks) == 0 || len(c.YTicks) != 5 || c.Empty {
				t.Errorf("%s %s: %d x ticks, %d y ticks, empty %v", rng.Name, c.Title, len(c.XTicks), len(c.YTicks), c.Empty)
			}
			for i, b := range c.Bars {
				if b.W < 1 || b.H < 1 || b.X < c.PlotX || b.X+b.W > c.PlotX+c.PlotW || b.Y < c.PlotY || b.Y+b.H > c.Bottom+1 {
					t.Fatalf("%s %s: bar %d %+v outside the plot %d,%d %dx%d", rng.Name, c.Title, i, b, c.PlotX, c.PlotY, c.PlotW, c.PlotH)
				}
			}
		}
	}
	if c := newChart("none", "jobs", jobindex.Series{From: t0, To: t0.Add(time.Hour), Step: time.Minute}, jobStack); !c.Empty || len(c.Bars) != 0 {
		t.Errorf("an empty series: %+v", c)
	}
}

func TestNiceCeil(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]float64{0: 4, 3: 4, 7: 10, 11: 20, 180: 200, 401: 500, 999: 1000, 1001: 2000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}
