package picklegen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/embedstream/embedstream/internal/table"
)

// Recruit is one row of the recruit domain: the columns of generate.py's
// recruit_frame, in order. Byte slices and Skills and Embedding are reused
// by the [Source] that fills them: they are valid until its next Fill.
type Recruit struct {
	ID             []byte // "R0000001"
	Title          string
	Company        string
	Description    []byte
	Location       string
	NoLocation     bool // the location is None
	Skills         []string
	MinCareerYears int64
	CreatedAt      int64 // microseconds since the Unix epoch (a naive UTC datetime)
	Embedding      []float32
}

// Field is a set of Recruit fields, so that a Source fills only those a
// writer needs (a DataFrame is written column by column).
type Field uint16

// The fields of a Recruit.
const (
	FieldID Field = 1 << iota
	FieldTitle
	FieldCompany
	FieldDescription
	FieldLocation
	FieldSkills
	FieldMinCareerYears
	FieldCreatedAt
	FieldEmbedding

	AllFields = FieldEmbedding<<1 - 1
)

// Columns are the column (and record key) names, in order.
var Columns = [...]string{"recruit_id", "title", "company", "description", "location", "skills",
	"min_career_years", "created_at", "embedding"}

// Source gives the rows to write. Fill must be deterministic: a writer may
// ask for a row several times (once per column of a DataFrame).
type Source interface {
	// Rows is the number of rows.
	Rows() int
	// Dim is the length of every embedding.
	Dim() int
	// Fill sets the fields f of row i (0 <= i < Rows) in r.
	Fill(i int, f Field, r *Recruit)
}

// ErrShape is returned for a source with no rows or a zero dimension, and
// by [FromTable] for a table that is not a recruit table.
var ErrShape = errors.New("picklegen: unsupported shape")

// The pools of generate.py (COMPANIES, LOCATIONS, SKILLS, TITLES, SENT_KO,
// SENT_EN). A pickle shares a pool string between rows as Python shares the
// str object of a list literal; strings equal to a pool string are taken to
// be that object.
var (
	companies = []string{"네이버", "카카오", "라인플러스", "쿠팡", "토스", "당근마켓", "배달의민족", "Samsung SDS", "LG CNS",
		"Krafton", "Nexon", "NCSOFT", "Hyperconnect", "Riiid", "Upstage"}
	locations = []string{"서울 강남구", "서울 서초구", "서울 마포구", "경기 성남시 분당구", "부산 해운대구", "대전 유성구", "Remote",
		"Seoul", "Pangyo", "제주"}
	skills = []string{"Python", "Go", "Java", "Kotlin", "TypeScript", "React", "Kubernetes", "Docker", "AWS", "GCP", "PostgreSQL",
		"MySQL", "Redis", "Kafka", "NATS", "gRPC", "PyTorch", "TensorFlow", "Spark", "Airflow", "Terraform", "Linux",
		"머신러닝", "데이터 분석", "자연어처리", "추천 시스템", "검색", "MLOps"}
	titles = []string{"백엔드 개발자", "시니어 백엔드 엔지니어", "데이터 엔지니어", "머신러닝 엔지니어", "ML 리서처", "프론트엔드 개발자",
		"DevOps 엔지니어", "SRE", "플랫폼 엔지니어", "Backend Engineer (Go)", "Data Scientist", "Search Engineer",
		"MLOps Engineer", "Android Developer", "iOS 개발자"}
	sentKO = []string{"대규모 트래픽을 처리하는 서비스를 설계하고 운영합니다.", "데이터 파이프라인을 구축하고 품질을 관리합니다.",
		"추천 및 검색 모델을 개발하여 사용자 경험을 개선합니다.", "클라우드 인프라를 코드로 관리하고 자동화합니다.",
		"팀과 함께 코드 리뷰와 기술 문서를 통해 성장합니다.", "장애 대응 및 모니터링 체계를 개선합니다.",
		"신규 기능의 요구사항을 분석하고 API를 설계합니다.", "임베딩 기반 유사도 검색 시스템을 운영합니다."}
	sentEN = []string{"You will design and operate services handling large-scale traffic.",
		"Build reliable data pipelines and own their quality.",
		"Develop ranking and retrieval models that improve matching.",
		"Automate cloud infrastructure with infrastructure as code.",
		"Collaborate through code review and clear design documents.",
		"Improve observability, on-call and incident response.",
		"Experience with Go, gRPC and message queues is a plus."}
)

// The sentences' lengths in code points, as Python's len counts.
var sentKORunes, sentENRunes = runeCounts(sentKO), runeCounts(sentEN)

