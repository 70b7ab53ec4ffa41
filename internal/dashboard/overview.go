package dashboard

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/queue"
)

// recentJobs is how many jobs the overview lists.
const recentJobs = 8

// overviewData is what the overview shows: GET /queue's figures (the same
// httpapi.QueueView), the workers' heartbeats, the jobs by state, the
// charts over the chosen range and the newest jobs.
type overviewData struct {
	Queue      *httpapi.QueueView // nil when JetStream could not be read
	QueueErr   string
	Workers    int
	SlotsBusy  int
	SlotsTotal int
	WorkersErr string
	States     []stateCount
	Recent     []jobRow
	Ranges     []chartRange
	Range      chartRange
	Records    chart
	Jobs       chart
	Throughput string // records/s, formatted
	Failures   uint64 // failed jobs and retried attempts in the recent window
	Window     string // the recent window, e.g. "1h"
}

type stateCount struct {
	State string
	Count int
}

func (d *Dashboard) handleOverview(w http.ResponseWriter, r *http.Request) error {
	data, err := d.overview(r.Context(), r.URL.Query().Get("range"))
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, "overview", data)
	return nil
}

// overviewCache shares one overview per chart range among all the tabs
// that refresh it, so their cost does not grow with their number: each is
// recomputed at most once per half refresh interval.
type overviewCache struct {
	mu      sync.Mutex
	entries map[string]cachedOverview
}

type cachedOverview struct {
	at   time.Time
	data overviewData
}

// overview returns the overview for the chart range named rangeName, from
// the cache when it is fresh. Callers arriving while it is computed wait
// for that computation.
func (d *Dashboard) overview(ctx context.Context, rangeName string) (overviewData, error) {
	rng, _ := pickRange(rangeName)
	d.ov.mu.Lock()
	defer d.ov.mu.Unlock()
	if e, ok := d.ov.entries[rng.Name]; ok && d.now().Sub(e.at) < d.cfg.RefreshInterval/2 {
		return e.data, nil
	}
	data, err := d.loadOverview(ctx, rng.Name)
	if err != nil {
		return overviewData{}, err
	}
	if d.ov.entries == nil {
		d.ov.entries = map[string]cachedOverview{}
	}
	d.ov.entries[rng.Name] = cachedOverview{at: d.now(), data: data}
	return data, nil
}

// loadOverview reads what the overview shows, at a cost that does not
// grow with the number of jobs: JetStream's stream and consumer info (three
// API calls), the job index's counts, series and newest page, and one
// heartbeat record per worker.
func (d *Dashboard) loadOverview(ctx context.Context, rangeName string) (overviewData, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	ix, err := d.index(ctx)
	if err != nil {
		return overviewData{}, err
	}
	now := d.now()
	data := overviewData{Window: shortDuration(httpapi.RecentWindow)}
	data.Range, data.Ranges = pickRange(rangeName)

	v, err := httpapi.LoadQueueView(ctx, d.q, ix, now)
	if err != nil {
		data.QueueErr = "JetStream's figures are unavailable"
		d.log.Warn().Err(err).Msg("dashboard: reading the queue's figures failed")
		// The index's counts stand on their own.
		if c, cerr := ix.Counts(ctx); cerr == nil {
			v.Jobs = c
		}
	} else {
		data.Queue = &v
		data.Throughput = formatRate(v.Throughput.RecordsPerSecond)
		data.Failures = v.Recent.Failed + v.Recent.Retried
	}
	for _, s := range queue.States() {
		data.States = append(data.States, stateCount{State: s, Count: v.Jobs.States[s]})
	}

	series, err := ix.Series(ctx, now.Add(-data.Range.Span), now, data.Range.Step)
	if err != nil {
		return overviewData{}, queueErr("Reading the job figures", err)
	}
	data.Records = newChart("Records committed", "records", series, recordStack)
	data.Jobs = newChart("Jobs finished and attempts retried", "jobs", series, jobStack)

	page, err := ix.List(ctx, jobindex.Query{Limit: recentJobs})
	if err != nil {
		return overviewData{}, queueErr("Listing jobs", err)
	}
	for _, st := range page.Jobs {
		data.Recent = append(data.Recent, d.row(st))
	}

	if ws, err := d.q.ListWorkers(ctx); err != nil {
		data.WorkersErr = "worker heartbeats unavailable"
		d.log.Warn().Err(err).Msg("dashboard: reading the workers' heartbeats failed")
	} else {
		data.Workers = len(ws)
		for _, w := range ws {
			data.SlotsBusy += len(w.Jobs)
			data.SlotsTotal += w.Concurrency
		}
	}
	return data, nil
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

// shortDuration renders a whole number of days, hours or minutes: "7d",
// "1h", "5m".
func shortDuration(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d.Hours()/24)) + "d"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d.Hours())) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d.Minutes())) + "m"
	}
	return d.String()
}
