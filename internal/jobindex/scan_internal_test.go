package jobindex

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
)

// A text search reads at most maxScan entries per page: a page may come
// back short, marked partial, and its cursor carries the search on until
// every match is found, each once.
func TestTextSearchScanIsBounded(t *testing.T) {
	defer func(old int) { maxScan = old }(maxScan)
	maxScan = 10
	s := newState()
	base := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	var want []string
	for i := range 100 {
		id := fmt.Sprintf("j%03d", i)
		file := "other.pkl"
		if i%25 == 0 {
			file = "needle.pkl"
		}
		s.apply(queue.StatusEvent{Key: id, Revision: uint64(i + 1), Written: base,
			Status: queue.Status{JobID: id, State: queue.StateQueued, FileName: file, EnqueuedAt: base.Add(time.Duration(i) * time.Second)}})
		if file == "needle.pkl" {
			want = append([]string{id}, want...)
		}
	}
	q := Query{File: "needle", Limit: 3}
	var got []string
	pages, partial := 0, 0
	var start *cursor
	for {
		p := walk(s, q, start)
		pages++
		if p.Scanned > maxScan {
			t.Fatalf("page %d read %d entries, more than %d", pages, p.Scanned, maxScan)
		}
		if p.Partial {
			partial++
		}
		for _, j := range p.Jobs {
			got = append(got, j.JobID)
		}
		if p.Next == "" {
			break
		}
		c, err := decodeCursor(p.Next)
		if err != nil {
			t.Fatal(err)
		}
		start = &c
	}
	if !slices.Equal(got, want) || partial == 0 {
		t.Fatalf("found %v in %d pages (%d partial); want %v", got, pages, partial, want)
	}
}