func runeCounts(ss []string) []int {
	n := make([]int, len(ss))
	for i, s := range ss {
		n[i] = utf8.RuneCountInString(s)
	}
	return n
}

// poolIndex numbers every pool string (they are all distinct).
var poolIndex = func() map[string]int {
	m := map[string]int{}
	for _, pool := range [][]string{titles, companies, locations, skills} {
		for _, s := range pool {
			if _, dup := m[s]; !dup {
				m[s] = len(m)
			}
		}
	}
	return m
}()

// skillOrder is the skills pool's indexes in Python's str order (code
// points, which is UTF-8 byte order): a row's skills are sorted(set(...)).
var skillOrder = func() []int {
	o := make([]int, len(skills))
	for i := range o {
		o[i] = i
	}
	sort.Slice(o, func(a, b int) bool { return skills[o[a]] < skills[o[b]] })
	return o
}()

// Value ranges of generate.py's recruit_frame.
const (
	descMin      = 200 // description length in code points: sentences until >= descMin, cut at descMax
	descMax      = 400
	koShare      = 0.6                     // a sentence is Korean with this probability
	noLocation   = 0.03                    // a location is None with this probability
	maxSkills    = 6                       // 1..maxSkills draws from the skills pool, deduplicated and sorted
	careerYears  = 11                      // min_career_years in 0..careerYears-1
	createdFrom  = 1704067200 * 1_000_000  // 2024-01-01T00:00:00Z, µs
	createdRange = 600 * 86400 * 1_000_000 // created_at spans 600 days, ascending
)

// Spec describes a generated recruit dataset: Rows rows with Dim-dimensional
// unit float32 embeddings, drawn from Seed. The same Spec always gives the
// same rows (with the same Go toolchain: the draws use math/rand/v2).
type Spec struct {
	Rows int
	Dim  int
	Seed uint64
}

// Source returns a generator of the rows. Each row and field is drawn from
// its own random stream, so any row can be made alone, in any order, in
// constant memory. The generator is not safe for concurrent use: take one
// per goroutine.
func (s Spec) Source() Source {
	g := &generator{spec: s}
	g.rng = rand.New(&g.pcg)
	if s.Rows > 0 {
		g.step = createdRange / int64(s.Rows)
	}
	return g
}

type generator struct {
	spec Spec
	pcg  rand.PCG
	rng  *rand.Rand
	step int64 // created_at µs per row
}

func (g *generator) Rows() int { return g.spec.Rows }
func (g *generator) Dim() int  { return g.spec.Dim }

// splitmix64's finalizer: independent-looking seeds from counters.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// stream points the generator at the random stream of (row, field).
func (g *generator) stream(i int, f Field) {
	a := mix(g.spec.Seed ^ mix(uint64(f)))
	g.pcg.Seed(a, mix(a^uint64(i)))
}

func (g *generator) Fill(i int, f Field, r *Recruit) {
	if f&FieldID != 0 {
		r.ID = appendID(r.ID[:0], i+1)
	}
	if f&FieldTitle != 0 {
		g.stream(i, FieldTitle)
		r.Title = titles[g.rng.IntN(len(titles))]
	}
	if f&FieldCompany != 0 {
		g.stream(i, FieldCompany)
		r.Company = companies[g.rng.IntN(len(companies))]
	}
	if f&FieldDescription != 0 {
		g.stream(i, FieldDescription)
		r.Description = g.description(r.Description[:0])
	}
	if f&FieldLocation != 0 {
		g.stream(i, FieldLocation)
		r.NoLocation = g.rng.Float64() < noLocation
		r.Location = ""
		if !r.NoLocation {
			r.Location = locations[g.rng.IntN(len(locations))]
		}
	}
	if f&FieldSkills != 0 {
		g.stream(i, FieldSkills)
		var set uint32
		for k := 1 + g.rng.IntN(maxSkills); k > 0; k-- {
			set |= 1 << g.rng.IntN(len(skills))
		}
		r.Skills = r.Skills[:0]
		for _, j := range skillOrder {
			if set&(1<<j) != 0 {
				r.Skills = append(r.Skills, skills[j])
			}
		}
	}
	if f&FieldMinCareerYears != 0 {
		g.stream(i, FieldMinCareerYears)
		r.MinCareerYears = int64(g.rng.IntN(careerYears))
	}
	if f&FieldCreatedAt != 0 {
		g.stream(i, FieldCreatedAt)
		r.CreatedAt = createdFrom + int64(i)*g.step + g.rng.Int64N(max(g.step, 1))
	}
	if f&FieldEmbedding != 0 {
		g.stream(i, FieldEmbedding)
		r.Embedding = g.unitVector(r.Embedding[:0])
	}
}

