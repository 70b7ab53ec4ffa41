package pull_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/pull"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/table"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// fixtureDir holds the pickle fixtures; dataDir the shipped samples.
const (
	fixtureDir = "../pickleload/testdata/fixtures"
	formatsDir = "../pickleload/testdata/formats"
	samplesDir = "../../data"
)

// chunkRecords cuts both sides' chunks small, so that most fixtures go out
// in several chunks.
const chunkRecords = 7

// TestPullCommitsWhatPushCommits: for every fixture and every shipped
// sample, a dataset pulled from a worker (internal/pull, batchserver.Pull)
// and the same file pushed by a worker (ingest.Processor, batchclient, the
// reference server's IngestDataStream) commit byte-identical JSONL, with
// the same records, chunks and sha256 in the ledger; a file one refuses,
// the other refuses too, with the status code of the same class. Issue
// 13's real-world files (compressed, archived, joblib, appended, keyed
// dicts, .npy/.npz) go through both paths too, and those CPython reads
// commit exactly its reading.
func TestPullCommitsWhatPushCommits(t *testing.T) {
	dataDir := t.TempDir()
	type item struct{ name, domain string }
	var items []item
	var doms []*domain.Domain
	probe := dataset.NewLoader(dataset.Config{})
	fixtures, err := filepath.Glob(filepath.Join(fixtureDir, "*.pkl"))
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range fixtures {
		name := copyFile(t, f, dataDir)
		d := fixtureDomain(t, probe, f, strings.TrimSuffix(name, ".pkl"))
		doms = append(doms, d)
		items = append(items, item{name, d.Name})
	}
	// Issue 13's real-world files (compressed, archived, joblib, appended,
	// dicts keyed by id, .npy/.npz), in a directory of their own: their
	// names are not all unique next to the fixtures'.
	if err := os.Mkdir(filepath.Join(dataDir, "formats"), 0o755); err != nil {
		t.Fatal(err)
	}
	formatItems := 0
	formatFiles, err := filepath.Glob(filepath.Join(formatsDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range formatFiles {
		if isExpectation(f) {
			continue
		}
		name := "formats/" + copyFile(t, f, filepath.Join(dataDir, "formats"))
		d := fixtureDomain(t, probe, f, "formats_"+filepath.Base(f))
		doms = append(doms, d)
		items = append(items, item{name, d.Name})
		formatItems++
	}
	for name, dom := range map[string]string{"processed_recruitment_data.pkl": "recruit", "processed_candidate_data.pkl": "candidate"} {
		items = append(items, item{copyFile(t, filepath.Join(samplesDir, name), dataDir), dom})
	}
	reg, err := domain.NewRegistryOf(append(domain.Builtin(), doms...)...)
	if err != nil {
		t.Fatal(err)
	}

	// Push: a worker's processor streaming to a batch server over gRPC.
	log := zerolog.Nop()
	pushed := batchservertest.Start(t, batchserver.Config{}, log)
	bc, err := batchclient.New(t.Context(), batchclient.Config{Addr: pushed.Addr}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bc.Close() })
	proc := ingest.NewProcessor(ingest.ProcessorConfig{DataDir: dataDir, MaxFileBytes: 1 << 30, ChunkRecords: chunkRecords}, reg, nil, bc)

	// Pull: a worker's pull server, called by another batch server.
	w := startWorker(t, dataDir, workerOpts{cfg: pull.Config{ChunkRecords: 10000}, domains: reg})
	pulled := newSink(t, batchserver.Config{})
	conn := dial(t, w.Addr, nil, "")

	committed, refused, formats := 0, 0, 0
	for _, it := range items {
		t.Run(it.name, func(t *testing.T) {
			id := strings.ReplaceAll(strings.TrimSuffix(it.name, ".pkl"), "/", "_")
			_, pushErr := proc.Run(context.Background(), queue.Job{ID: "push-" + id, Domain: it.domain, FileName: it.name}, 1, nil)
			req := fileRequest(it.domain, it.name, "pull-"+id)
			req.Options = &pb.ChunkOptions{MaxRecords: chunkRecords}
			res, pullErr := pullInto(t, pulled, conn, req)

			if pushErr != nil {
				if pullErr == nil {
					t.Fatalf("push failed (%v), pull committed %+v", pushErr, res)
				}
				class := ingest.Classify(pushErr).Class
				if base, ok := strings.CutPrefix(it.name, "formats/"); ok && class != ingest.ClassValidation {
					if _, err := os.Stat(filepath.Join(formatsDir, base+".jsonl")); err == nil {
						t.Fatalf("CPython reads %s, push refused it: %v", base, pushErr)
					}
				}
				want := map[string][]codes.Code{
					ingest.ClassBadPickle:  {codes.FailedPrecondition, codes.ResourceExhausted},
					ingest.ClassValidation: {codes.InvalidArgument},
				}[class]
				if !slices.Contains(want, status.Code(pullErr)) {
					t.Fatalf("push failed as %s (%v), pull as %v, want one of %v", class, pushErr, pullErr, want)
				}
				if _, ok := pulled.Committed("pull-" + id); ok {
					t.Fatal("a refused pull is in the ledger")
				}
				refused++
				return
			}
			if pullErr != nil {
				t.Fatalf("push committed, pull failed: %v", pullErr)
			}
			if res.Outcome != batchserver.OutcomeCommitted || !res.Pulled {
				t.Fatalf("pull result %+v", res)
			}
			pe, ok1 := pushed.Committed("push-" + id)
			qe, ok2 := pulled.Committed("pull-" + id)
			if !ok1 || !ok2 {
				t.Fatalf("ledger: push %v, pull %v", ok1, ok2)
			}
			if pe.Records != qe.Records || pe.Chunks != qe.Chunks || pe.SHA256 != qe.SHA256 || pe.Domain != qe.Domain || pe.FileName != qe.FileName {
				t.Fatalf("ledger entries differ:\npush %+v\npull %+v", pe, qe)
			}
			want, err := os.ReadFile(pushed.OutputPath(it.domain, "push-"+id))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(pulled.OutputPath(it.domain, "pull-"+id))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("pulled JSONL (%d bytes) differs from pushed JSONL (%d bytes)", len(got), len(want))
			}
			// A real-world file commits what CPython reads from it.
			if base, ok := strings.CutPrefix(it.name, "formats/"); ok {
				expected, err := os.ReadFile(filepath.Join(formatsDir, base+".jsonl"))
				if err != nil {
					t.Fatal(err)
				}
				if err := canonical.Compare(bytes.NewReader(got), bytes.NewReader(expected)); err != nil {
					t.Fatalf("committed JSONL differs from CPython's reading of %s: %v", base, err)
				}
				formats++
			}
			committed++
		})
	}
	t.Logf("%d files committed identically (%d of them real-world formats, as CPython reads them), %d refused by both", committed, formats, refused)
	if formats < 40 {
		t.Errorf("only %d real-world format files committed", formats)
	}
	if committed-formats < (len(items)-formatItems)/2 {
		t.Errorf("only %d of %d files committed: the comparison proves little", committed, len(items))
	}
}

