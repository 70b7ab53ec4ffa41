package dashboard

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
)

// recentJobs is how many jobs the overview lists.
const recentJobs = 8

// overviewJobs bounds the status records an overview reads: its counts,
// throughput and busy workers cover at most the newest this many jobs,
// which the page says when it is so.
const overviewJobs = 1000

type overviewData struct {
	Consumer    *queue.ConsumerStats // nil when the consumer's info is unavailable
	ConsumerErr string
	Window      string // the recent window, e.g. "1h"
	States      []stateCount
	Throughput  throughputStats
	WorkersBusy []string // workers running a job now, from the status records; a worker with a free slot shows only as a waiting pull request (queue.ConsumerStats.Waiting)
	DeadLetters string   // count of INGEST_DLQ's messages, "?" when unknown
	Recent      []jobRow
	Truncated   bool // the newest overviewJobs jobs were read, not all
	Limit       int  // overviewJobs
}

type stateCount struct {
	State string
	Count int
}

// throughputStats is records/s over the throughput window, and a per-minute
// chart of twice that span.
type throughputStats struct {
	PerSecond string
	Records   uint64 // records sent within the window
	Window    string
	Chart     chart
}

// chart is a bar chart drawn as SVG attributes (no inline styles, which
// the CSP forbids).
type chart struct {
	Width, Height int
	Bars          []bar
	Max           string // the largest bar's value, for the axis label
	From, To      string // the first and last minute
}

type bar struct {
	X, Y, W, H int
	Label      string // accessible text: "09:31: 1,200 records"
}

func (d *Dashboard) handleOverview(w http.ResponseWriter, r *http.Request) error {
	data, err := d.overview(r.Context())
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, "overview", data)
	return nil
}

// overviewCache shares one overview among all the tabs that refresh it, so
// their cost does not grow with their number: it is recomputed at most
// once per half refresh interval.
type overviewCache struct {
	mu   sync.Mutex
	at   time.Time
	data overviewData
}

// overview returns the overview, from the cache when it is fresh. Callers
// arriving while it is computed wait for that computation.
func (d *Dashboard) overview(ctx context.Context) (overviewData, error) {
	d.ov.mu.Lock()
	defer d.ov.mu.Unlock()
	if !d.ov.at.IsZero() && d.now().Sub(d.ov.at) < d.cfg.RefreshInterval/2 {
		return d.ov.data, nil
	}
	data, err := d.loadOverview(ctx)
	if err != nil {
		return overviewData{}, err
	}
	d.ov.data, d.ov.at = data, d.now()
	return data, nil
}

// loadOverview reads what the overview shows: the newest overviewJobs
// status records (one bounded listing), the consumer's info (one JetStream
// API call) and the dead-letter stream's info (one more).
func (d *Dashboard) loadOverview(ctx context.Context) (overviewData, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	statuses, err := d.q.ListStatus(ctx, queue.Filter{Limit: overviewJobs})
	if err != nil {
		return overviewData{}, queueErr("Listing jobs", err)
	}
	now := d.now()
	data := overviewData{
		Window:      shortDuration(d.cfg.Window),
		States:      countStates(statuses, now.Add(-d.cfg.Window)),
		Throughput:  d.throughput(statuses, now),
		WorkersBusy: busyWorkers(statuses),
		Truncated:   len(statuses) >= overviewJobs,
		Limit:       overviewJobs,
	}
	for _, st := range statuses[:min(recentJobs, len(statuses))] {
		data.Recent = append(data.Recent, d.row(st))
	}
	if cs, err := d.q.ConsumerStats(ctx); err != nil {
		data.ConsumerErr = "consumer " + queue.ConsumerName + " unavailable"
		d.log.Warn().Err(err).Msg("dashboard: reading the job consumer failed")
	} else {
		data.Consumer = &cs
	}
	if n, err := d.q.DeadLetterCount(ctx); err != nil {
		data.DeadLetters = "?"
		d.log.Warn().Err(err).Msg("dashboard: reading the dead-letter stream failed")
	} else {
		data.DeadLetters = groupDigits(n)
	}
	return data, nil
}

// countStates counts jobs per state: every unfinished job (queued, running,
// retrying), however old, and the finished ones updated since since.
func countStates(statuses []queue.Status, since time.Time) []stateCount {
	counts := make(map[string]int, len(allStates))
	for _, st := range statuses {
		finished := st.State == queue.StateSucceeded || st.State == queue.StateFailed
		if finished && st.UpdatedAt.Before(since) {
			continue
		}
		counts[st.State]++
	}
	out := make([]stateCount, 0, len(allStates))
	for _, s := range allStates {
		out = append(out, stateCount{State: s, Count: counts[s]})
	}
	return out
}

