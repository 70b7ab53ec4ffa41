package ingest

import (
	"testing"
	"time"
)

func TestBackoffDoublesWithJitterUpToMax(t *testing.T) {
	t.Parallel()
	w := &Worker{cfg: WorkerConfig{BackoffMin: time.Second, BackoffMax: 10 * time.Second}}
	for _, tc := range []struct {
		attempt int
		base    time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {40, 10 * time.Second}} {
		for range 50 {
			d := w.backoff(tc.attempt)
			lo, hi := time.Duration(float64(tc.base)*0.8), time.Duration(float64(tc.base)*1.2)
			if d < lo || d > hi {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tc.attempt, d, lo, hi)
			}
		}
	}
}
