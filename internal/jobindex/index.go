package jobindex

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/btree"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/queue"
)

// Source is where an [Index] reads the job status records;
// *queue.Queue implements it.
type Source interface {
	// WatchStatusEvents streams the bucket's current records, a Synced
	// event, then every change, until ctx ends or the watch breaks.
	WatchStatusEvents(ctx context.Context) (<-chan queue.StatusEvent, error)
	// StatusBucket reads the bucket's state: its TTL and latest revision.
	StatusBucket(ctx context.Context) (queue.StatusBucketInfo, error)
}

// ErrNotReady is returned when the index has not finished reading the
// bucket's current records within the caller's deadline.
var ErrNotReady = errors.New("job index not loaded yet")

// Defaults of [Config].
const (
	// DefaultSyncWait bounds how long a request waits for the index to
	// catch up with JetStream ([Index.Sync]) before it is answered from
	// what the index holds.
	DefaultSyncWait = 2 * time.Second
	// DefaultSweepInterval is how often records past the bucket's TTL are
	// expired.
	DefaultSweepInterval = 30 * time.Second
)

// Config tunes an [Index]; zero fields take the defaults.
type Config struct {
	SyncWait      time.Duration // [DefaultSyncWait]
	SweepInterval time.Duration // [DefaultSweepInterval]
}

// entry is one job in the index: its record without its history (the
// history is the job page's, read from the bucket), where it sorts, and
// what it adds to the series.
type entry struct {
	key      string
	st       queue.Status
	at       time.Time // sort time: enqueued_at, else updated_at
	written  time.Time // when JetStream stored the record: it expires TTL later
	contribs []contrib
}

func sortTime(st queue.Status) time.Time {
	if st.EnqueuedAt.IsZero() {
		return st.UpdatedAt
	}
	return st.EnqueuedAt
}

// less orders entries by sort time, then job id, then key: ascending, so
// that descending iteration is newest first.
func less(a, b *entry) bool {
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(a.st.JobID, b.st.JobID); c != 0 {
		return c < 0
	}
	return a.key < b.key
}

// byWritten orders entries by when they were stored, for expiry.
func byWritten(a, b *entry) bool {
	if c := a.written.Compare(b.written); c != 0 {
		return c < 0
	}
	return a.key < b.key
}

const btreeDegree = 32

func newTree() *btree.BTreeG[*entry] { return btree.NewG(btreeDegree, less) }

// state is the index's content: replaced whole when the watch is rebuilt.
type state struct {
	entries       map[string]*entry
	all           *btree.BTreeG[*entry]
	byState       map[string]*btree.BTreeG[*entry]
	byDomain      map[string]*btree.BTreeG[*entry]
	byDomainState map[[2]string]*btree.BTreeG[*entry]
	expiry        *btree.BTreeG[*entry]
	counts        map[[2]string]int // (domain, state) -> jobs
	series        map[int64]*figures
	revision      uint64 // the latest revision applied
}

func newState() *state {
	return &state{
		entries:       map[string]*entry{},
		all:           newTree(),
		byState:       map[string]*btree.BTreeG[*entry]{},
		byDomain:      map[string]*btree.BTreeG[*entry]{},
		byDomainState: map[[2]string]*btree.BTreeG[*entry]{},
		expiry:        btree.NewG(btreeDegree, byWritten),
		counts:        map[[2]string]int{},
		series:        map[int64]*figures{},
	}
}

func treeOf[K comparable](m map[K]*btree.BTreeG[*entry], k K) *btree.BTreeG[*entry] {
	t := m[k]
	if t == nil {
		t = newTree()
		m[k] = t
	}
	return t
}

func (s *state) insert(e *entry) {
	s.entries[e.key] = e
	s.all.ReplaceOrInsert(e)
	treeOf(s.byState, e.st.State).ReplaceOrInsert(e)
	treeOf(s.byDomain, e.st.Domain).ReplaceOrInsert(e)
	treeOf(s.byDomainState, [2]string{e.st.Domain, e.st.State}).ReplaceOrInsert(e)
	s.expiry.ReplaceOrInsert(e)
	s.counts[[2]string{e.st.Domain, e.st.State}]++
	s.addSeries(e.contribs, 1)
}