// busyWorkers returns the workers running a job, sorted.
func busyWorkers(statuses []queue.Status) []string {
	var names []string
	for _, st := range statuses {
		if st.State == queue.StateRunning && st.Worker != "" && !slices.Contains(names, st.Worker) {
			names = append(names, st.Worker)
		}
	}
	slices.Sort(names)
	return names
}

// recordsPerMinute spreads each job's sent records evenly over the span of
// its latest attempt (start to finish, or to its last progress write while
// it runs) and sums them into n one-minute buckets ending at now, oldest
// first. Status records carry no finer history, so this is an estimate.
func recordsPerMinute(statuses []queue.Status, now time.Time, n int) []float64 {
	buckets := make([]float64, n)
	start := now.Add(-time.Duration(n) * time.Minute)
	for _, st := range statuses {
		if st.RecordsSent == 0 || st.StartedAt.IsZero() || st.Duplicate {
			continue
		}
		end := st.FinishedAt
		if end.IsZero() || end.Before(st.StartedAt) {
			end = st.UpdatedAt
		}
		span := end.Sub(st.StartedAt)
		if span <= 0 {
			if i := int(end.Sub(start) / time.Minute); !end.Before(start) && i < n {
				buckets[i] += float64(st.RecordsSent)
			}
			continue
		}
		rate := float64(st.RecordsSent) / float64(span)
		for i := range n {
			b0 := start.Add(time.Duration(i) * time.Minute)
			b1 := b0.Add(time.Minute)
			lo, hi := maxTime(b0, st.StartedAt), minTime(b1, end)
			if hi.After(lo) {
				buckets[i] += rate * float64(hi.Sub(lo))
			}
		}
	}
	return buckets
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Chart geometry, in SVG user units.
const (
	chartWidth  = 600
	chartHeight = 120
	chartGap    = 4
)

func (d *Dashboard) throughput(statuses []queue.Status, now time.Time) throughputStats {
	winMinutes := max(1, int(math.Round(d.cfg.ThroughputWindow.Minutes())))
	n := 2 * winMinutes
	buckets := recordsPerMinute(statuses, now, n)
	var inWindow float64
	for _, v := range buckets[n-winMinutes:] {
		inWindow += v
	}
	ts := throughputStats{
		PerSecond: formatRate(inWindow / (float64(winMinutes) * 60)),
		Records:   uint64(math.Round(inWindow)),
		Window:    shortDuration(time.Duration(winMinutes) * time.Minute),
	}
	peak := slices.Max(buckets)
	// Each bar gets chartWidth/n units, at least one: a long window widens
	// the viewBox instead (the SVG scales to its box). The gap between bars
	// goes when it would leave a bar less than its own width.
	w := max(1, chartWidth/n)
	gap := chartGap
	if w < 2*chartGap {
		gap = 0
	}
	c := chart{Width: max(chartWidth, n*w), Height: chartHeight, Max: groupDigits(uint64(math.Round(peak)))}
	start := now.Add(-time.Duration(n) * time.Minute)
	for i, v := range buckets {
		h := 0
		if peak > 0 {
			h = int(math.Round(v / peak * (chartHeight - 2)))
		}
		if v > 0 && h < 1 {
			h = 1
		}
		minute := start.Add(time.Duration(i) * time.Minute)
		c.Bars = append(c.Bars, bar{
			X: i*w + gap/2, Y: chartHeight - h, W: w - gap, H: h,
			Label: fmt.Sprintf("%s–%s UTC: %s records", minute.UTC().Format("15:04"), minute.Add(time.Minute).UTC().Format("15:04"), groupDigits(uint64(math.Round(v)))),
		})
	}
	c.From, c.To = start.UTC().Format("15:04"), now.UTC().Format("15:04")
	ts.Chart = c
	return ts
}

// formatRate renders a records/s rate with sensible precision.
func formatRate(r float64) string {
	switch {
	case r == 0:
		return "0"
	case r < 10:
		return strconv.FormatFloat(r, 'f', 2, 64)
	case r < 1000:
		return strconv.FormatFloat(r, 'f', 0, 64)
	default:
		return strconv.FormatFloat(r/1000, 'f', 1, 64) + "k"
	}
}

// shortDuration renders a whole number of minutes or hours: "5m", "1h".
func shortDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.Itoa(int(d.Hours())) + "h"
	}
	if d%time.Minute == 0 {
		return strconv.Itoa(int(d.Minutes())) + "m"
	}
	return d.String()
}
