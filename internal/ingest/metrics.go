package ingest

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Job outcomes, as the "outcome" label of the job metrics and
// [queue.Attempt.Outcome].
const (
	OutcomeSucceeded = "succeeded"
	OutcomeRetrying  = "retrying"
	OutcomeFailed    = "failed"
	OutcomeShutdown  = "shutdown"   // cut off by the worker's shutdown, Nak'd
	OutcomeCanceled  = "canceled"   // canceled by an operator, terminated
	OutcomeLeaseLost = "lease_lost" // lease unconfirmed, left to redelivery
	// OutcomeSuperseded: the attempt failed after a later delivery of the
	// same job had started (its lease ran out unnoticed); it is left alone
	// so as not to disturb that delivery.
	OutcomeSuperseded = "superseded"
)

// Metrics are the worker's Prometheus metrics, on a registry of their own
// (never the global one), so several workers can live in one process.
type Metrics struct {
	reg          *prometheus.Registry
	jobs         *prometheus.CounterVec
	records      *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	phases       *prometheus.HistogramVec
	queueWait    *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	deliveries   *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	// leaseExtensions counts in-progress acks by result: confirmed (the
	// server replied) or failed.
	leaseExtensions *prometheus.CounterVec
	// resumes and resumedRecords count streams that resumed chunks the
	// batch server had staged, and the records they did not send again;
	// resentBytes the chunk bytes sent by retried attempts.
	resumes        *prometheus.CounterVec
	resumedRecords *prometheus.CounterVec
	resentBytes    *prometheus.CounterVec
}

// Results of lease extensions, as the "result" label of
// embedstream_worker_lease_extensions_total.
const (
	leaseConfirmed = "confirmed"
	leaseFailed    = "failed"
)

// NewMetrics returns the worker's metrics, registered with a new registry
// that also carries the Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "embedstream", Subsystem: "worker", Name: "jobs_total",
			Help: "Job attempts finished, by domain and outcome (succeeded, retrying, failed, shutdown, lease_lost, superseded).",
		}, []string{"domain", "outcome"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "embedstream", Subsystem: "worker", Name: "records_streamed_total",
			Help: "Records sent to the batch server, by domain.",
		}, []string{"domain"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "embedstream", Subsystem: "worker", Name: "bytes_streamed_total",
			Help: "Encoded chunk bytes sent to the batch server, by domain.",
		}, []string{"domain"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "embedstream", Subsystem: "worker", Name: "job_duration_seconds",
			Help:    "Duration of job attempts, from delivery to ack, by domain and outcome.",
			Buckets: durationBuckets,
		}, []string{"domain", "outcome"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "embedstream", Subsystem: "worker", Name: "enqueue_to_start_seconds",
			Help:    "Time a job waited in the queue, from its message's store (enqueue, replay or handoff) to its first delivery, by domain.",
			Buckets: durationBuckets,
		}, []string{"domain"}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "embedstream", Subsystem: "worker", Name: "phase_duration_seconds",
			Help:    "Duration of the phases of job attempts (read, load, validate, stream), by domain and phase; validate overlaps stream.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14), // 1ms .. ~2.5min
		}, []string{"domain", "phase"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "embedstream", Subsystem: "worker", Name: "jobs_in_flight",
			Help: "Jobs running in this worker now.",
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "embedstream", Subsystem: "worker", Name: "deliveries_total",
			Help: "Job deliveries received, by delivery attempt (1 is the first; \"10+\" groups the rest).",
		}, []string{"attempt"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "embedstream", Subsystem: "worker", Name: "dead_letters_total",
			Help: "Jobs moved to the dead-letter stream, by reason (permanent_error, retries_exhausted, max_deliveries).",
		}, []string{"reason"}),
		leaseExtensions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "embedstream", Subsystem: "worker", Name: "lease_extensions_total",
			Help: "In-progress acks sent to extend running jobs' AckWait, by result (confirmed: the server replied; failed).",
		}, []string{"result"}),
		resumes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "embedstream", Subsystem: "worker", Name: "resumes_total",
			Help: "Streams that resumed where an earlier attempt stopped (the batch server had staged their first chunks), by domain.",
		}, []string{"domain"}),
		resumedRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "embedstream", Subsystem: "worker", Name: "resumed_records_total",
			Help: "Records that resumed streams did not send again because the batch server had them staged, by domain.",
		}, []string{"domain"}),
		resentBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "embedstream", Subsystem: "worker", Name: "resent_bytes_total",
			Help: "Encoded chunk bytes sent by retried attempts (attempt 2 and later): what retries cost on the wire, by domain.",
		}, []string{"domain"}),
	}
	m.reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// durationBuckets are the buckets of job durations and queue waits, in
// seconds: from 50 ms to 12 h, so a job that runs up to its stream's
// deadline (hours for files of GiBs) still lands in a finite bucket.
var durationBuckets = []float64{
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800,
	3600, 2 * 3600, 4 * 3600, 8 * 3600, 12 * 3600,
}

// collectors are the worker's own metrics (not the Go and process ones).
func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.jobs, m.records, m.bytes, m.duration, m.queueWait, m.phases, m.inFlight,
		m.deliveries, m.deadLettered, m.leaseExtensions, m.resumes, m.resumedRecords, m.resentBytes}
}

// Describe implements prometheus.Collector: the worker's own metrics,
// without the Go and process collectors its registry adds, so several
// workers in one process (the local stack) can be registered together,
// each under a label of its own.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector; see [Metrics.Describe].
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// Registry returns the registry the metrics are registered with.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *Metrics) delivered(attempt int) {
	label := "10+"
	if attempt < 10 {
		label = strconv.Itoa(attempt)
	}
	m.deliveries.WithLabelValues(label).Inc()
}

func (m *Metrics) finished(domain, outcome string, d time.Duration, records, bytes uint64) {
	m.jobs.WithLabelValues(domain, outcome).Inc()
	m.duration.WithLabelValues(domain, outcome).Observe(d.Seconds())
	if records > 0 {
		m.records.WithLabelValues(domain).Add(float64(records))
	}
	if bytes > 0 {
		m.bytes.WithLabelValues(domain).Add(float64(bytes))
	}
}

// resumed counts a stream that resumed after records staged records.
func (m *Metrics) resumed(domain string, records uint64) {
	m.resumes.WithLabelValues(domain).Inc()
	m.resumedRecords.WithLabelValues(domain).Add(float64(records))
}

// resent counts the chunk bytes a retried attempt sent.
func (m *Metrics) resent(domain string, bytes uint64) {
	if bytes > 0 {
		m.resentBytes.WithLabelValues(domain).Add(float64(bytes))
	}
}

// Phases of a job attempt, as the "phase" label of
// embedstream_worker_phase_duration_seconds.
const (
	phaseRead     = "read"
	phaseLoad     = "load"
	phaseValidate = "validate"
	phaseStream   = "stream"
)

// observePhases records the phases of an attempt that ran.
func (m *Metrics) observePhases(domain string, ph Phases) {
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{phaseRead, ph.Read}, {phaseLoad, ph.Load}, {phaseValidate, ph.Validate}, {phaseStream, ph.Stream}} {
		if p.d > 0 {
			m.phases.WithLabelValues(domain, p.name).Observe(p.d.Seconds())
		}
	}
}
