package ingest

import (
	"testing"

	"github.com/embedstream/embedstream/internal/dataset"
)

// TestDatasetLimitsFollowConfig: MAX_FILE_BYTES and the pickle limits, as
// the worker's wiring maps them onto ProcessorConfig, reach the dataset
// stage (which turns them into the loader's options: see package dataset's
// tests).
func TestDatasetLimitsFollowConfig(t *testing.T) {
	pcfg := ProcessorConfig{MaxFileBytes: 123456, PickleDecodedFactor: 3, PickleMaxDepth: 64}
	if l := pcfg.limits(); l != (dataset.Limits{MaxFileBytes: 123456, PickleDecodedFactor: 3, PickleMaxDepth: 64}) {
		t.Fatalf("limits = %+v", l)
	}
}
