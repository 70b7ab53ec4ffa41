package ingest

import "time"

// budgetSpent reports whether the job's retry budget is spent: more than
// RetryBudget has passed since the first transient failure of its current
// run (none yet: this failure starts the run, and the budget is whole).
func (j *jobRun) budgetSpent() bool {
	since := j.d.RetryingSince()
	if since.IsZero() {
		return false
	}
	if spent := time.Since(since); spent > j.w.cfg.RetryBudget {
		j.log.Warn().Time("retrying_since", since).Dur("retry_budget", j.w.cfg.RetryBudget).
			Msg("retry budget spent: dead-lettering the job")
		return true
	}
	return false
}
