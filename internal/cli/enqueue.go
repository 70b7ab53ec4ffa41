package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/source"
	"github.com/embedstream/embedstream/internal/wire"
)

// pollInterval is how often --wait reads the job's status record besides
// watching it: a fallback for a watch that broke.
const pollInterval = 5 * time.Second

func runEnqueue(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "enqueue")
	object := fs.Bool("object", false, "the job reads FILE from the ingest_files object store; a local FILE is uploaded there first (under its base name)")
	key := fs.String("idempotency-key", "", "job id to use (also the Nats-Msg-Id): enqueueing the same key again does not add a second job")
	wait := fs.Bool("wait", false, "wait for the job to finish, showing its progress; exit 0 on success, 1 on failure")
	timeout := fs.Duration("timeout", 0, "with --wait: give up waiting after this long (0: no limit)")
	jsonOut := fs.Bool("json", false, "print JSON instead of text")
	cfg, rest, err := loadSettings(env, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usagef("want DOMAIN FILE, got %d argument(s)", len(rest))
	}
	domainName, file := rest[0], rest[1]
	if *key != "" {
		if err := wire.ValidateID("--idempotency-key", *key); err != nil {
			return &usageError{msg: err.Error()}
		}
	}
	domains, err := domain.NewRegistry(cfg.DomainsFile)
	if err != nil {
		return fmt.Errorf("domains: %w", err)
	}
	if _, err := domains.Lookup(domainName); err != nil {
		return err
	}
	s, err := open(ctx, env, fs, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	job := queue.Job{ID: *key, Domain: domainName, FileName: file, Source: queue.SourceFile}
	if *object {
		job.Source = queue.SourceObject
		if job.FileName, err = s.objectFor(ctx, env, file, *jsonOut); err != nil {
			return err
		}
	} else if err := s.checkDataFile(file); err != nil {
		return err
	}
	res, err := s.q.Enqueue(ctx, job)
	resp, err := httpapi.EnqueueOutcome(res, err, &s.log)
	switch {
	case errors.Is(err, queue.ErrIdempotencyConflict):
		return fmt.Errorf("idempotency key %q is already the id of a %s job for %q (source %s); nothing was enqueued: %w",
			res.JobID, resp.Domain, resp.FileName, resp.Source, err)
	case err != nil:
		return fmt.Errorf("enqueue: %w", err)
	}
	if !*wait {
		if *jsonOut {
			return writeJSON(env.Stdout, resp)
		}
		dup := ""
		if resp.Duplicate {
			dup = " (already enqueued before: same idempotency key)"
		}
		fmt.Fprintf(env.Stdout, "enqueued job %s%s\n  domain %s, file %s (%s)\n  follow it with: publisher status %s\n",
			resp.JobID, dup, resp.Domain, resp.FileName, resp.Source, resp.JobID)
		return nil
	}
	if !*jsonOut {
		fmt.Fprintf(env.Stdout, "enqueued job %s (domain %s, file %s)\n", resp.JobID, resp.Domain, resp.FileName)
	}
	wctx := ctx
	if *timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	return waitJob(wctx, env, s.q, res.JobID, *jsonOut)
}

// objectFor returns the object store name of a --object job's FILE: a local
// file is uploaded first under its base name; otherwise FILE must name an
// object uploaded before.
func (s *session) objectFor(ctx context.Context, env *Env, file string, quiet bool) (string, error) {
	if fi, err := os.Stat(file); err == nil && fi.Mode().IsRegular() {
		info, err := s.upload(ctx, file, filepath.Base(file))
		if err != nil {
			return "", err
		}
		if !quiet {
			fmt.Fprintf(env.Stdout, "uploaded %s as %s (%d bytes, sha256 %s)\n", file, info.Name, info.Size, info.SHA256)
		}
		return info.Name, nil
	}
	if err := source.CheckName(file, s.cfg.AllowedExtensions); err != nil {
		return "", &usageError{msg: err.Error()}
	}
	rc, _, err := s.q.OpenFile(ctx, file)
	if err != nil {
		if errors.Is(err, queue.ErrFileNotFound) {
			return "", fmt.Errorf("%q is neither a local file nor an object in %s (upload it with 'publisher upload'): %w", file, queue.FilesBucket, err)
		}
		return "", fmt.Errorf("look up object %q: %w", file, err)
	}
	if err := rc.Close(); err != nil {
		return "", fmt.Errorf("look up object %q: %w", file, err)
	}
	return file, nil
}

