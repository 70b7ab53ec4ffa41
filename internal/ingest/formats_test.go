package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/queue"
)

// formatsDir holds issue 13's real-world files with CPython's reading of
// each (<file>.jsonl) or the refusal expected (<file>.error.txt).
const formatsDir = "../pickleload/testdata/formats"

// TestRealWorldFilesThroughTheWorker: files as data teams package them
// (compressed by pandas, archived, dumped by joblib, appended batch by
// batch, dicts keyed by id, NumPy's own files), from the data directory
// and uploaded into the object store, are ingested by a worker over
// JetStream and gRPC and commit exactly what CPython reads from them;
// bombs, hostile archives and files that are no pickle fail once, as
// bad_pickle, with a message naming what they are.
func TestRealWorldFilesThroughTheWorker(t *testing.T) {
	t.Parallel()
	byID, err := domain.New(domain.Spec{Name: "items", IDField: "id"})
	if err != nil {
		t.Fatal(err)
	}
	byIndex, err := domain.New(domain.Spec{Name: "indexed", IDField: "index"})
	if err != nil {
		t.Fatal(err)
	}
	keyed, err := domain.New(domain.Spec{Name: "keyed", IDField: "item_id"})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := domain.NewRegistryOf(append(domain.Builtin(), byID, byIndex, keyed)...)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOpts{Domains: reg})
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(formatsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ctx := context.Background()
	good := []struct{ file, domain string }{
		{"df.pkl.gz", "items"}, {"df.pkl.bz2", "items"}, {"df.pkl.xz", "items"}, {"df.pkl.zst", "items"},
		{"df.pkl.zip", "items"}, {"df.pkl.tar", "items"}, {"df.pkl.tar.gz", "items"},
		{"df_gzip_named.pkl", "items"}, {"records.pkl.gz", "items"},
		{"joblib_df.joblib", "items"}, {"joblib_df_compress3.joblib", "items"},
		{"appended_records.pkl", "items"}, {"appended_single_records.pkl", "items"},
		{"dict_index.pkl", "indexed"}, {"dict_dict.pkl", "indexed"},
		{"npz_plain.npz", "items"},
	}
	bad := []struct{ file, says string }{
		{"bomb.pkl.gz", "decompresses to more than"},
		{"zip_traversal.pkl.zip", "leaves the archive"},
		{"joblib_huge_shape.joblib", "claims more bytes than the limit"},
		{"truncated.pkl.zst", ""},
		{"appended_different.pkl", ""},
		{"table.parquet", "a Parquet file"},
		{"npy_object.npy", ""},
	}
	type job struct{ id, file, domain, says string }
	var jobs []job
	for _, g := range good {
		if _, err := os.Stat(filepath.Join(formatsDir, g.file+".jsonl")); err != nil {
			t.Fatalf("%s: no CPython reading: %v", g.file, err)
		}
		e.addFile(g.file, read(g.file))
		id := "dir-" + g.file
		e.enqueue(queue.Job{ID: id, Domain: g.domain, FileName: g.file})
		jobs = append(jobs, job{id, g.file, g.domain, ""})
		// The same file uploaded, under a name that does not say what it is.
		obj := "uploads/" + strings.ReplaceAll(g.file, ".", "_") + ".bin"
		if _, err := e.q.PutFile(ctx, obj, strings.NewReader(string(read(g.file)))); err != nil {
			t.Fatal(err)
		}
		id = "obj-" + g.file
		e.enqueue(queue.Job{ID: id, Domain: g.domain, FileName: obj, Source: queue.SourceObject})
		jobs = append(jobs, job{id, g.file, g.domain, ""})
	}
	for _, b := range bad {
		e.addFile(b.file, read(b.file))
		id := "bad-" + b.file
		e.enqueue(queue.Job{ID: id, Domain: "items", FileName: b.file})
		jobs = append(jobs, job{id, b.file, "items", b.says})
	}
	e.startWorker("w1", func(_ *ingest.WorkerConfig, p *ingest.ProcessorConfig) {
		p.MaxFileBytes = 4 << 20 // the bombs unwrap past it
	})
	// A dict keyed by id puts its keys in the domain's id field.
	for _, f := range []string{"dict_index.pkl", "dict_dict.pkl"} {
		id := "keyed-" + f
		e.enqueue(queue.Job{ID: id, Domain: "keyed", FileName: f})
		want := strings.ReplaceAll(string(read(f+".jsonl")), `{"index":`, `{"item_id":`)
		wantFile := filepath.Join(t.TempDir(), f+".jsonl")
		if err := os.WriteFile(wantFile, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if s := e.waitFinished(id); s.State != queue.StateSucceeded {
				t.Errorf("%s in a domain with id field item_id: %+v (error %+v)", f, s, s.Error)
				return
			}
			e.checkCommittedAs("keyed", id, wantFile)
		}()
	}
	for _, j := range jobs {
		s := e.waitFinished(j.id)
		if strings.HasPrefix(j.id, "bad-") {
			if s.State != queue.StateFailed || s.Error == nil || s.Error.Class != ingest.ClassBadPickle || !s.Error.Permanent ||
				!strings.Contains(s.Error.Message, j.says) || s.Attempts != 1 {
				t.Errorf("%s: %+v (error %+v), want failed at once as bad_pickle saying %q", j.file, s, s.Error, j.says)
			}
			continue
		}
		if s.State != queue.StateSucceeded {
			t.Errorf("%s (%s): %+v (error %+v)", j.file, j.id, s, s.Error)
			continue
		}
		e.checkCommittedAs(j.domain, j.id, filepath.Join(formatsDir, j.file+".jsonl"))
	}
}
