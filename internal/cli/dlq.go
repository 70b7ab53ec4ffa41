package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
)

func runDLQ(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dlq")
	domainName := fs.String("domain", "", "list, --all: only dead letters of this domain")
	limit := fs.Int("limit", 50, "list: at most this many dead letters")
	all := fs.Bool("all", false, "replay, purge: every dead letter the filters select (instead of one JOB_ID)")
	class := fs.String("class", "", "--all: only dead letters of this error class (e.g. file_not_found)")
	reason := fs.String("reason", "", "--all: only dead letters of this reason (permanent_error, retries_exhausted, max_deliveries)")
	since := fs.String("since", "", "--all: only dead letters that failed at or after this: RFC 3339 time or a duration before now (1h)")
	until := fs.String("until", "", "--all: only dead letters that failed before this")
	jsonOut := fs.Bool("json", false, "print JSON instead of text")
	cfg, rest, err := loadSettings(env, fs, args)
	if err != nil {
		return err
	}
	const usage = "want list, replay JOB_ID, purge JOB_ID, or replay|purge --all [--domain D] [--class C] [--reason R] [--since T] [--until T]"
	if len(rest) == 0 {
		return usagef(usage)
	}
	verb, rest := rest[0], rest[1:]
	bulk := *all && (verb == "replay" || verb == "purge")
	switch {
	case verb == "list" && len(rest) == 0 && !*all:
	case bulk && len(rest) == 0:
	case (verb == "replay" || verb == "purge") && len(rest) == 1 && !*all:
	default:
		return usagef("%s, got %q", usage, append([]string{verb}, rest...))
	}
	var filter queue.DeadLetterFilter
	if bulk {
		v := url.Values{"all": {"true"}}
		for k, val := range map[string]string{"domain": *domainName, "class": *class, "reason": *reason, "since": *since, "until": *until} {
			if val != "" {
				v.Set(k, val)
			}
		}
		if filter, err = httpapi.ParseDeadLetterFilter(v, time.Now()); err != nil {
			return usagef("%v", err)
		}
	}
	s, err := open(ctx, env, fs, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	switch {
	case bulk:
		var res queue.BulkResult
		if verb == "replay" {
			res, err = s.q.ReplayDeadLetters(ctx, filter)
		} else {
			res, err = s.q.PurgeDeadLetters(ctx, filter)
		}
		if err != nil {
			return fmt.Errorf("%s dead letters: %w", verb, err)
		}
		if *jsonOut {
			if err := writeJSON(env.Stdout, res); err != nil {
				return err
			}
		} else {
			done := "replayed (queued again under their ids)"
			if verb == "purge" {
				done = "purged"
			}
			fmt.Fprintf(env.Stdout, "%d dead letter(s) matched, %d %s\n", res.Matched, res.Done, done)
			for _, f := range res.Failed {
				fmt.Fprintf(env.Stdout, "  %s: %s\n", f.JobID, oneLine(f.Error))
			}
		}
		if res.Done < res.Matched {
			return &actionError{what: fmt.Sprintf("%d of %d dead letter(s) could not be %sd", res.Matched-res.Done, res.Matched, verb),
				todo: "see the list above, then run the command again"}
		}
		return nil
	case verb == "list":
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
	case verb == "replay":
		res, err := s.q.ReplayDeadLetter(ctx, rest[0])
		if err != nil {
			return deadLetterHint("replay", rest[0], err)
		}
		if *jsonOut {
			return writeJSON(env.Stdout, httpapi.EnqueueResponse{
				JobID: res.JobID, Domain: res.Status.Domain, FileName: res.Status.FileName, Source: res.Status.Source,
				StatusURL: "/jobs/" + res.JobID, Duplicate: res.Duplicate,
			})
		}
		fmt.Fprintf(env.Stdout, "replayed dead letter %s: job %s is queued again ('publisher status %s --follow' follows it)\n", rest[0], res.JobID, res.JobID)
		return nil
	default: // purge
		if err := s.q.DeleteDeadLetter(ctx, rest[0]); err != nil {
			return deadLetterHint("purge", rest[0], err)
		}
		if *jsonOut {
			return writeJSON(env.Stdout, httpapi.DeletedResponse{JobID: rest[0], Deleted: true})
		}
		fmt.Fprintf(env.Stdout, "purged dead letter %s\n", rest[0])
		return nil
	}
}

func deadLetterHint(verb, id string, err error) error {
	if errors.Is(err, queue.ErrNotFound) {
		return &actionError{what: fmt.Sprintf("%s %s: no dead letter for this job", verb, id),
			todo: "'publisher dlq list' lists them; 'publisher status " + id + "' shows the job", err: err}
	}
	return fmt.Errorf("%s %s: %w", verb, id, err)
}