func (s *state) remove(e *entry) {
	delete(s.entries, e.key)
	s.all.Delete(e)
	deleteFrom(s.byState, e.st.State, e)
	deleteFrom(s.byDomain, e.st.Domain, e)
	deleteFrom(s.byDomainState, [2]string{e.st.Domain, e.st.State}, e)
	s.expiry.Delete(e)
	k := [2]string{e.st.Domain, e.st.State}
	if s.counts[k]--; s.counts[k] <= 0 {
		delete(s.counts, k)
	}
	s.addSeries(e.contribs, -1)
}

func deleteFrom[K comparable](m map[K]*btree.BTreeG[*entry], k K, e *entry) {
	if t := m[k]; t != nil {
		t.Delete(e)
		if t.Len() == 0 {
			delete(m, k)
		}
	}
}

// apply applies one change of the bucket.
func (s *state) apply(ev queue.StatusEvent) {
	if old := s.entries[ev.Key]; old != nil {
		s.remove(old)
	}
	if ev.Revision > s.revision {
		s.revision = ev.Revision
	}
	if ev.Deleted {
		return
	}
	st := ev.Status
	contribs := contributions(st)
	st.History = nil
	s.insert(&entry{key: ev.Key, st: st, at: sortTime(st), written: ev.Written, contribs: contribs})
}

// expire removes the entries written before cutoff: the bucket's TTL has
// dropped them.
func (s *state) expire(cutoff time.Time) int {
	var old []*entry
	s.expiry.Ascend(func(e *entry) bool {
		if !e.written.Before(cutoff) {
			return false
		}
		old = append(old, e)
		return true
	})
	for _, e := range old {
		s.remove(e)
	}
	return len(old)
}

// Index is the in-memory index of the job status records. Build it with
// [New] and keep it current with [Index.Run], or take a one-shot copy
// with [Load]. It is safe for concurrent use.
type Index struct {
	src Source
	cfg Config
	log zerolog.Logger
	now func() time.Time

	mu      sync.RWMutex
	st      *state        // nil until the first load completed
	ttl     time.Duration // the bucket's
	changed chan struct{} // closed and replaced whenever revision grows
	loaded  chan struct{} // closed once st is set
}

