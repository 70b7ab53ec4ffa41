package dashboard

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/embedstream/embedstream/internal/jobindex"
)

// Chart geometry, in SVG user units: the plot sits right of the y-axis
// labels and above the x-axis labels.
const (
	chartW      = 720
	chartH      = 220
	chartLeft   = 56 // room for the y-axis labels
	chartRight  = 10
	chartTop    = 10
	chartBottom = 30 // room for the x-axis labels
	chartGap    = 1  // between bars, when they are wide enough
)

// chart is a bar chart with axes, drawn as SVG attributes (no inline
// style: the CSP forbids it).
type chart struct {
	Title   string
	Desc    string // the accessible description
	W, H    int
	PlotX   int // the plot's left edge (the y axis)
	PlotY   int // the plot's top edge
	PlotW   int
	PlotH   int
	Bottom  int // the x axis: PlotY + PlotH
	YTicks  []tick
	XTicks  []tick
	Bars    []bar
	Legend  []legendItem
	Unit    string // what the y axis counts, per step
	Empty   bool   // nothing to show in the range
	YLabelX int    // where the y-axis labels end
	XLabelY int    // the baseline of the x-axis labels
}

type tick struct {
	X, Y  int
	Label string
}

type bar struct {
	X, Y, W, H int
	Class      string // its series' CSS class
	Label      string // accessible text: "09:31–09:32: 1,200 records"
}

type legendItem struct {
	Class, Label string
}

// series is one stacked series of a chart.
type series struct {
	class, label string
	value        func(jobindex.Point) uint64
}

// newChart draws s's points as bars stacked from the given series, with a
// y axis of round ticks and an x axis of time labels.
func newChart(title, unit string, s jobindex.Series, stack []series) chart {
	c := chart{
		Title: title, Unit: unit, W: chartW, H: chartH,
		PlotX: chartLeft, PlotY: chartTop, PlotW: chartW - chartLeft - chartRight, PlotH: chartH - chartTop - chartBottom,
	}
	c.Bottom = c.PlotY + c.PlotH
	c.YLabelX, c.XLabelY = c.PlotX-6, c.Bottom+18
	for _, st := range stack {
		c.Legend = append(c.Legend, legendItem{Class: st.class, Label: st.label})
	}
	var peak uint64
	for _, p := range s.Points {
		var sum uint64
		for _, st := range stack {
			sum += st.value(p)
		}
		peak = max(peak, sum)
	}
	c.Empty = peak == 0
	top := niceCeil(float64(peak))
	for i := range 5 {
		v := top * float64(i) / 4
		c.YTicks = append(c.YTicks, tick{Y: c.Bottom - int(math.Round(v/top*float64(c.PlotH))), Label: compact(v)})
	}
	n := len(s.Points)
	if n == 0 {
		return c
	}
	w := float64(c.PlotW) / float64(n)
	gap := 0.0
	if w >= 4 {
		gap = chartGap
	}
	for i, p := range s.Points {
		x := c.PlotX + int(math.Round(float64(i)*w+gap/2))
		bw := max(1, int(math.Round(w-gap)))
		if x+bw > c.PlotX+c.PlotW {
			bw = c.PlotX + c.PlotW - x
		}
		y := float64(c.Bottom)
		for _, st := range stack {
			v := st.value(p)
			if v == 0 {
				continue
			}
			h := float64(v) / top * float64(c.PlotH)
			h = max(h, 1)
			y -= h
			c.Bars = append(c.Bars, bar{
				X: x, Y: int(math.Round(y)), W: bw, H: max(1, int(math.Round(h))), Class: st.class,
				Label: fmt.Sprintf("%s–%s: %s %s", stepLabel(p.Start, s), stepLabel(p.Start.Add(s.Step), s), groupDigits(v), st.label),
			})
		}
	}
	// About six time labels, on whole steps.
	every := max(1, n/6)
	for i := 0; i < n; i += every {
		c.XTicks = append(c.XTicks, tick{X: c.PlotX + int(math.Round((float64(i)+0.5)*w)), Label: axisTime(s.Points[i].Start, s)})
	}
	c.Desc = fmt.Sprintf("%s per %s from %s to %s UTC; the highest step is %s.", title, shortDuration(s.Step),
		s.From.Format("2006-01-02 15:04"), s.To.Format("2006-01-02 15:04"), groupDigits(peak))
	return c
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 4, so
// the four tick intervals are whole numbers).
func niceCeil(v float64) float64 {
	if v <= 4 {
		return 4
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 4, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// compact renders an axis value: 950, 1.2k, 3M.
func compact(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	default:
		return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
	}
}

// axisTime labels a step on the x axis: the time of day, with the date
// when the range spans days.
func axisTime(t time.Time, s jobindex.Series) string {
	if s.To.Sub(s.From) > 24*time.Hour {
		return t.UTC().Format("Jan 2 15:04")
	}
	return t.UTC().Format("15:04")
}

func stepLabel(t time.Time, s jobindex.Series) string {
	if s.To.Sub(s.From) > 24*time.Hour {
		return t.UTC().Format("Jan 2 15:04")
	}
	return t.UTC().Format("15:04")
}

// chartRange is one choice of the overview's chart range.
type chartRange struct {
	Name     string // the query value: "1h"
	Label    string // "1 hour"
	Span     time.Duration
	Step     time.Duration
	Selected bool
}

// chartRanges are the overview's chart ranges; the first is the default.
var chartRanges = []chartRange{
	{Name: "1h", Label: "1 hour", Span: time.Hour, Step: time.Minute},
	{Name: "6h", Label: "6 hours", Span: 6 * time.Hour, Step: 5 * time.Minute},
	{Name: "24h", Label: "24 hours", Span: 24 * time.Hour, Step: 15 * time.Minute},
	{Name: "7d", Label: "7 days", Span: 7 * 24 * time.Hour, Step: 2 * time.Hour},
}

// pickRange returns the chart range named name (the default when unknown)
// and the list with it selected.
func pickRange(name string) (chartRange, []chartRange) {
	out := make([]chartRange, len(chartRanges))
	copy(out, chartRanges)
	pick := 0
	for i, r := range out {
		if r.Name == name {
			pick = i
		}
	}
	out[pick].Selected = true
	return out[pick], out
}

// The stacks of the overview's charts.
var (
	recordStack = []series{{class: "s-records", label: "records committed", value: func(p jobindex.Point) uint64 { return p.Records }}}
	jobStack    = []series{
		{class: "s-succeeded", label: "succeeded", value: func(p jobindex.Point) uint64 { return p.Succeeded }},
		{class: "s-failed", label: "failed", value: func(p jobindex.Point) uint64 { return p.Failed }},
		{class: "s-canceled", label: "canceled", value: func(p jobindex.Point) uint64 { return p.Canceled }},
		{class: "s-retried", label: "retried attempts", value: func(p jobindex.Point) uint64 { return p.Retried }},
	}
)
