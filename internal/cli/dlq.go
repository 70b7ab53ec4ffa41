package cli

import (
	"context"
	"fmt"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
)

func runDLQ(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dlq")
	domainName := fs.String("domain", "", "list: only dead letters of this domain")
	limit := fs.Int("limit", 50, "list: at most this many dead letters")
	jsonOut := fs.Bool("json", false, "print JSON instead of text")
	cfg, rest, err := loadSettings(env, fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("want list, replay JOB_ID or purge JOB_ID")
	}
	verb, rest := rest[0], rest[1:]
	switch {
	case verb == "list" && len(rest) == 0:
	case (verb == "replay" || verb == "purge") && len(rest) == 1:
	default:
		return usagef("want list, replay JOB_ID or purge JOB_ID, got %q", append([]string{verb}, rest...))
	}
	s, err := open(ctx, env, fs, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	switch verb {
	case "list":
		dls, err := s.q.ListDeadLetters(ctx, *domainName, *limit)
		if err != nil {
			return fmt.Errorf("list dead letters: %w", err)
		}
		if *jsonOut {
			if dls == nil {
				dls = []queue.DeadLetter{}
			}
			return writeJSON(env.Stdout, httpapi.DeadLetterList{DeadLetters: dls})
		}
		if len(dls) == 0 {
			fmt.Fprintln(env.Stdout, "no dead letters")
			return nil
		}
		t := newTable(env.Stdout, "JOB", "DOMAIN", "REASON", "ATTEMPTS", "FAILED", "ERROR")
		for _, d := range dls {
			t.row(d.JobID, d.Domain, d.Reason, d.Attempts, when(d.FailedAt), jobErrorText(&d.Error))
		}
		return t.flush()
	case "replay":
		res, err := s.q.ReplayDeadLetter(ctx, rest[0])
		if err != nil {
			return fmt.Errorf("replay %s: %w", rest[0], err)
		}
		if *jsonOut {
			return writeJSON(env.Stdout, httpapi.EnqueueResponse{
				JobID: res.JobID, Domain: res.Status.Domain, FileName: res.Status.FileName, Source: res.Status.Source,
				StatusURL: "/jobs/" + res.JobID, Duplicate: res.Duplicate,
			})
		}
		fmt.Fprintf(env.Stdout, "replayed dead letter %s: job %s is queued again\n", rest[0], res.JobID)
		return nil
	default: // purge
		if err := s.q.DeleteDeadLetter(ctx, rest[0]); err != nil {
			return fmt.Errorf("purge %s: %w", rest[0], err)
		}
		if *jsonOut {
			return writeJSON(env.Stdout, httpapi.DeletedResponse{JobID: rest[0], Deleted: true})
		}
		fmt.Fprintf(env.Stdout, "purged dead letter %s\n", rest[0])
		return nil
	}
}
