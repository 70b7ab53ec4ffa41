package ingest

// Regression tests for the file buffers of a Processor: a job's table
// aliases its file, read by the dataset stage (p.data) into a buffer that
// its pool recycles and unmaps when it frees it (without a memory budget,
// as here; with one, the file is mapped and unmapped on the dataset's last
// release), so nothing that outlives Processor.Run may alias it. A
// dangling alias shows as a SIGSEGV once the buffer is unmapped (or, on a
// goroutine guarded against faults, as a fault turned into an error:
// dataset.FaultCount counts those), or as another job's bytes once it is
// reused. The race detector cannot see either (it
// ignores memory outside the Go heap), so these tests check contents:
// error texts and fields read after the files were unmapped and others
// mapped, and the data the batch server committed.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/sink"
)

// reuseTimeout bounds every job of these tests; reaching it fails the test.
const reuseTimeout = 60 * time.Second

// quickDomain is a domain whose validation of any generated file is done at
// once (it knows only the id field), for tests that need the verdict in
// early. (A verdict the schema decides, such as a missing field, would fail
// the job before it streams.)
const quickDomain = "quick"

// pkl is a tiny protocol-4 pickle assembler for the files below.
type pkl struct{ b []byte }

func newPkl() *pkl { return &pkl{b: []byte{0x80, 4}} }

func (p *pkl) op(codes ...byte) *pkl { p.b = append(p.b, codes...); return p }

func (p *pkl) str(s string) *pkl { // BINUNICODE
	p.b = append(p.b, 'X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
	return p
}

func (p *pkl) int(n int) *pkl { // BININT
	p.b = append(p.b, 'J')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(int32(n)))
	return p
}

// bigInt writes 2^64+n with LONG1: outside the int64 range.
func (p *pkl) bigInt(n byte) *pkl {
	return p.op(0x8a, 9, n, 0, 0, 0, 0, 0, 0, 0, 1)
}

func (p *pkl) global(module, name string) *pkl {
	p.b = append(p.b, 'c')
	p.b = append(p.b, module+"\n"+name+"\n"...)
	return p
}

// strList writes a list of strs, APPENDS in batches of 1000 as CPython does.
func (p *pkl) strList(vals []string) *pkl {
	p.op(']')
	for i, v := range vals {
		if i%1000 == 0 {
			p.op('(')
		}
		p.str(v)
		if i%1000 == 999 || i == len(vals)-1 {
			p.op('e')
		}
	}
	return p
}

// matrix writes numpy.core.numeric._frombuffer(data, dtype('f4'), (rows,
// dim), 'C'): a C-ordered little-endian float32 matrix, which the loader
// keeps as RawVectors rows slicing the file. With objects, the dtype also
// gets its BUILD state, which sends the whole file down gopickle's path
// instead of the loader's fast path.
func (p *pkl) matrix(data []byte, rows, dim int, objects bool) *pkl {
	p.global("numpy.core.numeric", "_frombuffer").op('(')
	p.op('B')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(data)))
	p.b = append(p.b, data...)
	p.global("numpy", "dtype").op('(').str("f4").op(0x89, 0x88, 't', 'R')
	if objects {
		p.op('(').int(3).str("<").op('N', 'N', 'N').int(-1).int(-1).int(0).op('t', 'b')
	}
	p.op('(').int(rows).int(dim).op('t')
	return p.str("C").op('t', 'R')
}

// jobKind is what a generated file holds and how its job ends.
type jobKind int

const (
	kindGoodFast    jobKind = iota // valid, decoded by the loader's fast path
	kindGoodObjects                // valid, decoded by gopickle (BUILD seen)
	kindNaNVector                  // load fails: a vector mixing NaN and numbers
	kindBigInt                     // load fails: an integer outside int64
	kindUnequal                    // load fails: columns of different lengths
	kindDuplicateID                // validation fails: a recruit_id repeats
	numKinds

	// kindSlowInvalid fails validation slowly: its title column holds strings
	// but an int in its last row, so it is typed JSON and the domain decodes
	// every row's JSON before it finds the int. Not in the mix of
	// TestProcessorResultsOutliveReusedBuffers.
	kindSlowInvalid = numKinds + 1
)