// appendID appends "R%07d" of n.
func appendID(b []byte, n int) []byte {
	b = append(b, 'R')
	var d [20]byte
	s := strconv.AppendInt(d[:0], int64(n), 10)
	for k := len(s); k < 7; k++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// description is generate.py's text(rng, 200, 400): sentences joined by
// spaces until it is at least descMin code points long, cut at descMax.
func (g *generator) description(b []byte) []byte {
	runes := 0
	for runes < descMin {
		pool, lens := sentEN, sentENRunes
		if g.rng.Float64() < koShare {
			pool, lens = sentKO, sentKORunes
		}
		k := g.rng.IntN(len(pool))
		if len(b) > 0 {
			b = append(b, ' ')
			runes++
		}
		b = append(b, pool[k]...)
		runes += lens[k]
	}
	if runes > descMax {
		n, cut := 0, 0
		for cut = range string(b) {
			if n == descMax {
				break
			}
			n++
		}
		b = b[:cut]
	}
	return b
}

// normals is the standard normal distribution quantized to 2^16 values
// of equal probability (the quantiles of (k+½)/2^16): one 16-bit draw
// makes one normal, four come from one 64-bit draw, several times faster
// than math/rand's ziggurat. The vectors only need to be unit float32s
// that look like generate.py's.
var normals = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for k := range t {
		t[k] = float32(math.Sqrt2 * math.Erfinv(2*(float64(k)+0.5)/(1<<16)-1))
	}
	return &t
})

// unitVector draws Dim normal float32s and divides them by their norm, as
// generate.py's unit_vectors does.
func (g *generator) unitVector(v []float32) []float32 {
	t := normals()
	var sum float64
	var bits uint64
	for j := range g.spec.Dim {
		if j%4 == 0 {
			bits = g.pcg.Uint64()
		}
		x := t[uint16(bits)]
		bits >>= 16
		v = append(v, x)
		sum += float64(x) * float64(x)
	}
	norm := float32(math.Sqrt(sum))
	for j := range v {
		v[j] /= norm
	}
	return v
}

// FromTable returns a Source of the rows of t, which must have the recruit
// columns (as pickleload gives them for a generate.py recruit frame or
// records file). Pool strings stay shared when written, other strings are
// one object per row, as in a pickle pandas writes for such a frame. It
// returns an error wrapping [ErrShape] when a column is missing or of
// another type.
func FromTable(t *table.Table) (Source, error) {
	want := [...]table.Type{table.TypeString, table.TypeString, table.TypeString, table.TypeString, table.TypeString,
		table.TypeStringList, table.TypeInt64, table.TypeTimestamp, table.TypeFloatVector}
	s := &tableSource{t: t}
	for k, name := range Columns {
		c := t.Column(name)
		if c == nil {
			return nil, fmt.Errorf("%w: no column %q", ErrShape, name)
		}
		if c.Type != want[k] {
			return nil, fmt.Errorf("%w: column %q is %s, want %s", ErrShape, name, c.Type, want[k])
		}
		if len(c.Nulls) > 0 && name != "location" {
			return nil, fmt.Errorf("%w: column %q has nulls", ErrShape, name)
		}
		s.cols[k] = c
	}
	s.dim = s.cols[8].VectorDim
	return s, nil
}

type tableSource struct {
	t    *table.Table
	cols [len(Columns)]*table.Column
	dim  int
}

func (s *tableSource) Rows() int { return s.t.NumRows }
func (s *tableSource) Dim() int  { return s.dim }

func (s *tableSource) Fill(i int, f Field, r *Recruit) {
	c := s.cols
	if f&FieldID != 0 {
		r.ID = append(r.ID[:0], c[0].Strings[i]...)
	}
	if f&FieldTitle != 0 {
		r.Title = c[1].Strings[i]
	}
	if f&FieldCompany != 0 {
		r.Company = c[2].Strings[i]
	}
	if f&FieldDescription != 0 {
		r.Description = append(r.Description[:0], c[3].Strings[i]...)
	}
	if f&FieldLocation != 0 {
		r.NoLocation = c[4].IsNull(i)
		r.Location = c[4].Strings[i]
	}
	if f&FieldSkills != 0 {
		r.Skills = append(r.Skills[:0], c[5].StringLists[i]...)
	}
	if f&FieldMinCareerYears != 0 {
		r.MinCareerYears = c[6].Int64s[i]
	}
	if f&FieldCreatedAt != 0 {
		r.CreatedAt = c[7].Int64s[i]
	}
	if f&FieldEmbedding != 0 {
		r.Embedding = c[8].AppendVector(r.Embedding[:0], i)
	}
}
