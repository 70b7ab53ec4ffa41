package jobindex

import (
	"context"
	"fmt"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
)

// Kinds of per-minute figures.
const (
	kindSucceeded = iota // jobs that succeeded, by finish time
	kindFailed           // jobs that failed (dead-lettered), by finish time
	kindCanceled         // jobs canceled, by finish time
	kindRetried          // attempts that failed transiently, by the attempt's end
	kindRecords          // records committed by the jobs that succeeded, by finish time
	numKinds
)

// figures are one minute's counts, indexed by kind.
type figures [numKinds]uint64

// contrib is what one record adds to one minute's figures.
type contrib struct {
	minute int64 // Unix minute
	kind   uint8
	n      uint64
}

func minuteOf(t time.Time) int64 { return t.Unix() / 60 }

// contributions returns what record st adds to the series: its outcome at
// its finish time, and each transient failure of its history at the
// attempt's end. A record's contributions are replaced whole when it
// changes, so the series always agrees with the records the bucket holds.
func contributions(st queue.Status) []contrib {
	var out []contrib
	if !st.FinishedAt.IsZero() {
		m := minuteOf(st.FinishedAt)
		switch st.State {
		case queue.StateSucceeded:
			out = append(out, contrib{m, kindSucceeded, 1})
			records := st.RecordsAcked
			if records == 0 && !st.Duplicate {
				records = st.RecordsSent // a record written before records_acked existed
			}
			if records > 0 {
				out = append(out, contrib{m, kindRecords, records})
			}
		case queue.StateFailed:
			out = append(out, contrib{m, kindFailed, 1})
		case queue.StateCanceled:
			out = append(out, contrib{m, kindCanceled, 1})
		}
	}
	for _, a := range st.History {
		if a.Outcome == queue.OutcomeRetrying && !a.FinishedAt.IsZero() {
			out = append(out, contrib{minuteOf(a.FinishedAt), kindRetried, 1})
		}
	}
	return out
}

// addSeries adds (sign 1) or removes (sign -1) contributions.
func (s *state) addSeries(cs []contrib, sign int) {
	for _, c := range cs {
		f := s.series[c.minute]
		if f == nil {
			if sign < 0 {
				continue
			}
			f = &figures{}
			s.series[c.minute] = f
		}
		if sign > 0 {
			f[c.kind] += c.n
		} else {
			f[c.kind] -= min(f[c.kind], c.n)
		}
		if *f == (figures{}) {
			delete(s.series, c.minute)
		}
	}
}

// Point is one step of a [Series].
type Point struct {
	Start     time.Time `json:"start"` // the step covers [Start, Start+Step)
	Succeeded uint64    `json:"succeeded"`
	Failed    uint64    `json:"failed"`
	Canceled  uint64    `json:"canceled"`
	Retried   uint64    `json:"retried"`
	Records   uint64    `json:"records"`
}

// Series is the per-step figures over a range.
type Series struct {
	From   time.Time     `json:"from"`
	To     time.Time     `json:"to"`
	Step   time.Duration `json:"-"`
	StepS  int64         `json:"step_seconds"`
	Points []Point       `json:"points"`
	// Totals sums the points.
	Totals Point `json:"totals"`
}

// MaxPoints bounds the steps of a series.
const MaxPoints = 2000

// Series returns the figures from from to to in steps of step (whole
// minutes; rounded up to at least one minute and to at most [MaxPoints]
// steps): jobs succeeded, failed and canceled by their finish time,
// transient failures by the end of their attempt, and records committed.
// The range is aligned on whole minutes. It covers the records the bucket
// retains (JOB_STATUS_TTL). It waits for the first load as long as ctx
// allows. Errors: [ErrNotReady].
func (ix *Index) Series(ctx context.Context, from, to time.Time, step time.Duration) (Series, error) {
	select {
	case <-ix.loaded:
	case <-ctx.Done():
		return Series{}, fmt.Errorf("jobindex: %w: %w", ErrNotReady, context.Cause(ctx))
	}
	first, last := minuteOf(from), minuteOf(to)
	if to.Unix()%60 != 0 || to.Nanosecond() != 0 {
		last++ // the minute to falls in is part of the range
	}
	if last <= first {
		last = first + 1
	}
	stepMin := max(int64(step/time.Minute), 1)
	if (last-first+stepMin-1)/stepMin > MaxPoints {
		stepMin = (last - first + MaxPoints - 1) / MaxPoints
	}
	n := (last - first + stepMin - 1) / stepMin
	out := Series{
		From: time.Unix(first*60, 0).UTC(), To: time.Unix((first+n*stepMin)*60, 0).UTC(),
		Step: time.Duration(stepMin) * time.Minute, StepS: stepMin * 60, Points: make([]Point, n),
	}
	for i := range out.Points {
		out.Points[i].Start = time.Unix((first+int64(i)*stepMin)*60, 0).UTC()
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	add := func(m int64, f *figures) {
		p := &out.Points[(m-first)/stepMin]
		p.Succeeded += f[kindSucceeded]
		p.Failed += f[kindFailed]
		p.Canceled += f[kindCanceled]
		p.Retried += f[kindRetried]
		p.Records += f[kindRecords]
	}
	end := first + n*stepMin
	if int(end-first) <= len(ix.st.series) {
		for m := first; m < end; m++ {
			if f := ix.st.series[m]; f != nil {
				add(m, f)
			}
		}
	} else {
		for m, f := range ix.st.series {
			if m >= first && m < end {
				add(m, f)
			}
		}
	}
	for _, p := range out.Points {
		out.Totals.Succeeded += p.Succeeded
		out.Totals.Failed += p.Failed
		out.Totals.Canceled += p.Canceled
		out.Totals.Retried += p.Retried
		out.Totals.Records += p.Records
	}
	out.Totals.Start = out.From
	return out, nil
}

// Counts are the retained jobs by state, overall and per domain.
type Counts struct {
	Total   int                       `json:"total"`
	States  map[string]int            `json:"states"`  // every state, zero included
	Domains map[string]map[string]int `json:"domains"` // domain -> state -> jobs (states with jobs only)
}

// Counts returns the retained jobs by state and by domain and state:
// exact for the records the bucket holds (as of the index's latest
// change). It waits for the first load as long as ctx allows. Errors:
// [ErrNotReady].
func (ix *Index) Counts(ctx context.Context) (Counts, error) {
	select {
	case <-ix.loaded:
	case <-ctx.Done():
		return Counts{}, fmt.Errorf("jobindex: %w: %w", ErrNotReady, context.Cause(ctx))
	}
	c := Counts{States: map[string]int{}, Domains: map[string]map[string]int{}}
	for _, s := range queue.States() {
		c.States[s] = 0
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for k, n := range ix.st.counts {
		dom, state := k[0], k[1]
		c.Total += n
		c.States[state] += n
		if c.Domains[dom] == nil {
			c.Domains[dom] = map[string]int{}
		}
		c.Domains[dom][state] += n
	}
	return c, nil
}
