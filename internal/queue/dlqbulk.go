package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DeadLetterFilter selects dead letters for the bulk operations
// [Queue.ReplayDeadLetters] and [Queue.PurgeDeadLetters]; zero fields
// match everything, so the zero filter selects every dead letter.
type DeadLetterFilter struct {
	Domain string    // the job's domain (ingest.dlq.<domain>)
	Class  string    // the error class, e.g. "file_not_found"
	Reason string    // permanent_error, retries_exhausted or max_deliveries
	Since  time.Time // failed at or after
	Until  time.Time // failed before
}

// Match reports whether dl passes f.
func (f DeadLetterFilter) Match(dl DeadLetter) bool {
	switch {
	case f.Domain != "" && dl.Domain != f.Domain:
		return false
	case f.Class != "" && dl.Error.Class != f.Class:
		return false
	case f.Reason != "" && dl.Reason != f.Reason:
		return false
	case !f.Since.IsZero() && dl.FailedAt.Before(f.Since):
		return false
	case !f.Until.IsZero() && !dl.FailedAt.Before(f.Until):
		return false
	}
	return true
}

// onlyDomain reports whether f selects by domain alone (or nothing), which
// JetStream can apply by subject without reading the dead letters.
func (f DeadLetterFilter) onlyDomain() bool {
	return f.Class == "" && f.Reason == "" && f.Since.IsZero() && f.Until.IsZero()
}

// BulkResult is the outcome of a bulk dead-letter operation.
type BulkResult struct {
	// Matched is how many dead letters the filter selected; Done how many
	// were replayed or purged (a replay counts one per job: dead letters
	// of the same job are replayed once).
	Matched int `json:"matched"`
	Done    int `json:"done"`
	// Failed lists the jobs whose replay or purge failed (at most
	// [MaxBulkFailures] of them), with why.
	Failed []BulkFailure `json:"failed"`
}

// BulkFailure is one job a bulk operation could not handle.
type BulkFailure struct {
	JobID string `json:"job_id"`
	Error string `json:"error"`
}

// MaxBulkFailures bounds [BulkResult.Failed]; the count of failures is
// Matched - Done all the same.
const MaxBulkFailures = 100

func (r *BulkResult) fail(id string, err error) {
	if len(r.Failed) < MaxBulkFailures {
		r.Failed = append(r.Failed, BulkFailure{JobID: id, Error: err.Error()})
	}
}

// matchDeadLetters reads the dead letters f selects, oldest first: by
// subject for a domain, from f.Since on by store time (JetStream skips
// what is older), the rest by reading each. It costs the dead letters of
// the domain from Since on.
func (q *Queue) matchDeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, error) {
	cc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{DLQSubjectPrefix + ">"}}
	if f.Domain != "" {
		cc.FilterSubjects = []string{DLQSubject(f.Domain)}
	}
	if !f.Since.IsZero() {
		// A dead letter is stored after it failed: none stored before
		// Since failed after it.
		since := f.Since
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	var out []DeadLetter
	err := q.scanDLQ(ctx, cc, func(m jetstream.Msg, seq uint64) {
		dl, err := decodeDeadLetter(m.Data(), seq)
		if err == nil && f.Match(dl) {
			out = append(out, dl)
		}
	})
	return out, err
}

// ReplayDeadLetters replays every dead letter f selects, as
// [Queue.ReplayDeadLetter] does one: each job is published again under
// its id (once, from its newest matching dead letter, with its attempts
// carried over) and its matching dead letters are removed once it is
// queued. A job whose replay fails keeps its dead letters and is listed in
// the result. Reading the dead letters costs those of f.Domain since
// f.Since; each replay is a publish, a status write and a delete.
// Errors (nothing was replayed): [ErrUnavailable].
func (q *Queue) ReplayDeadLetters(ctx context.Context, f DeadLetterFilter) (BulkResult, error) {
	dls, err := q.matchDeadLetters(ctx, f)
	if err != nil {
		return BulkResult{}, err
	}
	res := BulkResult{Matched: len(dls), Failed: []BulkFailure{}}
	// The newest dead letter of each job, and all of each job's seqs.
	newest := map[string]DeadLetter{}
	seqs := map[string][]uint64{}
	var order []string
	for _, dl := range dls {
		if _, seen := newest[dl.JobID]; !seen {
			order = append(order, dl.JobID)
		}
		newest[dl.JobID] = dl
		seqs[dl.JobID] = append(seqs[dl.JobID], dl.DLQSeq)
	}
	for _, id := range order {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("queue: replay dead letters: %w", context.Cause(ctx))
		}
		if _, err := q.replay(ctx, newest[id]); err != nil {
			res.fail(id, err)
			continue
		}
		if err := q.deleteDLQSeqs(ctx, id, seqs[id]); err != nil {
			res.fail(id, err)
			continue
		}
		res.Done += len(seqs[id])
	}
	return res, nil
}

// PurgeDeadLetters deletes every dead letter f selects. A filter on the
// domain alone (or none) is one JetStream purge by subject, bounded to the
// dead letters stored when the call began, whatever their number; any
// other filter reads the dead letters of f.Domain since f.Since and
// deletes the matching ones one by one. Errors: [ErrUnavailable].
func (q *Queue) PurgeDeadLetters(ctx context.Context, f DeadLetterFilter) (BulkResult, error) {
	if f.onlyDomain() {
		n, err := q.purgeDLQSubject(ctx, f.Domain)
		if err != nil {
			return BulkResult{}, err
		}
		return BulkResult{Matched: int(n), Done: int(n), Failed: []BulkFailure{}}, nil
	}
	dls, err := q.matchDeadLetters(ctx, f)
	if err != nil {
		return BulkResult{}, err
	}
	res := BulkResult{Matched: len(dls), Failed: []BulkFailure{}}
	for _, dl := range dls {
		if err := q.deleteDLQSeqs(ctx, dl.JobID, []uint64{dl.DLQSeq}); err != nil {
			res.fail(dl.JobID, err)
			continue
		}
		res.Done++
	}
	return res, nil
}

// purgeDLQSubject purges the dead letters of domain (all when empty)
// stored up to now, and returns how many went. The purge request is sent
// raw: JetStream's answer says how many messages it purged.
func (q *Queue) purgeDLQSubject(ctx context.Context, domain string) (uint64, error) {
	info, err := q.streamInfo(ctx, DLQStream)
	if err != nil {
		return 0, classify("queue: stream "+DLQStream, err)
	}
	filter := DLQSubjectPrefix + ">"
	if domain != "" {
		filter = DLQSubject(domain)
	}
	req, err := json.Marshal(map[string]any{"filter": filter, "seq": info.State.LastSeq + 1})
	if err != nil {
		return 0, fmt.Errorf("queue: purge dead letters: %w", err)
	}
	msg, err := q.nc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+DLQStream, req)
	if err != nil {
		return 0, classify("queue: purge dead letters", err)
	}
	var resp struct {
		Success bool                `json:"success"`
		Purged  uint64              `json:"purged"`
		Error   *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, fmt.Errorf("queue: purge dead letters: %w", err)
	}
	if resp.Error != nil {
		return 0, classify("queue: purge dead letters", resp.Error)
	}
	return resp.Purged, nil
}
