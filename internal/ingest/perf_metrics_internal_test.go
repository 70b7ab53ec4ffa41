package ingest

import (
	"testing"
	"time"
)

func TestObservePhases(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	m.observePhases("recruit", Phases{Read: time.Millisecond, Load: 2 * time.Millisecond, Stream: 3 * time.Millisecond})
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "embedstream_worker_phase_duration_seconds" {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "phase" {
					got[l.GetValue()] = s.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	want := map[string]uint64{phaseRead: 1, phaseLoad: 1, phaseStream: 1} // validate did not run
	if len(got) != len(want) {
		t.Fatalf("phases observed: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("phases observed: %v, want %v", got, want)
		}
	}
}