// Shape of every generated file: rows records of a recruit-like table,
// large enough (over 1 MiB) to be a pooled, mapped buffer.
const (
	genRows  = 1400
	genDim   = 64
	badRow   = 777 // the row each failing file breaks
	firstRow = 123 // the row a duplicate id repeats
)

// genJob is one generated file and what its job must end with.
type genJob struct {
	k       int
	kind    jobKind
	name    string // file name, and the job id unless id is set
	data    []byte // the file's bytes
	rows    int    // records in the file
	column  string // pickleload failures: the column the error names
	row     int    // failures: the row the error names
	dupID   string // kindDuplicateID: the repeated id
	wantMsg string // kindDuplicateID: the FieldError's Msg

	// Job settings; zero values take the defaults.
	id           string // the job id instead of name
	domain       string // the job's domain instead of recruit
	chunkRecords int
	chunkBytes   int64
}

// idOf is row r's recruit_id in file k: long enough (over 64 bytes) to be
// a slice of the file on every decode path, and different in every file.
func idOf(k, r int) string {
	return fmt.Sprintf("R-%03d-%05d-", k, r) + strings.Repeat(string(rune('a'+k%26)), 60)
}

// genFile builds file k of the given kind, of genRows rows.
func genFile(k int, kind jobKind) genJob { return genFileOf(k, kind, genRows, 480) }

// genFileOf builds file k of the given kind, of rows rows with titles of
// about titleLen bytes.
func genFileOf(k int, kind jobKind, rows, titleLen int) genJob {
	j := genJob{k: k, kind: kind, name: fmt.Sprintf("bufreuse-%03d", k), rows: rows, row: -1}
	letter := string(rune('A' + k%26))
	ids := make([]string, rows)
	titles := make([]string, rows)
	for r := range rows {
		ids[r] = idOf(k, r)
		titles[r] = fmt.Sprintf("title %d of file %d ", r, k) + strings.Repeat(letter, titleLen)
	}
	if kind == kindDuplicateID {
		ids[badRow] = ids[firstRow]
		j.row, j.dupID = badRow, ids[firstRow]
		j.wantMsg = fmt.Sprintf("duplicate value %q (first at row %d)", j.dupID, firstRow)
	}
	vec := make([]byte, 0, 4*rows*genDim)
	for r := range rows {
		for d := range genDim {
			f := float32(k) + float32(r)/1000 + float32(d)/1e6
			if kind == kindNaNVector && r == badRow && d == 1 {
				f = float32(math.NaN())
			}
			vec = binary.LittleEndian.AppendUint32(vec, math.Float32bits(f))
		}
	}
	// A column name long enough to be a slice of the file whatever the
	// decode path, and unique to this file.
	longName := func(prefix string) string {
		return fmt.Sprintf("%s_%03d_", prefix, k) + strings.Repeat(letter, 70)
	}

	p := newPkl()
	p.op('}', '(')
	p.str("recruit_id").strList(ids)
	if kind == kindSlowInvalid {
		p.str("title").strList(titles[:rows-1])
		p.b = p.b[:len(p.b)-1] // reopen the last batch of APPENDS
		p.int(rows).op('e')
	} else {
		p.str("title").strList(titles)
	}
	vecName := "embedding"
	if kind == kindNaNVector {
		vecName = longName("vectors")
		j.column, j.row = vecName, badRow
	}
	p.str(vecName).matrix(vec, rows, genDim, kind == kindGoodObjects)
	switch kind {
	case kindBigInt:
		j.column, j.row = longName("counts"), badRow
		p.str(j.column).op(']', '(')
		for r := range rows {
			if r == badRow {
				p.bigInt(byte(k))
			} else {
				p.int(r)
			}
		}
		p.op('e')
	case kindUnequal:
		j.column = longName("short")
		p.str(j.column).strList(ids[:rows-1])
	}
	j.data = p.op('u', '.').b
	return j
}

// reuseEnv is a Processor wired to a real batch server on loopback.
type reuseEnv struct {
	t       *testing.T
	dir     string
	srv     *batchservertest.Server
	client  *batchclient.Client
	domains *domain.Registry
}

