package cli

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/queue"
)

// bigBucket is the number of status records past which a listing without
// PUBLISHER_URL says how to make it cheaper.
const bigBucket = 10_000

func runJobs(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "jobs")
	state := fs.String("state", "", "only jobs in this state: "+strings.Join(queue.States(), ", "))
	domainName := fs.String("domain", "", "only jobs of this domain")
	id := fs.String("id", "", "a job id, or the start of job ids")
	file := fs.String("file", "", "only jobs whose file name contains this (any case)")
	text := fs.String("q", "", "only jobs whose id or file name contains this (any case)")
	since := fs.String("since", "", "only jobs enqueued at or after this: RFC 3339 time or a duration before now (1h)")
	until := fs.String("until", "", "only jobs enqueued before this: RFC 3339 time or a duration before now")
	limit := fs.Int("limit", httpapi.DefaultListLimit, "at most this many jobs per page (1 to "+strconv.Itoa(httpapi.MaxListLimit)+")")
	cursor := fs.String("cursor", "", "continue after the page that printed this cursor")
	jsonOut := fs.Bool("json", false, "print JSON (GET /jobs's shape) instead of text")
	cfg, rest, err := loadSettings(env, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usagef("jobs takes no arguments, got %q", rest)
	}
	v := url.Values{}
	for k, val := range map[string]string{"state": *state, "domain": *domainName, "id": *id, "file": *file, "q": *text,
		"since": *since, "until": *until, "limit": strconv.Itoa(*limit), "cursor": *cursor} {
		if val != "" {
			v.Set(k, val)
		}
	}
	query, err := httpapi.ParseJobQuery(v, time.Now())
	if err != nil {
		return usagef("%v", err)
	}
	var list httpapi.JobList
	err = fromPublisherOrIndex(ctx, env, fs, cfg, "/jobs", v, &list, func(_ *session, ix *jobindex.Index) error {
		page, err := ix.List(ctx, query)
		if err != nil {
			return usagef("%v", err)
		}
		list = httpapi.JobList{Jobs: page.Jobs, NextCursor: page.Next, Partial: page.Partial}
		return nil
	})
	if err != nil {
		return err
	}
	if list.Jobs == nil {
		list.Jobs = []queue.Status{}
	}
	if *jsonOut {
		return writeJSON(env.Stdout, list)
	}
	if len(list.Jobs) == 0 {
		fmt.Fprintln(env.Stdout, "no jobs")
	} else {
		t := newTable(env.Stdout, "JOB", "STATE", "DOMAIN", "FILE", "RECORDS", "ATTEMPTS", "ENQUEUED", "ERROR")
		for _, st := range list.Jobs {
			errText := ""
			if st.Error != nil {
				errText = st.Error.Class
			}
			state := st.State
			if st.Phase != "" {
				state += " (" + st.Phase + ")"
			}
			t.row(st.JobID, state, st.Domain, st.FileName, fmt.Sprintf("%d/%d", st.RecordsSent, st.RecordsTotal), st.Attempts, when(st.EnqueuedAt), errText)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if list.NextCursor != "" {
		note := "more"
		if list.Partial {
			note = "the search stopped after " + strconv.Itoa(jobindex.MaxScan) + " jobs read; more may match"
		}
		fmt.Fprintf(env.Stdout, "(%s: add --cursor %s)\n", note, list.NextCursor)
	}
	return nil
}

// fromPublisherOrIndex answers a listing command: with PUBLISHER_URL, GET
// path?query from the publisher into out; otherwise local, over a session
// on NATS and a one-shot index of every status record (loadIndex).
func fromPublisherOrIndex(ctx context.Context, env *Env, fs *flag.FlagSet, cfg Settings, path string, query url.Values, out any,
	local func(*session, *jobindex.Index) error) error {
	if cfg.PublisherURL != "" {
		return newPublisherAPI(cfg).get(ctx, path, query, out)
	}
	s, err := open(ctx, env, fs, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	ix, err := s.loadIndex(ctx, env)
	if err != nil {
		return err
	}
	return local(s, ix)
}

// loadIndex reads every status record once into a one-shot index: what
// the listing commands do without PUBLISHER_URL. Past [bigBucket]
// records it says on stderr how to avoid that cost.
func (s *session) loadIndex(ctx context.Context, env *Env) (*jobindex.Index, error) {
	ix, err := jobindex.Load(ctx, s.q)
	if err != nil {
		return nil, fmt.Errorf("read the job status records: %w", err)
	}
	if c, err := ix.Counts(ctx); err == nil && c.Total > bigBucket {
		fmt.Fprintf(env.Stderr, "note: read all %d job status records; set PUBLISHER_URL to ask the publisher's index instead\n", c.Total)
	}
	return ix, nil
}

func runQueue(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "queue")
	jsonOut := fs.Bool("json", false, "print JSON (GET /queue's shape) instead of text")
	cfg, rest, err := loadSettings(env, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usagef("queue takes no arguments, got %q", rest)
	}
	var v httpapi.QueueView
	err = fromPublisherOrIndex(ctx, env, fs, cfg, "/queue", nil, &v, func(s *session, ix *jobindex.Index) (err error) {
		if v, err = httpapi.LoadQueueView(ctx, s.q, ix, time.Now()); err != nil {
			return fmt.Errorf("read the queue's figures: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if *jsonOut {
		return writeJSON(env.Stdout, v)
	}
	return printQueue(env, v)
}

func printQueue(env *Env, v httpapi.QueueView) error {
	w := env.Stdout
	limit := func(n int64) string {
		if n <= 0 {
			return "no limit"
		}
		return "limit " + strconv.FormatInt(n, 10)
	}
	fmt.Fprintf(w, "queue (JetStream, at %s)\n", when(v.At))
	t := newTable(w, "  waiting (never delivered)", v.Consumer.Pending)
	t.row("  delivered, not acknowledged", fmt.Sprintf("%d (running, or waiting for a retry; %d redelivered)", v.Consumer.AckPending, v.Consumer.Redelivered))
	t.row("  free worker slots", fmt.Sprintf("%d (pull requests waiting)", v.Consumer.Waiting))
	t.row("  job stream "+v.Stream.Name, fmt.Sprintf("%d jobs, %d bytes (%s)", v.Stream.Messages, v.Stream.Bytes, limit(v.Stream.MaxMsgs)))
	t.row("  dead letters "+v.DeadLetters.Name, fmt.Sprintf("%d (%s)", v.DeadLetters.Messages, limit(v.DeadLetters.MaxMsgs)))
	if err := t.flush(); err != nil {
		return err
	}
	domains := map[string]bool{}
	for d := range v.Stream.Domains {
		domains[d] = true
	}
	for d := range v.DeadLetters.Domains {
		domains[d] = true
	}
	for d := range v.Jobs.Domains {
		domains[d] = true
	}
	fmt.Fprintf(w, "\njobs by domain (job stream and dead letters: JetStream; states: %d retained status records)\n", v.Jobs.Total)
	header := []any{"  DOMAIN", "IN STREAM", "DEAD LETTERS"}
	for _, s := range queue.States() {
		header = append(header, strings.ToUpper(s))
	}
	t = newTable(w, header...)
	names := make([]string, 0, len(domains))
	for d := range domains {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		row := []any{"  " + d, v.Stream.Domains[d], v.DeadLetters.Domains[d]}
		for _, s := range queue.States() {
			row = append(row, v.Jobs.Domains[d][s])
		}
		t.row(row...)
	}
	row := []any{"  all", v.Stream.Messages, v.DeadLetters.Messages}
	for _, s := range queue.States() {
		row = append(row, v.Jobs.States[s])
	}
	t.row(row...)
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nlast %s: %d succeeded, %d failed, %d canceled, %d attempts retried, %d records committed; %s records/s over the last %s\n",
		seconds(float64(v.Recent.WindowSeconds)), v.Recent.Succeeded, v.Recent.Failed, v.Recent.Canceled, v.Recent.Retried, v.Recent.Records,
		rate(v.Throughput.RecordsPerSecond), seconds(float64(v.Throughput.WindowSeconds)))
	return nil
}

func runWorkers(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "workers")
	jsonOut := fs.Bool("json", false, "print JSON (GET /workers's shape) instead of text")
	cfg, rest, err := loadSettings(env, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usagef("workers takes no arguments, got %q", rest)
	}
	s, err := open(ctx, env, fs, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	ws, err := s.q.ListWorkers(ctx)
	if err != nil {
		return fmt.Errorf("read the workers' heartbeats: %w", err)
	}
	if ws == nil {
		ws = []queue.WorkerInfo{}
	}
	if *jsonOut {
		return writeJSON(env.Stdout, httpapi.WorkerList{Workers: ws})
	}
	if len(ws) == 0 {
		fmt.Fprintf(env.Stdout, "no worker has sent a heartbeat in the last %s\n", seconds(queue.WorkerTTL.Seconds()))
		return nil
	}
	now := time.Now()
	t := newTable(env.Stdout, "WORKER", "HOST", "VERSION", "UP SINCE", "HEARTBEAT", "SLOTS", "RUNNING")
	for _, w := range ws {
		running := "-"
		if len(w.Jobs) > 0 {
			var jobs []string
			for _, j := range w.Jobs {
				jobs = append(jobs, fmt.Sprintf("%s (%s %s, attempt %d, %s, since %s)", j.JobID, j.Domain, j.FileName, j.Attempt, j.Phase, when(j.StartedAt)))
			}
			running = strings.Join(jobs, "; ")
		}
		slots := fmt.Sprintf("%d/%d busy", len(w.Jobs), w.Concurrency)
		if w.Stopping {
			slots += ", draining"
		}
		t.row(w.Name, w.Host, w.Version, when(w.StartedAt), seconds(now.Sub(w.HeartbeatAt).Seconds())+" ago", slots, running)
	}
	return t.flush()
}
