package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
)

func runStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "status")
	jsonOut := fs.Bool("json", false, "print the status record as JSON")
	cfg, rest, err := loadSettings(env, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("want JOB_ID, got %d argument(s)", len(rest))
	}
	s, err := open(ctx, env, fs, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.q.GetStatus(ctx, rest[0])
	if err != nil {
		return fmt.Errorf("job %s: %w", rest[0], err)
	}
	if *jsonOut {
		return writeJSON(env.Stdout, st)
	}
	return printStatus(env.Stdout, st)
}

func printStatus(w io.Writer, st queue.Status) error {
	t := newTable(w, "job", st.JobID)
	t.row("state", st.State)
	t.row("domain", st.Domain)
	t.row("file", st.FileName+" ("+st.Source+")")
	t.row("progress", progressLine(st))
	t.row("records", fmt.Sprintf("%d of %d sent in %d chunks", st.RecordsSent, st.RecordsTotal, st.ChunksSent))
	t.row("attempts", st.Attempts)
	if st.Worker != "" {
		t.row("worker", st.Worker)
	}
	t.row("enqueued", when(st.EnqueuedAt))
	t.row("started", when(st.StartedAt))
	t.row("finished", when(st.FinishedAt))
	if st.Duplicate {
		t.row("duplicate", "yes: the batch server had committed it already")
	}
	if st.Error != nil {
		t.row("error", jobErrorText(st.Error))
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

func runJobs(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "jobs")
	state := fs.String("state", "", "only jobs in this state: queued, running, retrying, succeeded, failed")
	domainName := fs.String("domain", "", "only jobs of this domain")
	limit := fs.Int("limit", 50, "at most this many jobs")
	jsonOut := fs.Bool("json", false, "print JSON instead of text")
	cfg, rest, err := loadSettings(env, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usagef("jobs takes no arguments, got %q", rest)
	}
	switch *state {
	case "", queue.StateQueued, queue.StateRunning, queue.StateRetrying, queue.StateSucceeded, queue.StateFailed:
	default:
		return usagef("--state %q: want queued, running, retrying, succeeded or failed", *state)
	}
	if *limit < 1 {
		return usagef("--limit must be at least 1")
	}
	s, err := open(ctx, env, fs, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	jobs, err := s.q.ListStatus(ctx, queue.Filter{State: *state, Domain: *domainName, Limit: *limit})
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	if *jsonOut {
		if jobs == nil {
			jobs = []queue.Status{}
		}
		return writeJSON(env.Stdout, httpapi.JobList{Jobs: jobs}) // GET /jobs's shape
	}
	if len(jobs) == 0 {
		fmt.Fprintln(env.Stdout, "no jobs")
		return nil
	}
	t := newTable(env.Stdout, "JOB", "STATE", "DOMAIN", "FILE", "RECORDS", "ATTEMPTS", "ENQUEUED", "ERROR")
	for _, st := range jobs {
		errText := ""
		if st.Error != nil {
			errText = st.Error.Class
		}
		t.row(st.JobID, st.State, st.Domain, st.FileName, fmt.Sprintf("%d/%d", st.RecordsSent, st.RecordsTotal), st.Attempts, when(st.EnqueuedAt), errText)
	}
	return t.flush()
}
