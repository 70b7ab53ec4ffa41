package dashboard

import (
	"crypto/tls"
	"math"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
)

var t0 = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)

func TestRecordsPerMinute(t *testing.T) {
	t.Parallel()
	now := t0.Add(10 * time.Minute)
	got := recordsPerMinute([]queue.Status{
		// 120 records over the two minutes 10:07-10:09: 60 in each.
		{RecordsSent: 120, StartedAt: t0.Add(7 * time.Minute), FinishedAt: t0.Add(9 * time.Minute)},
		// Running: 30 records from 10:09:30 to its last write at 10:09:45.
		{RecordsSent: 30, StartedAt: t0.Add(9*time.Minute + 30*time.Second), UpdatedAt: t0.Add(9*time.Minute + 45*time.Second)},
		// Zero-length span: all in its minute.
		{RecordsSent: 7, StartedAt: t0.Add(5 * time.Minute), FinishedAt: t0.Add(5 * time.Minute)},
		// Before the window, a duplicate, and one that never started: ignored.
		{RecordsSent: 1000, StartedAt: t0.Add(-time.Hour), FinishedAt: t0.Add(-50 * time.Minute)},
		{RecordsSent: 1000, StartedAt: t0.Add(time.Minute), FinishedAt: t0.Add(2 * time.Minute), Duplicate: true},
		{RecordsSent: 0, State: queue.StateQueued},
	}, now, 4)
	want := []float64{0, 60, 60, 30} // 10:06, 10:07, 10:08, 10:09
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatalf("buckets %v, want %v", got, want)
		}
	}
	all := recordsPerMinute([]queue.Status{{RecordsSent: 7, StartedAt: t0.Add(5 * time.Minute), FinishedAt: t0.Add(5 * time.Minute)}}, now, 10)
	if all[5] != 7 {
		t.Errorf("zero-length job: buckets %v, want 7 in the 10:05 bucket", all)
	}
}

func TestCountStates(t *testing.T) {
	t.Parallel()
	since := t0
	got := countStates([]queue.Status{
		{State: queue.StateQueued, UpdatedAt: t0.Add(-24 * time.Hour)}, // unfinished: counted however old
		{State: queue.StateRunning, UpdatedAt: t0.Add(time.Minute)},
		{State: queue.StateSucceeded, UpdatedAt: t0.Add(time.Minute)},
		{State: queue.StateSucceeded, UpdatedAt: t0.Add(-time.Minute)}, // finished before the window
		{State: queue.StateFailed, UpdatedAt: t0.Add(time.Second)},
	}, since)
	want := []stateCount{{queue.StateQueued, 1}, {queue.StateRunning, 1}, {queue.StateRetrying, 0}, {queue.StateSucceeded, 1}, {queue.StateFailed, 1}}
	if !slices.Equal(got, want) {
		t.Errorf("countStates = %v, want %v", got, want)
	}
}

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
		{"sent beyond total", queue.Status{State: queue.StateRunning, RecordsTotal: 10, RecordsSent: 12}, 10, 10, 100, "", ""},
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

// Whatever the throughput window, the chart's bars have a positive width
// and stay inside the viewBox.
func TestChartGeometry(t *testing.T) {
	t.Parallel()
	for _, win := range []time.Duration{time.Minute, 5 * time.Minute, 75 * time.Minute, 151 * time.Minute, 10 * time.Hour} {
		d := &Dashboard{cfg: Config{ThroughputWindow: win}}
		c := d.throughput(nil, t0).Chart
		if len(c.Bars) != 2*int(win.Minutes()) {
			t.Errorf("window %v: %d bars", win, len(c.Bars))
		}
		for i, b := range c.Bars {
			if b.W < 1 || b.X < 0 || b.X+b.W > c.Width {
				t.Fatalf("window %v: bar %d at x=%d width %d in a chart %d wide", win, i, b.X, b.W, c.Width)
			}
		}
	}
}