// checkDataFile refuses an unsafe or wrongly suffixed name and, when
// DATA_DIR is visible here, a file that is not in it.
func (s *session) checkDataFile(name string) error {
	if err := source.CheckName(name, s.cfg.AllowedExtensions); err != nil {
		return &usageError{msg: err.Error()}
	}
	if s.cfg.DataDir == "" {
		return nil
	}
	if fi, err := os.Stat(s.cfg.DataDir); err != nil || !fi.IsDir() {
		return nil
	}
	if _, err := source.ResolveFile(s.cfg.DataDir, name); err != nil {
		return fmt.Errorf("DATA_DIR %s: %w", s.cfg.DataDir, err)
	}
	return nil
}

// jobWatcher follows a job's status record; *queue.Queue implements it.
type jobWatcher interface {
	GetStatus(ctx context.Context, id string) (queue.Status, error)
	WatchJob(ctx context.Context, id string) (<-chan queue.Status, error)
}

// waitJob follows a job's status record until it succeeds (nil) or fails
// or is canceled (an error saying what to do), drawing its progress on
// env.Stdout. It watches the record's KV key, and also reads it every
// [pollInterval] in case the watch breaks (NATS reconnect) or could not
// start. On a terminal the line is redrawn every second, so elapsed time
// and ETA move between the record's writes.
func waitJob(ctx context.Context, env *Env, q jobWatcher, id string, jsonOut bool) error {
	bar := &progressBar{w: env.Stdout, terminal: env.Terminal, quiet: jsonOut, now: time.Now}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates, err := q.WatchJob(wctx, id)
	if err != nil {
		updates = nil // the polls below carry on alone
	}
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	var redraw <-chan time.Time
	if env.Terminal && !jsonOut {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		redraw = t.C
	}
	// done reports whether st is final, with waitJob's result.
	done := func(st queue.Status) (bool, error) {
		bar.update(st)
		switch st.State {
		case queue.StateSucceeded:
			bar.done()
			if jsonOut {
				return true, writeJSON(env.Stdout, st)
			}
			fmt.Fprintln(env.Stdout, succeededLine(st))
			return true, nil
		case queue.StateFailed, queue.StateCanceled:
			bar.done()
			if jsonOut {
				if err := writeJSON(env.Stdout, st); err != nil {
					return true, err
				}
			}
			return true, jobFailed(st)
		}
		return false, nil
	}
	read := updates == nil // without a watch, read at once
	for {
		if read {
			st, err := q.GetStatus(ctx, id)
			switch {
			case errors.Is(err, queue.ErrNotFound):
				// Not written yet (the worker writes it for a job whose
				// queued record was lost): keep waiting.
			case err != nil && ctx.Err() == nil:
				return fmt.Errorf("read status of job %s: %w", id, err)
			case err == nil:
				if final, err := done(st); final {
					return err
				}
			}
			read = false
		}
		select {
		case <-ctx.Done():
			bar.done()
			return &actionError{
				what: fmt.Sprintf("stopped waiting for job %s (it goes on)", id),
				todo: fmt.Sprintf("'publisher status %s --follow' follows it again", id),
				err:  context.Cause(ctx),
			}
		case st, ok := <-updates:
			if !ok {
				updates = nil // broken watch: the polls carry on
				continue
			}
			if final, err := done(st); final {
				return err
			}
		case <-poll.C:
			read = true
		case <-redraw:
			bar.redraw()
		}
	}
}
