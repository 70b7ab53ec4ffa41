// Package telemetry builds embedstream's observability: the one zerolog
// logger setup every binary uses, and the context plumbing that carries a
// job's child logger (with job_id, domain and attempt) down the job path.
package telemetry