// New returns an index over src. It reads nothing until [Index.Run].
func New(src Source, cfg Config, log zerolog.Logger) *Index {
	if cfg.SyncWait <= 0 {
		cfg.SyncWait = DefaultSyncWait
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	return &Index{
		src: src, cfg: cfg, log: log.With().Str("component", "jobindex").Logger(), now: time.Now,
		changed: make(chan struct{}), loaded: make(chan struct{}),
	}
}

// Run keeps the index current until ctx ends, then returns nil: it reads
// the bucket's records, then follows its changes and expires what the
// bucket's TTL drops. When the watch breaks (NATS lost), it rebuilds the
// index from a new watch, with backoff, and keeps answering from the old
// one meanwhile.
func (ix *Index) Run(ctx context.Context) error {
	delay := time.Second
	for {
		err := ix.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		ix.log.Warn().Err(err).Dur("retry_in", delay).Msg("job index: the status watch ended; rebuilding it")
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// follow loads the bucket into a fresh state, swaps it in, and applies the
// changes that follow until the watch ends.
func (ix *Index) follow(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, events, err := build(wctx, ix.src)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	ix.ttl = st.ttl
	if ix.st != nil && ix.st.revision > st.s.revision {
		st.s.revision = ix.st.revision
	}
	first := ix.st == nil
	ix.st = st.s
	ix.broadcastLocked()
	ix.mu.Unlock()
	if first {
		close(ix.loaded)
	}
	ix.log.Info().Int("jobs", len(st.s.entries)).Msg("job index loaded")
	sweep := time.NewTicker(ix.cfg.SweepInterval)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			ix.Expire()
		case ev, ok := <-events:
			if !ok {
				return errors.New("watch closed")
			}
			ix.mu.Lock()
			ix.st.apply(ev)
			// Apply what else is waiting under the same lock.
			for more := true; more; {
				select {
				case ev, ok := <-events:
					if !ok {
						ix.broadcastLocked()
						ix.mu.Unlock()
						return errors.New("watch closed")
					}
					ix.st.apply(ev)
				default:
					more = false
				}
			}
			ix.broadcastLocked()
			ix.mu.Unlock()
		}
	}
}

// built is a state read up to the watch's Synced event.
type built struct {
	s   *state
	ttl time.Duration
}

// build reads the bucket's current records into a fresh state and returns
// it with the watch, positioned after its Synced event.
func build(ctx context.Context, src Source) (built, <-chan queue.StatusEvent, error) {
	info, err := src.StatusBucket(ctx)
	if err != nil {
		return built{}, nil, fmt.Errorf("jobindex: %w", err)
	}
	events, err := src.WatchStatusEvents(ctx)
	if err != nil {
		return built{}, nil, fmt.Errorf("jobindex: %w", err)
	}
	s := newState()
	for {
		select {
		case <-ctx.Done():
			return built{}, nil, fmt.Errorf("jobindex: load: %w", context.Cause(ctx))
		case ev, ok := <-events:
			if !ok {
				return built{}, nil, errors.New("jobindex: load: the status watch ended")
			}
			if !ev.Synced {
				s.apply(ev)
				continue
			}
			// Everything stored before the watch began is in: the
			// bucket's revision read just before counts as applied, even
			// when its record expired since.
			s.revision = max(s.revision, info.LastRevision)
			if info.TTL > 0 {
				s.expire(time.Now().Add(-info.TTL))
			}
			return built{s: s, ttl: info.TTL}, events, nil
		}
	}
}

// Load reads the bucket once into an index that does not follow it: a
// one-shot copy, for a command that lists jobs and exits. It costs every
// retained record. Errors: the source's (queue.ErrUnavailable).
func Load(ctx context.Context, src Source) (*Index, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, _, err := build(wctx, src)
	if err != nil {
		return nil, err
	}
	ix := New(src, Config{}, zerolog.Nop())
	ix.st, ix.ttl = st.s, st.ttl
	close(ix.loaded)
	return ix, nil
}

func (ix *Index) broadcastLocked() {
	close(ix.changed)
	ix.changed = make(chan struct{})
}

// Expire drops the entries the bucket's TTL has dropped (Run calls it
// every SweepInterval) and returns how many.
func (ix *Index) Expire() int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.st == nil || ix.ttl <= 0 {
		return 0
	}
	return ix.st.expire(ix.now().Add(-ix.ttl))
}

// Ready reports whether the index has read the bucket's records.
func (ix *Index) Ready() bool {
	select {
	case <-ix.loaded:
		return true
	default:
		return false
	}
}

// Sync waits until the index holds every record JetStream stored before
// the call (it reads the bucket's latest revision: one JetStream API
// call), for at most the configured SyncWait; past it, or when the bucket
// cannot be read, it returns nil and the caller answers from what the
// index holds. It waits for the first load as long as ctx allows.
// Errors: [ErrNotReady] (ctx ended before the first load).
func (ix *Index) Sync(ctx context.Context) error {
	select {
	case <-ix.loaded:
	case <-ctx.Done():
		return fmt.Errorf("jobindex: %w: %w", ErrNotReady, context.Cause(ctx))
	}
	wctx, cancel := context.WithTimeout(ctx, ix.cfg.SyncWait)
	defer cancel()
	info, err := ix.src.StatusBucket(wctx)
	if err != nil {
		ix.log.Debug().Err(err).Msg("job index: cannot read the bucket's revision; answering from the index")
		return nil
	}
	for {
		ix.mu.RLock()
		rev, changed := ix.st.revision, ix.changed
		ix.mu.RUnlock()
		if rev >= info.LastRevision {
			return nil
		}
		select {
		case <-changed:
		case <-wctx.Done():
			ix.log.Debug().Uint64("index_revision", rev).Uint64("bucket_revision", info.LastRevision).
				Msg("job index: not caught up in time; answering from the index")
			return nil
		}
	}
}

// Get returns job id's record as the index holds it (without history).
func (ix *Index) Get(id string) (queue.Status, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.st == nil {
		return queue.Status{}, false
	}
	e := ix.st.entries[queue.StatusKey(id)]
	if e == nil {
		return queue.Status{}, false
	}
	return e.st, true
}