func newReuseEnv(t *testing.T) *reuseEnv {
	t.Helper()
	e := &reuseEnv{t: t, dir: t.TempDir()}
	e.srv = batchservertest.Start(t, batchserver.Config{}, zerolog.Nop())
	c, err := batchclient.New(t.Context(), batchclient.Config{Addr: e.srv.Addr}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e.client = c
	// quick checks one column of every file: its verdict is in at once.
	quick, err := domain.New(domain.Spec{Name: quickDomain, IDField: "recruit_id"})
	if err != nil {
		t.Fatal(err)
	}
	if e.domains, err = domain.NewRegistryOf(append(domain.Builtin(), quick)...); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *reuseEnv) processor(streamer Streamer) *Processor {
	return NewProcessor(ProcessorConfig{DataDir: e.dir, ChunkRecords: 150}, e.domains, nil, streamer)
}

func (e *reuseEnv) write(j genJob) {
	e.t.Helper()
	if len(j.data) < 1<<20 {
		e.t.Fatalf("%s: %d bytes, want at least 1 MiB (a pooled, mapped buffer)", j.name, len(j.data))
	}
	if err := os.WriteFile(filepath.Join(e.dir, j.name), j.data, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func jobOf(j genJob) queue.Job {
	d := j.domain
	if d == "" {
		d = "recruit"
	}
	id := j.id
	if id == "" {
		id = j.name
	}
	return queue.Job{ID: id, Domain: d, FileName: j.name, Options: queue.JobOptions{ChunkRecords: j.chunkRecords, ChunkBytes: j.chunkBytes}}
}

// runJob runs j's job on p, bounded by reuseTimeout.
func runJob(ctx context.Context, p *Processor, j genJob, obs Observer) (Report, error) {
	ctx, cancel := context.WithTimeout(ctx, reuseTimeout)
	defer cancel()
	return p.Run(ctx, jobOf(j), 1, obs)
}

// checkOutcome checks a job's error against what its file must fail with
// (nil for a good file). It reads every field and the text of the error, so
// an error aliasing a reused buffer reads other bytes, and one aliasing an
// unmapped buffer faults: reported as an error, not a crash.
func checkOutcome(j genJob, err error) (failure error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			failure = fmt.Errorf("%s: reading the error faulted (it aliases an unmapped buffer): %v", j.name, v)
		}
	}()
	switch j.kind {
	case kindGoodFast, kindGoodObjects:
		if err != nil {
			return fmt.Errorf("%s: %w", j.name, err)
		}
		return nil
	case kindDuplicateID:
		var fe *domain.FieldError
		if !errors.As(err, &fe) {
			return fmt.Errorf("%s: err = %v, want a *domain.FieldError", j.name, err)
		}
		if fe.Domain != "recruit" || fe.Field != "recruit_id" || fe.Row != j.row || fe.Msg != j.wantMsg {
			return fmt.Errorf("%s: FieldError %+v, want recruit_id row %d %q", j.name, *fe, j.row, j.wantMsg)
		}
		if c := Classify(err); c.Class != ClassValidation || !c.Permanent || !strings.Contains(c.Message, j.wantMsg) {
			return fmt.Errorf("%s: classified %+v", j.name, c)
		}
		return nil
	}
	var pe *pickleload.Error
	if !errors.As(err, &pe) || !errors.Is(err, pickleload.ErrInvalid) {
		return fmt.Errorf("%s: err = %v, want a *pickleload.Error", j.name, err)
	}
	if pe.Column != j.column || pe.Row != j.row {
		return fmt.Errorf("%s: error names column %q row %d, want %q row %d", j.name, pe.Column, pe.Row, j.column, j.row)
	}
	want := fmt.Sprintf("column %q", j.column)
	if !strings.Contains(err.Error(), want) {
		return fmt.Errorf("%s: error text %q does not name %s", j.name, err.Error(), want)
	}
	if c := Classify(err); c.Class != ClassBadPickle || !c.Permanent || !strings.Contains(c.Message, want) {
		return fmt.Errorf("%s: classified %+v", j.name, c)
	}
	return nil
}

// checkCommitted checks a good job's report and that the batch server
// committed exactly the file's table (decoded again here, into Go memory).
func (e *reuseEnv) checkCommitted(j genJob, rep Report) error {
	sum := sha256.Sum256(j.data)
	if rep.Records != j.rows || rep.FileBytes != int64(len(j.data)) || rep.SHA256 != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("%s: report %d records, %d bytes, sha256 %s", j.name, rep.Records, rep.FileBytes, rep.SHA256)
	}
	if rep.Result.RecordsReceived != uint64(j.rows) || rep.Result.Duplicate {
		return fmt.Errorf("%s: result %+v", j.name, rep.Result)
	}
	t, err := pickleload.Load(bytes.Clone(j.data), pickleload.Options{})
	if err != nil {
		return fmt.Errorf("%s: load again: %w", j.name, err)
	}
	var want bytes.Buffer
	if err := canonical.WriteTable(&want, t); err != nil {
		return err
	}
	got, err := os.ReadFile(e.srv.OutputPath("recruit", j.name))
	if err != nil {
		return err
	}
	if err := canonical.Compare(bytes.NewReader(got), &want); err != nil {
		return fmt.Errorf("%s: committed data differs from the file: %w", j.name, err)
	}
	return nil
}

