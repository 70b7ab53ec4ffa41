package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/cli"
	"github.com/embedstream/embedstream/internal/dashboard"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/ingesttest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
	"github.com/embedstream/embedstream/internal/wiring/publisher"
)

// scaleJobs is how many jobs the scale test puts in the queue at once.
const scaleJobs = 20_000

// truth is what JetStream itself says, read with the plain jetstream API.
type truth struct {
	streamMsgs  uint64
	perDomain   map[string]uint64
	pending     uint64
	ackPending  int
	dlqMsgs     uint64
	dlqDomains  map[string]uint64
	kvKeys      int
	kvStates    map[string]int
	kvDomainSts map[string]map[string]int
}

// readTruth reads the job stream, its consumer, the dead letters and every
// status record straight from JetStream.
func readTruth(t *testing.T, s *queuetest.Server) truth {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js := queuetest.JetStream(t, s)
	tr := truth{perDomain: map[string]uint64{}, dlqDomains: map[string]uint64{}, kvStates: map[string]int{}, kvDomainSts: map[string]map[string]int{}}
	stream, err := js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(queue.SubjectWildcard))
	if err != nil {
		t.Fatal(err)
	}
	tr.streamMsgs = info.State.Msgs
	for subj, n := range info.State.Subjects {
		tr.perDomain[strings.TrimPrefix(subj, queue.SubjectPrefix)] = n
	}
	cons, err := js.Consumer(ctx, queue.DefaultStream, queue.ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	ci := cons.CachedInfo()
	tr.pending, tr.ackPending = ci.NumPending, ci.NumAckPending
	dlq, err := js.Stream(ctx, queue.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	di, err := dlq.Info(ctx, jetstream.WithSubjectFilter(queue.DLQSubjectPrefix+">"))
	if err != nil {
		t.Fatal(err)
	}
	tr.dlqMsgs = di.State.Msgs
	for subj, n := range di.State.Subjects {
		tr.dlqDomains[strings.TrimPrefix(subj, queue.DLQSubjectPrefix)] = n
	}
	kv, err := js.KeyValue(ctx, queue.StatusBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for e := range w.Updates() {
		if e == nil {
			break
		}
		var st queue.Status
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			t.Fatalf("record %s: %v", e.Key(), err)
		}
		tr.kvKeys++
		tr.kvStates[st.State]++
		if tr.kvDomainSts[st.Domain] == nil {
			tr.kvDomainSts[st.Domain] = map[string]int{}
		}
		tr.kvDomainSts[st.Domain][st.State]++
	}
	return tr
}

// publishJobs puts n jobs and their "queued" status records into
// JetStream with asynchronous publishes, at most a window of them
// unacknowledged at a time, as Queue.Enqueue would store them one by one.
func publishJobs(t *testing.T, s *queuetest.Server, n int, domain func(i int) string) []string {
	t.Helper()
	var failed atomic.Int64
	nc := queuetest.Connect(t, s)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(512),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) { failed.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Add(-30 * time.Minute)
	ids := make([]string, 0, n)
	for i := range n {
		id := fmt.Sprintf("bulk-%05d", i)
		ids = append(ids, id)
		dom := domain(i)
		job := queue.Job{ID: id, Domain: dom, FileName: fmt.Sprintf("batch_%05d.pkl", i), Source: queue.SourceFile, EnqueuedAt: base.Add(time.Duration(i) * time.Millisecond)}
		body, err := json.Marshal(job)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: job.Subject(), Data: body}, jetstream.WithMsgID(id), jetstream.WithStallWait(time.Minute)); err != nil {
			t.Fatal(err)
		}
		st, err := json.Marshal(queue.Status{JobID: id, Domain: dom, FileName: job.FileName, Source: job.Source, State: queue.StateQueued,
			EnqueuedAt: job.EnqueuedAt, UpdatedAt: job.EnqueuedAt})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishAsync("$KV."+queue.StatusBucket+"."+queue.StatusKey(id), st, jetstream.WithStallWait(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
		t.Fatal("async publishes not acknowledged in time")
	}
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d async publishes failed", n)
	}
	return ids
}