// fixtureDomain returns a domain that the fixture at path can satisfy: its
// id field is the first STRING or INT64 column without nulls or repeats.
// A fixture without one (or that does not load) gets a domain it fails,
// which both sides must then refuse alike.
func fixtureDomain(t *testing.T, l *dataset.Loader, path, base string) *domain.Domain {
	t.Helper()
	name := "fx_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, base)
	id := "id"
	if ds, _, err := l.Load(context.Background(), dataset.Ref{Origin: dataset.AtPath, Name: path}); err == nil {
		tbl, err := ds.Table()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range tbl.Columns {
			if uniqueID(c) {
				id = c.Name
				break
			}
		}
		ds.Release()
	}
	d, err := domain.New(domain.Spec{Name: name, IDField: id})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return d
}

// uniqueID reports whether c could be an id field: STRING or INT64, no
// nulls, no value twice.
func uniqueID(c *table.Column) bool {
	if len(c.Nulls) > 0 || c.Name == "" {
		return false
	}
	switch c.Type {
	case table.TypeString:
		seen := map[string]bool{}
		for _, v := range c.Strings {
			if seen[v] {
				return false
			}
			seen[v] = true
		}
		return true
	case table.TypeInt64:
		seen := map[int64]bool{}
		for _, v := range c.Int64s {
			if seen[v] {
				return false
			}
			seen[v] = true
		}
		return true
	}
	return false
}

// isExpectation reports whether path is a fixture's expectation (CPython's
// reading, its schema, the refusal expected, joblib's pickled form) rather
// than a file to read.
func isExpectation(path string) bool {
	for _, suffix := range []string{".jsonl", ".schema.json", ".error.txt", ".pickled"} {
		if strings.HasSuffix(path, suffix) {
			return true
		}
	}
	return false
}
