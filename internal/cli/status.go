package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
)

func runStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "status")
	jsonOut := fs.Bool("json", false, "print the status record (with its pace and retry, as GET /jobs/{id} does) as JSON")
	follow := fs.Bool("follow", false, "follow the job until it ends, showing its progress; exit 0 on success, 1 on failure or cancel")
	timeout := fs.Duration("timeout", 0, "with --follow: give up after this long (0: no limit)")
	cfg, rest, err := loadSettings(env, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("want JOB_ID, got %d argument(s)", len(rest))
	}
	id := rest[0]
	s, err := open(ctx, env, fs, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	if *follow {
		wctx := ctx
		if *timeout > 0 {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(ctx, *timeout)
			defer cancel()
		}
		if _, err := s.q.GetStatus(ctx, id); err != nil {
			return notFoundHint(id, err)
		}
		return waitJob(wctx, env, s.q, id, *jsonOut)
	}
	st, err := s.q.GetStatus(ctx, id)
	if err != nil {
		return notFoundHint(id, err)
	}
	if *jsonOut {
		return writeJSON(env.Stdout, httpapi.NewJobView(st, time.Now()))
	}
	return printStatus(env.Stdout, st, time.Now())
}

// notFoundHint says what to do about a job that has no status record.
func notFoundHint(id string, err error) error {
	if errors.Is(err, queue.ErrNotFound) {
		return &actionError{what: fmt.Sprintf("no job %s", id),
			todo: "check the id ('publisher jobs --id PREFIX' lists matching jobs); records expire JOB_STATUS_TTL after their last change", err: err}
	}
	return fmt.Errorf("job %s: %w", id, err)
}

func printStatus(w io.Writer, st queue.Status, now time.Time) error {
	pace := st.Pace(now)
	t := newTable(w, "job", st.JobID)
	t.row("state", st.State)
	if st.Phase != "" {
		t.row("phase", fmt.Sprintf("%s for %s", st.Phase, seconds(now.Sub(st.PhaseSince).Seconds())))
	}
	t.row("domain", st.Domain)
	t.row("file", st.FileName+" ("+st.Source+")")
	t.row("progress", progressLine(st, now))
	t.row("records", fmt.Sprintf("%d of %d sent in %d chunks, %d acknowledged by the batch server", st.RecordsSent, st.RecordsTotal, st.ChunksSent, committed(st)))
	if pace.ElapsedSeconds > 0 {
		line := seconds(pace.ElapsedSeconds)
		if pace.RecordsPerSecond > 0 {
			line += ", " + rate(pace.RecordsPerSecond) + " records/s"
		}
		if pace.ETASeconds != nil {
			line += ", ETA " + seconds(*pace.ETASeconds)
		}
		t.row("elapsed", line)
	}
	t.row("attempts", st.Attempts)
	if st.Worker != "" {
		t.row("worker", st.Worker)
	}
	t.row("enqueued", when(st.EnqueuedAt))
	t.row("started", when(st.StartedAt))
	t.row("updated", when(st.UpdatedAt))
	t.row("finished", when(st.FinishedAt))
	if !st.CancelRequestedAt.IsZero() {
		t.row("cancel", "requested at "+when(st.CancelRequestedAt))
	}
	if st.Duplicate {
		t.row("duplicate", "yes: the batch server had committed it already")
	}
	if st.Error != nil {
		t.row("error", jobErrorText(st.Error))
	}
	if st.State == queue.StateRetrying {
		t.row("retry", retryText(st, now))
	}
	for _, a := range st.History {
		line := fmt.Sprintf("%s on %s at %s", a.Outcome, a.Worker, when(a.FinishedAt))
		if a.Error != nil {
			line += ": " + jobErrorText(a.Error)
		}
		t.row(fmt.Sprintf("attempt %d", a.Attempt), line)
	}
	return t.flush()
}