// percentile returns the p-th percentile of ds (sorted in place).
func percentile(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	i := int(float64(len(ds)-1) * p)
	return ds[i]
}

// TestTwentyThousandJobs: with a little over 20,000 jobs (20,000 waiting
// in the queue, the rest run by a real worker: succeeded, dead-lettered,
// canceled), the dashboard's overview, the API and the CLI (through the
// publisher and reading NATS itself) report exactly what JetStream counts:
// the job stream and its consumer, the dead letters and the status
// records. It also times the listing at that volume.
func TestTwentyThousandJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("enqueues 20,000 jobs")
	}
	s := startStack(t, stackOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// A real worker runs 150 jobs: 30 succeed (recruit jobs of the recruit
	// file), 120 are dead-lettered (a missing file, or the recruit file
	// sent to candidate); 10 more are canceled before it starts.
	s.copyFixture(t, "present.pkl")
	for i := range 160 {
		file := "present.pkl"
		if i%16 >= 6 {
			file = "absent.pkl"
		}
		res, err := s.q.Enqueue(ctx, queue.Job{Domain: []string{"recruit", "candidate"}[i%2], FileName: file})
		if err != nil {
			t.Fatal(err)
		}
		if i%16 == 15 {
			if _, err := s.q.CancelJob(ctx, res.JobID); err != nil {
				t.Fatal(err)
			}
		}
	}
	bs := batchservertest.Start(t, batchserver.Config{}, testLogger(t))
	w := ingesttest.StartWorker(t, s.nats, ingesttest.Config{BatchAddr: bs.Addr, Worker: ingesttest.WorkerConfig("scale-worker"),
		Processor: ingesttest.ProcessorConfig(s.dataDir), Log: testLogger(t)})
	waitFor(t, "the worker to finish the 150 jobs", func() bool {
		return queuetest.StreamMsgs(t, s.nats, queue.DefaultStream) == 0
	})
	// The last outcome's record is written before its message is settled.
	w.Stop()

	// 20,000 more, waiting: no worker runs now.
	start := time.Now()
	publishJobs(t, s.nats, scaleJobs, func(i int) string { return []string{"recruit", "recruit", "candidate"}[i%3] })
	t.Logf("published %d jobs and their status records in %s", scaleJobs, time.Since(start).Round(time.Millisecond))

	tr := readTruth(t, s.nats)
	if tr.streamMsgs != scaleJobs || tr.pending != scaleJobs || tr.ackPending != 0 || tr.dlqMsgs != 120 ||
		tr.kvKeys != scaleJobs+160 || tr.kvStates[queue.StateSucceeded] != 30 || tr.kvStates[queue.StateFailed] != 120 || tr.kvStates[queue.StateCanceled] != 10 {
		t.Fatalf("JetStream holds %+v; the setup went wrong", tr)
	}

	// The API: GET /queue.
	c := s.client(t)
	api := c.get("/queue")
	var v httpapi.QueueView
	if err := json.Unmarshal([]byte(api.body), &v); err != nil {
		t.Fatalf("GET /queue: %d %s", api.status, api.body)
	}
	checkView := func(who string, v httpapi.QueueView) {
		t.Helper()
		if v.Stream.Messages != tr.streamMsgs || v.Consumer.Pending != tr.pending || v.Consumer.AckPending != tr.ackPending ||
			v.DeadLetters.Messages != tr.dlqMsgs || v.Jobs.Total != tr.kvKeys {
			t.Errorf("%s: stream %d, pending %d, ack pending %d, dead letters %d, jobs %d; JetStream: %d, %d, %d, %d, %d",
				who, v.Stream.Messages, v.Consumer.Pending, v.Consumer.AckPending, v.DeadLetters.Messages, v.Jobs.Total,
				tr.streamMsgs, tr.pending, tr.ackPending, tr.dlqMsgs, tr.kvKeys)
		}
		for _, st := range queue.States() {
			if v.Jobs.States[st] != tr.kvStates[st] {
				t.Errorf("%s: %d %s jobs, the bucket holds %d", who, v.Jobs.States[st], st, tr.kvStates[st])
			}
		}
		for dom, n := range tr.perDomain {
			if v.Stream.Domains[dom] != n {
				t.Errorf("%s: %d %s jobs in the stream, JetStream says %d", who, v.Stream.Domains[dom], dom, n)
			}
		}
		for dom, n := range tr.dlqDomains {
			if v.DeadLetters.Domains[dom] != n {
				t.Errorf("%s: %d %s dead letters, JetStream says %d", who, v.DeadLetters.Domains[dom], dom, n)
			}
		}
		for dom, states := range tr.kvDomainSts {
			for st, n := range states {
				if v.Jobs.Domains[dom][st] != n {
					t.Errorf("%s: %d %s %s jobs, the bucket holds %d", who, v.Jobs.Domains[dom][st], dom, st, n)
				}
			}
		}
		if int(v.Recent.Succeeded) != tr.kvStates[queue.StateSucceeded] || int(v.Recent.Failed) != tr.kvStates[queue.StateFailed] ||
			int(v.Recent.Canceled) != tr.kvStates[queue.StateCanceled] {
			t.Errorf("%s: the last hour's outcomes %+v; the bucket holds %v", who, v.Recent, tr.kvStates)
		}
	}
	checkView("GET /queue", v)

	// The API: every job, paged through GET /jobs, once each.
	seen := make(map[string]bool, tr.kvKeys)
	cursor := ""
	for {
		var page httpapi.JobList
		a := c.get("/jobs?limit=1000&cursor=" + url.QueryEscape(cursor))
		if err := json.Unmarshal([]byte(a.body), &page); err != nil {
			t.Fatalf("GET /jobs: %d %s", a.status, a.body)
		}
		for _, j := range page.Jobs {
			if seen[j.JobID] {
				t.Fatalf("GET /jobs listed %s twice", j.JobID)
			}
			seen[j.JobID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != tr.kvKeys {
		t.Errorf("GET /jobs paged through %d jobs; the bucket holds %d", len(seen), tr.kvKeys)
	}

	// The dashboard's overview.
	ov := c.get("/").body
	stat := func(name string) string {
		m := regexp.MustCompile(`data-(?:stat|count)="` + name + `">([0-9,]+)<`).FindStringSubmatch(ov)
		if m == nil {
			t.Fatalf("overview has no %s", name)
		}
		return strings.ReplaceAll(m[1], ",", "")
	}
	for name, want := range map[string]uint64{"pending": tr.pending, "inflight": uint64(tr.ackPending), "deadletters": tr.dlqMsgs, "jobs-total": uint64(tr.kvKeys)} {
		if got := stat(name); got != strconv.FormatUint(want, 10) {
			t.Errorf("overview %s = %s, JetStream says %d", name, got, want)
		}
	}
	for _, st := range queue.States() {
		if got := stat(st); got != strconv.Itoa(tr.kvStates[st]) {
			t.Errorf("overview: %s %s jobs, the bucket holds %d", got, st, tr.kvStates[st])
		}
	}

	// The CLI, through the publisher's index and reading NATS itself.
	for name, env := range map[string]map[string]string{
		"cli via PUBLISHER_URL": {"NATS_URL": s.nats.URL(), "PUBLISHER_URL": s.http.URL},
		"cli reading NATS":      {"NATS_URL": s.nats.URL()},
	} {
		var stdout, stderr syncOut
		code := cli.Run(ctx, []string{"queue", "--json"}, cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }, LoadSettings: publisher.LoadCLI})
		if code != cli.ExitOK {
			t.Fatalf("%s: exit %d: %s", name, code, stderr.String())
		}
		var cv httpapi.QueueView
		if err := json.Unmarshal([]byte(stdout.String()), &cv); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkView(name, cv)
		stdout, stderr = syncOut{}, syncOut{}
		code = cli.Run(ctx, []string{"jobs", "--json", "--state", "failed", "--limit", "1000"}, cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }, LoadSettings: publisher.LoadCLI})
		var l httpapi.JobList
		if code != cli.ExitOK || json.Unmarshal([]byte(stdout.String()), &l) != nil || len(l.Jobs) != tr.kvStates[queue.StateFailed] {
			t.Errorf("%s: jobs --state failed: exit %d, %d jobs, want %d (%s)", name, code, len(l.Jobs), tr.kvStates[queue.StateFailed], stderr.String())
		}
	}

	// /metrics agrees too.
	metrics := c.get("/metrics").body
	for _, line := range []string{
		fmt.Sprintf("embedstream_queue_pending_jobs %d", tr.pending),
		fmt.Sprintf(`embedstream_queue_dead_letters{domain="recruit"} %d`, tr.dlqDomains["recruit"]),
		fmt.Sprintf(`embedstream_jobs{state="queued"} %d`, tr.kvStates[queue.StateQueued]),
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}

	// Latency at this volume: GET /jobs pages (the newest, a filtered one,
	// a text search, a deep one by cursor) and the dashboard's refreshes.
	deep := c.get("/jobs?limit=50&cursor=")
	var page httpapi.JobList
	if err := json.Unmarshal([]byte(deep.body), &page); err != nil {
		t.Fatal(err)
	}
	for range 100 { // 5,000 jobs down
		var p httpapi.JobList
		if err := json.Unmarshal([]byte(c.get("/jobs?limit=50&cursor="+url.QueryEscape(page.NextCursor)).body), &p); err != nil {
			t.Fatal(err)
		}
		page = p
	}
	// A second dashboard on the same index whose overview cache never
	// hits: what one refresh costs when computed.
	domains, err := domain.NewRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	uncached, err := dashboard.New(dashboard.Config{RefreshInterval: time.Nanosecond, Index: s.index}, s.q, domains, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	fresh := httptest.NewServer(uncached)
	t.Cleanup(fresh.Close)
	fc := &client{t: t, base: fresh.URL, hc: fresh.Client()}
	report := []string{fmt.Sprintf("listing latency with %d jobs retained (2 cores shared with other builds):", tr.kvKeys)}
	for _, path := range []string{"/?range=1h", "/?range=7d"} {
		var ds []time.Duration
		for range 100 {
			t0 := time.Now()
			if a := fc.get(path); a.status != 200 {
				t.Fatalf("GET %s: %d", path, a.status)
			}
			ds = append(ds, time.Since(t0))
		}
		report = append(report, fmt.Sprintf("  GET %-50s p50 %7s  p99 %7s", path+" (overview computed)", percentile(ds, .5).Round(10*time.Microsecond), percentile(ds, .99).Round(10*time.Microsecond)))
	}
	for _, path := range []string{
		"/jobs?limit=50",
		"/jobs?limit=50&state=queued&domain=recruit",
		"/jobs?limit=50&q=batch_1999",
		"/jobs?limit=50&since=10m",
		"/jobs?limit=50&cursor=" + url.QueryEscape(page.NextCursor),
		"/jobs?limit=1000",
		"/queue",
		"/?range=1h", "/ui/jobs", "/ui/jobs?q=batch_1999", "/ui/queue",
	} {
		var ds []time.Duration
		for range 100 {
			t0 := time.Now()
			a := c.get(path)
			ds = append(ds, time.Since(t0))
			if a.status != 200 {
				t.Fatalf("GET %s: %d", path, a.status)
			}
		}
		label := path
		if i := strings.Index(label, "cursor="); i >= 0 {
			label = label[:i] + "cursor=… (5,000 jobs down)"
		}
		report = append(report, fmt.Sprintf("  GET %-50s p50 %7s  p99 %7s", label, percentile(ds, .5).Round(10*time.Microsecond), percentile(ds, .99).Round(10*time.Microsecond)))
	}
	t.Log(strings.Join(report, "\n"))
	if dir := os.Getenv("EMBEDSTREAM_SCALE_REPORT"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "scale-latency.txt"), []byte(strings.Join(report, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// syncOut collects a command's output.
type syncOut struct{ b strings.Builder }

func (s *syncOut) Write(p []byte) (int, error) { return s.b.Write(p) }
func (s *syncOut) String() string              { return s.b.String() }