// TestGeneratedFilesDecodeAsIntended checks the generator: the good files
// hold RawVectors slicing the input, on both decode paths, so the tests
// below exercise tables aliasing their buffer.
func TestGeneratedFilesDecodeAsIntended(t *testing.T) {
	t.Parallel()
	for _, kind := range []jobKind{kindGoodFast, kindGoodObjects} {
		j := genFile(int(kind), kind)
		tb, err := pickleload.Load(j.data, pickleload.Options{})
		if err != nil {
			t.Fatalf("kind %d: %v", kind, err)
		}
		c := tb.Column("embedding")
		if tb.NumRows != genRows || c == nil || c.RawVectors == nil || c.VectorDim != genDim {
			t.Fatalf("kind %d: %d rows, want %d and an embedding column in the RawVectors layout, dimension %d", kind, tb.NumRows, genRows, genDim)
		}
		if !within(j.data, c.RawVectors[genRows-1]) || !within(j.data, []byte(tb.Column("recruit_id").Strings[0])) {
			t.Fatalf("kind %d: vectors or ids are copies, not slices of the file", kind)
		}
	}
}

// within reports whether b lies inside buf's memory.
func within(buf, b []byte) bool {
	if len(b) == 0 {
		return false
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(buf))
}

// TestProcessorResultsOutliveReusedBuffers runs jobs concurrently through
// one Processor, good files and files failing to load or to validate with
// errors naming columns and values that sit in the file, while the pool
// recycles and unmaps their buffers. Every error is checked right after its
// job and again at the end, once other jobs have overwritten and the pool
// has unmapped every buffer; every good file's committed data must equal
// the file's table.
func TestProcessorResultsOutliveReusedBuffers(t *testing.T) {
	t.Parallel()
	e := newReuseEnv(t)
	p := e.processor(e.client)
	const jobs = 2 * int(numKinds)
	all := make([]genJob, jobs)
	for k := range jobs {
		all[k] = genFile(k, jobKind(k%int(numKinds)))
		e.write(all[k])
	}

	errs := make([]error, jobs)
	reps := make([]Report, jobs)
	var (
		mu       sync.Mutex
		failures []error
	)
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for k := range next {
				reps[k], errs[k] = runJob(t.Context(), p, all[k], nil)
				if err := checkOutcome(all[k], errs[k]); err != nil {
					fail(err)
				}
			}
		})
	}
	for k := range jobs {
		next <- k
	}
	close(next)
	wg.Wait()
	for _, err := range failures {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Reuse the buffers once more for other data, then unmap them all.
	for _, j := range all[:2] {
		_, err := runJob(t.Context(), p, j, nil)
		if err := checkOutcome(j, err); err != nil {
			t.Fatalf("rerun: %v", err)
		}
	}
	pooled := p.data.PooledBuffers()
	if pooled == 0 {
		t.Fatal("no buffer was pooled: the test does not exercise reuse")
	}
	released(t, p)
	runtime.GC()

	for k, j := range all {
		if err := checkOutcome(j, errs[k]); err != nil {
			t.Errorf("after the buffers were reused and unmapped: %v", err)
		}
		if errs[k] == nil {
			if err := e.checkCommitted(j, reps[k]); err != nil {
				t.Error(err)
			}
		}
	}
}

// released unmaps the buffers p's pool keeps, and checks that p holds no
// dataset any more (each went back, or was unmapped, on its last release)
// and that no goroutine of this process read a file after it was unmapped
// (a guarded reader turns that fault into an error that could go unseen).
func released(t *testing.T, p *Processor) {
	t.Helper()
	p.data.FreeBuffers()
	if n := p.data.Held(); n != 0 {
		t.Fatalf("%d datasets still held after their jobs returned", n)
	}
	if n := dataset.FaultCount(); n != 0 {
		t.Fatalf("%d faults reading mapped files: a reader outlived its dataset", n)
	}
}

