package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
)

// progressBar draws a job's progress from its status records: in place on
// a terminal (redrawn as time passes), else one line per change of state,
// phase or counts.
type progressBar struct {
	w        io.Writer
	terminal bool
	quiet    bool
	now      func() time.Time
	st       *queue.Status // the latest record
	lastKey  string
	drawn    bool
}

const barWidth = 30

func (p *progressBar) update(st queue.Status) {
	if p.quiet {
		return
	}
	p.st = &st
	if p.terminal {
		p.redraw()
		return
	}
	// Off a terminal, a line per change of what the job did, not per
	// heartbeat.
	key := fmt.Sprint(st.State, st.Phase, st.Attempts, st.RecordsTotal, st.RecordsSent, st.RecordsAcked)
	if key == p.lastKey {
		return
	}
	p.lastKey = key
	fmt.Fprintln(p.w, progressLine(st, p.now()))
}

// redraw draws the latest record again at the current time (a terminal
// only).
func (p *progressBar) redraw() {
	if p.quiet || !p.terminal || p.st == nil {
		return
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K", progressLine(*p.st, p.now()))
	p.drawn = true
}

func (p *progressBar) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// committed is what the batch server committed of a job that succeeded
// (records written before records_acked existed count their sent ones).
func committed(st queue.Status) uint64 {
	if st.RecordsAcked == 0 && st.State == queue.StateSucceeded {
		return st.RecordsSent
	}
	return st.RecordsAcked
}

// progressLine is one line of a job's progress at now: state and phase, a
// bar of the records sent (full only once the batch server acknowledged
// them), the counts, the attempt, and the pace (elapsed, records/s, ETA)
// or, while it waits for a retry, why and until when.
func progressLine(st queue.Status, now time.Time) string {
	pace := st.Pace(now)
	state := st.State
	if st.Phase != "" && st.State == queue.StateRunning {
		state += " " + st.Phase
	}
	frac := pace.SentPercent / 100
	if st.State == queue.StateSucceeded {
		frac = 1
	}
	filled := int(frac * barWidth)
	if filled == barWidth && st.State != queue.StateSucceeded {
		filled = barWidth - 1 // all sent, not yet acknowledged: not full
	}
	total := "?"
	if st.RecordsTotal > 0 || st.State == queue.StateSucceeded {
		total = strconv.FormatUint(st.RecordsTotal, 10)
	}
	var counts string
	switch {
	case st.State == queue.StateSucceeded:
		counts = fmt.Sprintf("%d/%s records acknowledged", committed(st), total)
	case st.Phase == queue.PhaseCommitting:
		counts = fmt.Sprintf("%d/%s records sent, waiting for the batch server to commit", st.RecordsSent, total)
	default:
		counts = fmt.Sprintf("%d/%s records sent %3.0f%%", st.RecordsSent, total, pace.SentPercent)
	}
	parts := []string{fmt.Sprintf("%-20s [%s%s] %s", state, strings.Repeat("#", filled), strings.Repeat("-", barWidth-filled), counts)}
	if st.Attempts > 0 {
		parts = append(parts, fmt.Sprintf("attempt %d", st.Attempts))
	}
	switch st.State {
	case queue.StateQueued:
		if pace.WaitingSeconds > 0 {
			parts = append(parts, "waiting "+seconds(pace.WaitingSeconds))
		}
	case queue.StateRetrying:
		parts = append(parts, retryText(st, now))
	default:
		if pace.ElapsedSeconds > 0 {
			parts = append(parts, seconds(pace.ElapsedSeconds))
		}
		if pace.RecordsPerSecond > 0 {
			parts = append(parts, rate(pace.RecordsPerSecond)+" records/s")
		}
		if pace.ETASeconds != nil {
			parts = append(parts, "ETA "+seconds(*pace.ETASeconds))
		}
	}
	return strings.Join(parts, "  ")
}

// retryText says why a job waits for its retry and until when, as its
// record tells.
func retryText(st queue.Status, now time.Time) string {
	r := st.Retrying(now)
	if r == nil {
		return ""
	}
	s := fmt.Sprintf("attempt %d failed", r.Attempt)
	if r.Error != nil {
		s += ": " + r.Error.Class + ": " + oneLine(r.Error.Message)
	}
	if r.Since != nil {
		s += "; retrying since " + r.Since.Local().Format("15:04:05")
	}
	if r.NextAt != nil {
		s += ", next attempt at " + r.NextAt.Local().Format("15:04:05")
	}
	if r.BudgetLeftSeconds != nil {
		s += ", retry budget left " + seconds(*r.BudgetLeftSeconds)
	}
	return s
}

// succeededLine is the last line of a job followed to its success.
func succeededLine(st queue.Status) string {
	pace := st.Pace(time.Now())
	s := fmt.Sprintf("job %s succeeded: %d of %d records acknowledged by the batch server (sent in %d chunks), %d attempt(s)",
		st.JobID, committed(st), st.RecordsTotal, st.ChunksSent, st.Attempts)
	if pace.ElapsedSeconds > 0 {
		s += ", " + seconds(pace.ElapsedSeconds)
	}
	if pace.RecordsPerSecond > 0 {
		s += " at " + rate(pace.RecordsPerSecond) + " records/s"
	}
	if st.Duplicate {
		s += " (the batch server had it already)"
	}
	return s
}

// seconds renders a duration in seconds compactly: "850ms", "12.3s",
// "4m05s", "2h10m".
func seconds(v float64) string {
	d := time.Duration(v * float64(time.Second))
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// rate renders a rate with sensible precision.
func rate(r float64) string {
	switch {
	case r < 10:
		return strconv.FormatFloat(r, 'f', 1, 64)
	case r < 10_000:
		return strconv.FormatFloat(r, 'f', 0, 64)
	default:
		return strconv.FormatFloat(r/1000, 'f', 1, 64) + "k"
	}
}

func jobErrorText(e *queue.JobError) string {
	if e == nil {
		return "no error recorded"
	}
	return e.Class + ": " + oneLine(e.Message)
}
