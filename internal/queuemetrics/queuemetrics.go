// Package queuemetrics exposes what operators alert on in the queue as
// Prometheus gauges, read when scraped: JetStream's own counts of the job
// stream, its consumer and the dead letters, and the job index's counts of
// retained jobs by state. The publisher (`publisher serve`, the local
// stack) registers a [Collector] on its /metrics; every replica reports
// the same cluster-wide figures, so alert on max() of them, not sum().
//
// # Metrics
//
//	embedstream_queue_up                         1 when the figures below could be read at this scrape
//	embedstream_queue_pending_jobs               jobs waiting, never delivered (the consumer's pending: the queue depth)
//	embedstream_queue_ack_pending_jobs           jobs delivered and not acknowledged (running, or waiting for a retry)
//	embedstream_queue_redelivered_jobs           of those, delivered more than once
//	embedstream_queue_waiting_pulls              pull requests waiting for a job (free worker slots)
//	embedstream_queue_stream_jobs{domain}        jobs in the job stream (not yet acknowledged), by domain
//	embedstream_queue_stream_max_jobs            the job stream's message limit (absent when unlimited)
//	embedstream_queue_dead_letters{domain}       dead letters in INGEST_DLQ, by domain
//	embedstream_queue_dead_letters_max           the dead-letter stream's message limit
//	embedstream_jobs{state}                      retained job status records, by state (the job index)
package queuemetrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/queue"
)

// Queue is what the collector reads from JetStream; *queue.Queue
// implements it.
type Queue interface {
	Info(ctx context.Context) (queue.QueueInfo, error)
}

// Index gives the retained jobs by state; *jobindex.Index implements it.
type Index interface {
	Counts(ctx context.Context) (jobindex.Counts, error)
}

// ScrapeTimeout bounds the reads of one scrape.
const ScrapeTimeout = 5 * time.Second

var (
	descUp          = desc("queue_up", "1 when the queue's figures could be read from JetStream at this scrape, else 0.")
	descPending     = desc("queue_pending_jobs", "Jobs waiting in the queue, never delivered yet (the workers' consumer's pending count: the queue depth).")
	descAckPending  = desc("queue_ack_pending_jobs", "Jobs delivered and not acknowledged: running, or waiting for a retry after a transient failure.")
	descRedelivered = desc("queue_redelivered_jobs", "Jobs delivered and not acknowledged that were delivered more than once.")
	descWaiting     = desc("queue_waiting_pulls", "Pull requests waiting for a job: one per free worker slot.")
	descStream      = desc("queue_stream_jobs", "Jobs in the job stream (waiting, running or waiting for a retry), by domain.", "domain")
	descStreamMax   = desc("queue_stream_max_jobs", "The job stream's message limit (QUEUE_MAX_MSGS); absent when unlimited.")
	descDLQ         = desc("queue_dead_letters", "Dead letters in INGEST_DLQ, by domain.", "domain")
	descDLQMax      = desc("queue_dead_letters_max", "The dead-letter stream's message limit.")
	descJobs        = desc("jobs", "Retained job status records (JOB_STATUS_TTL), by state, from the job index.", "state")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("embedstream_"+name, help, labels, nil)
}

// Collector reads the queue's figures when scraped. A nil Index leaves
// embedstream_jobs out.
type Collector struct {
	q  Queue
	ix Index
}

// New returns a collector over q and ix (ix may be nil).
func New(q Queue, ix Index) *Collector { return &Collector{q: q, ix: ix} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descPending, descAckPending, descRedelivered, descWaiting,
		descStream, descStreamMax, descDLQ, descDLQMax, descJobs} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one read of the queue's
// figures (a few JetStream API calls) and of the index's counts.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	info, err := c.q.Info(ctx)
	if err != nil {
		gauge(descUp, 0)
	} else {
		gauge(descUp, 1)
		gauge(descPending, float64(info.Consumer.Pending))
		gauge(descAckPending, float64(info.Consumer.AckPending))
		gauge(descRedelivered, float64(info.Consumer.Redelivered))
		gauge(descWaiting, float64(info.Consumer.Waiting))
		for dom, n := range info.Stream.Domains {
			gauge(descStream, float64(n), dom)
		}
		if info.Stream.MaxMsgs > 0 {
			gauge(descStreamMax, float64(info.Stream.MaxMsgs))
		}
		for dom, n := range info.DeadLetters.Domains {
			gauge(descDLQ, float64(n), dom)
		}
		if info.DeadLetters.MaxMsgs > 0 {
			gauge(descDLQMax, float64(info.DeadLetters.MaxMsgs))
		}
	}
	if c.ix == nil {
		return
	}
	counts, err := c.ix.Counts(ctx)
	if err != nil {
		return
	}
	for state, n := range counts.States {
		gauge(descJobs, float64(n), state)
	}
}
