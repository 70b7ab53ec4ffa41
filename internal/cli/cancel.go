package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
)

func runCancel(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "cancel")
	wait := fs.Bool("wait", false, "for a running job: wait until its worker has stopped it")
	jsonOut := fs.Bool("json", false, "print JSON (POST /jobs/{id}/cancel's shape) instead of text")
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
	res, err := s.q.CancelJob(ctx, id)
	switch {
	case errors.Is(err, queue.ErrFinished):
		return &actionError{what: fmt.Sprintf("job %s %s already: nothing to cancel", id, res.Status.State),
			todo: fmt.Sprintf("'publisher status %s' shows it", id), err: err}
	case err != nil:
		return notFoundHint(id, err)
	}
	if *wait && res.Canceling {
		if err := waitJob(ctx, &Env{Stdout: discard{}}, s.q, id, true); err != nil {
			var ae *actionError
			if !errors.As(err, &ae) {
				return err
			}
		}
		st, err := s.q.GetStatus(ctx, id)
		if err != nil {
			return fmt.Errorf("job %s: %w", id, err)
		}
		res.State, res.Canceling, res.Status = st.State, st.State == queue.StateRunning, st
	}
	if *jsonOut {
		return writeJSON(env.Stdout, httpapi.CancelResponse{JobID: id, State: res.State, Canceling: res.Canceling, StatusURL: "/jobs/" + id})
	}
	switch {
	case res.State == queue.StateCanceled:
		fmt.Fprintf(env.Stdout, "job %s canceled: nothing of it was committed\n", id)
	case res.State == queue.StateSucceeded:
		fmt.Fprintf(env.Stdout, "job %s succeeded before its worker could stop it (it had committed)\n", id)
	default:
		fmt.Fprintf(env.Stdout, "job %s is %s: its worker is stopping it (nothing will be committed); 'publisher status %s --follow' shows the end\n", id, res.State, id)
	}
	return nil
}

// discard is an io.Writer that keeps nothing.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
