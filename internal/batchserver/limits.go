package batchserver

import (
	"errors"
	"fmt"
	"os"

	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// Bounds on what a stream may make the server write (issue 12: without
// them, about 60 bytes sent committed 3 MB, and 6 KiB sent 8.2 MB).
const (
	// MaxFieldNameBytes is the longest schema field name accepted, in bytes.
	MaxFieldNameBytes = 256
	// MaxFields is the most schema fields accepted.
	MaxFields = 4096
	// MaxOutputRatio bounds the canonical JSONL of an ingest to this many
	// times the bytes received for it (metadata and chunks, over every
	// stream that staged it) plus OutputSlackBytes. Real data stays far
	// below it (embeddings about 3, text about 1.2; a table of only BOOL
	// columns named 50 bytes long about 60).
	MaxOutputRatio = 64
	// OutputSlackBytes is the output allowed beyond MaxOutputRatio times
	// the bytes received, so small ingests are never refused.
	OutputSlackBytes = 1 << 20
)

// errOutputRatio is returned (wrapped) by a budgetWriter when a write would
// take an ingest's output past its MaxOutputRatio budget.
var errOutputRatio = errors.New("output ratio exceeded")

// checkSchemaBounds refuses schemas that make the output out of proportion
// to the input: an empty schema for a non-empty dataset (each record would
// be "{}" from nothing sent), names longer than MaxFieldNameBytes (each is
// repeated in every record) and more than MaxFields fields.
func checkSchemaBounds(md *pb.IngestMetadata) error {
	fields := md.GetSchema()
	if len(fields) == 0 && md.GetTotalRecords() > 0 {
		return fmt.Errorf("empty schema for %d records: a non-empty dataset needs at least one field", md.GetTotalRecords())
	}
	if len(fields) > MaxFields {
		return fmt.Errorf("schema has %d fields, at most %d are accepted", len(fields), MaxFields)
	}
	for i, f := range fields {
		if n := len(f.GetName()); n > MaxFieldNameBytes {
			return fmt.Errorf("schema field %d: name of %d bytes (%.40q...), at most %d bytes are accepted", i, n, f.GetName(), MaxFieldNameBytes)
		}
	}
	return nil
}

// outputBudget is the most canonical output an ingest that received
// received bytes may have.
func outputBudget(received uint64) int64 {
	return int64(min(received, 1<<50))*MaxOutputRatio + OutputSlackBytes
}

// budgetWriter sits between a stream's write buffer and its staged JSONL:
// it refuses a write that would take the JSONL past limit (the ingest's
// output budget: errOutputRatio) or the staging area past
// Config.StagingMaxBytes (errStagingFull), and counts what reaches the
// file in stg.dataBytes and the server's staging total.
type budgetWriter struct {
	s     *Server
	stg   *staging
	f     *os.File
	limit int64 // the most bytes the JSONL may hold
}

func (w *budgetWriter) Write(p []byte) (int, error) {
	n := int64(len(p))
	if w.stg.dataBytes+n > w.limit {
		return 0, errOutputRatio
	}
	if !w.s.reserve(n) {
		return 0, errStagingFull
	}
	k, err := w.f.Write(p)
	w.stg.dataBytes += int64(k)
	if int64(k) < n {
		w.s.stagingUsed.Add(int64(k) - n) // give back what was not written
	}
	return k, err
}