// panicObserver panics in Sent, after the first chunk went out.
type panicObserver struct{}

func (panicObserver) Loaded(int, int64)           {}
func (panicObserver) Resumed(uint64, uint64)      {}
func (panicObserver) Sent(uint64, uint64, uint64) { panic("observer panics mid-stream") }
func (panicObserver) BeforeCommit() error         { return nil }

// TestProcessorPanicMidStreamJoinsReaders: a panic unwinding Run while the
// stream's producer and the validation still read the table must not hand
// the buffer back before they have stopped. The buffer is unmapped right
// after each panic; a reader still running would fault (a fault turned
// into an error on a guarded goroutine, which released checks for, or a
// crash of the test binary on another). Two jobs: one whose
// validation outlasts the first chunk by far (the verdict must be waited
// for), one with large chunks whose verdict is in at once (the producer,
// encoding the next chunk, must be joined). Then a job runs clean to its
// commit.
func TestProcessorPanicMidStreamJoinsReaders(t *testing.T) {
	t.Parallel()
	e := newReuseEnv(t)
	p := e.processor(e.client)
	slow := genFileOf(900, kindSlowInvalid, 20_000, 8)
	good := genFileOf(901, kindGoodFast, 20_000, 8)
	quick := good
	quick.chunkRecords, quick.chunkBytes, quick.domain = 10_000, 4<<20, quickDomain
	for _, j := range []genJob{slow, quick} {
		e.write(j)
		for try := range 6 {
			// a new id each time: the server may still be closing the
			// previous, cancelled stream
			j.id = fmt.Sprintf("%s-try%d", j.name, try)
			var err error
			func() {
				defer func() {
					if v := recover(); v == nil {
						t.Fatalf("%s: Run did not panic; err = %v", j.id, err)
					}
				}()
				_, err = runJob(t.Context(), p, j, panicObserver{})
			}()
			released(t, p)
			if _, ok := e.srv.Committed(j.id); ok {
				t.Fatalf("%s: a stream cut by a panic was committed", j.id)
			}
		}
	}

	_, err := runJob(t.Context(), p, slow, nil)
	released(t, p)
	var fe *domain.FieldError
	if !errors.As(err, &fe) || fe.Field != "title" || fe.Row != slow.rows-1 {
		t.Fatalf("%s, clean run: err = %v, want a FieldError for title at row %d", slow.name, err, slow.rows-1)
	}
	rep, err := runJob(t.Context(), p, good, nil)
	released(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.srv.Committed(good.name); !ok || rep.Result.RecordsReceived != uint64(good.rows) {
		t.Fatalf("%s, clean run: committed %v, result %+v", good.name, ok, rep.Result)
	}
}

// TestProcessorStreamFailureWaitsForValidation: when the stream fails at
// once (nothing listens at the batch server's address) Run must still wait
// for the validation reading the table before the buffer goes back; the
// validation's error wins, and survives the buffer being unmapped.
func TestProcessorStreamFailureWaitsForValidation(t *testing.T) {
	t.Parallel()
	e := newReuseEnv(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := lis.Addr().String()
	lis.Close()
	dead, err := batchclient.New(t.Context(), batchclient.Config{Addr: deadAddr, ReadyTimeout: time.Second}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	p := e.processor(dead)

	bad := genFile(901, kindDuplicateID)
	good := genFile(902, kindGoodObjects)
	e.write(bad)
	e.write(good)
	badErr := func() error {
		_, err := runJob(t.Context(), p, bad, nil)
		return err
	}()
	released(t, p)
	if err := checkOutcome(bad, badErr); err != nil {
		t.Fatal(err)
	}
	_, err = runJob(t.Context(), p, good, nil)
	if !errors.Is(err, sink.ErrUnavailable) {
		t.Fatalf("good file, no server: err = %v, want sink.ErrUnavailable", err)
	}
	released(t, p)
	if err := checkOutcome(bad, badErr); err != nil {
		t.Fatalf("after the buffers were reused and unmapped: %v", err)
	}
}
