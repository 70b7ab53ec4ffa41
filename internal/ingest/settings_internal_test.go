package ingest

import (
	"flag"
	"io"
	"testing"

	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/dataset"
)

// TestDatasetLimitsFollowSettings: MAX_FILE_BYTES and the pickle limits
// reach the dataset stage (which turns them into the loader's options:
// see package dataset's tests).
func TestDatasetLimitsFollowSettings(t *testing.T) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, err := config.LoadWorker(fs, []string{"--pickle-decoded-factor", "3"}, func(k string) string {
		return map[string]string{"PICKLE_MAX_DEPTH": "64", "MAX_FILE_BYTES": "123456"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	_, pcfg, _ := Configs(c)
	if l := pcfg.limits(); l != (dataset.Limits{MaxFileBytes: 123456, PickleDecodedFactor: 3, PickleMaxDepth: 64}) {
		t.Fatalf("limits = %+v", l)
	}
}
