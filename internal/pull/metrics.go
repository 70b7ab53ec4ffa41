package pull

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
)

// Metrics are the pull server's Prometheus metrics. The worker registers
// them with its own registry ([Metrics.Register]), next to the job
// metrics, so one /metrics serves both.
type Metrics struct {
	streams  *prometheus.CounterVec
	records  *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// NewMetrics returns the pull server's metrics, not yet registered.
func NewMetrics() *Metrics {
	return &Metrics{
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "embedstream", Subsystem: "pull", Name: "streams_total",
			Help: "StreamDataset calls finished, by domain (\"-\" when unknown) and outcome (the status code in lower case: ok, not_found, invalid_argument, failed_precondition, resource_exhausted, unavailable, unauthenticated, canceled, ...).",
		}, []string{"domain", "outcome"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "embedstream", Subsystem: "pull", Name: "records_streamed_total",
			Help: "Records sent to pulling batch servers, by domain.",
		}, []string{"domain"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "embedstream", Subsystem: "pull", Name: "bytes_streamed_total",
			Help: "Encoded chunk bytes sent to pulling batch servers, by domain.",
		}, []string{"domain"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "embedstream", Subsystem: "pull", Name: "stream_duration_seconds",
			Help:    "Duration of StreamDataset calls, from the request to the end of the stream, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12), // 10ms .. ~10min
		}, []string{"outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "embedstream", Subsystem: "pull", Name: "streams_in_flight",
			Help: "StreamDataset calls holding a pull slot now.",
		}),
	}
}

// Register registers the metrics with r (the worker's registry). It fails
// if they are registered there already.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.streams, m.records, m.bytes, m.duration, m.inFlight} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Outcome is the outcome label of a call that ended with code c: its name
// in the contract's spelling, in lower case ("ok", "not_found", ...).
func Outcome(c codes.Code) string {
	if name, ok := rpccode.Code_name[int32(c)]; ok {
		return strings.ToLower(name)
	}
	return "code_" + c.String()
}

// finished counts a call that ended with code c after d, having sent
// records and bytes; domain is "" when the request's domain is unknown.
func (m *Metrics) finished(domain string, c codes.Code, d time.Duration, records, bytes uint64) {
	if domain == "" {
		domain = "-"
	}
	out := Outcome(c)
	m.streams.WithLabelValues(domain, out).Inc()
	m.duration.WithLabelValues(out).Observe(d.Seconds())
	if records > 0 {
		m.records.WithLabelValues(domain).Add(float64(records))
	}
	if bytes > 0 {
		m.bytes.WithLabelValues(domain).Add(float64(bytes))
	}
}
