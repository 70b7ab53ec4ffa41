package batchserver

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// TestContractV1 checks that --contract v1 behaves as a server built from
// the v1 contract: GetIngestState is UNIMPLEMENTED, the resume fields are
// unknown to it (a resumed stream is a sequence gap), full streams commit as
// before, and it keeps no staging, not even a v2 run's.
func TestContractV1(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{StagingSyncBytes: syncEveryChunk})
	tb := testTable(50)
	b.stageAndBreak(t, "job-v1-staged", tb, 10, 2, 1)
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	b.cfg.Contract = ContractV1
	b.start(t)
	b.assertNotStaged(t, "job-v1-staged")

	_, err := b.client.GetIngestState(context.Background(), &pb.GetIngestStateRequest{IngestId: "job-v1-staged"})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("GetIngestState: %v, want UNIMPLEMENTED", err)
	}
	// The resume point is ignored: chunk 2 comes first, a gap.
	_, err = send(context.Background(), b.client, resumeMessages("job-v1-staged", tb, 10, 2, 2))
	wantInvalid(t, err, "chunk sequence 2, want 0")
	// A resume with nothing left to send ends short.
	_, err = send(context.Background(), b.client, resumeMessages("job-v1-staged", tb, 10, 5, 2))
	wantInvalid(t, err, "ended after 0 of total_records 50")
	b.assertNothing(t, "job-v1-staged")

	// A full stream, with chunk options a v1 server does not know, commits.
	full := messages("job-v1-staged", tb, 10)
	full[0].GetMetadata().ChunkOptions = &pb.ChunkOptions{MaxRecords: 10}
	resp, err := send(context.Background(), b.client, full)
	if err != nil || resp.GetRecordsReceived() != 50 || resp.GetChunksReceived() != 5 {
		t.Fatalf("full stream: %v, %v", resp, err)
	}
	b.assertCommitted(t, "job-v1-staged", tb)
	b.assertIdentical(t, "job-v1-staged", tb)
	if st := b.srv.Stats(); st.Resumed != 0 || st.StagedBytes != 0 {
		t.Fatalf("stats %+v", st)
	}
}
