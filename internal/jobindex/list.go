package jobindex

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/btree"

	"github.com/embedstream/embedstream/internal/queue"
)

// Limits of a page.
const (
	// DefaultLimit is a page's size when the query gives none.
	DefaultLimit = 50
	// MaxLimit is the largest page.
	MaxLimit = 1000
	// MaxScan bounds the entries one page reads when it filters by text
	// (ID, File, Text): past it the page ends, short, with a cursor that
	// continues the search.
	MaxScan = 50_000
)

// maxScan is MaxScan; tests lower it.
var maxScan = MaxScan

// ErrBadCursor is returned for a cursor the index did not make.
var ErrBadCursor = errors.New("bad cursor")

// Query selects jobs for [Index.List]. Zero fields match everything.
type Query struct {
	State  string // one of the queue.State* constants
	Domain string
	// ID is a job id (that job alone, found at once) or the start of job
	// ids.
	ID string
	// File matches file names that contain it, ignoring case.
	File string
	// Text matches job ids or file names that contain it, ignoring case.
	Text string
	// Since and Until bound the enqueue time: Since <= enqueued < Until.
	Since, Until time.Time
	// Limit is the page size: 1 to [MaxLimit] ([DefaultLimit] when 0).
	Limit int
	// Cursor is the previous page's [Page.Next]: this page continues after
	// it. Empty: the first page.
	Cursor string
}

// Page is one page of [Index.List].
type Page struct {
	// Jobs are the matching jobs' records, newest first, without their
	// history (a job's own record has it).
	Jobs []queue.Status
	// Next continues the listing after this page; empty when there is
	// nothing after it.
	Next string
	// Scanned is how many entries the page read to find its jobs.
	Scanned int
	// Partial is true when the page stopped at [MaxScan] entries read: it
	// may hold fewer jobs than the limit, and Next continues the search.
	Partial bool
}

// cursor is a position in the listing order: after the entry sorting at
// at with job id id (and key key).
type cursor struct {
	at       time.Time
	id, key  string
	included bool // the position itself may be listed (a time bound, not an entry)
}

func encodeCursor(e *entry) string {
	s := strconv.FormatInt(e.at.UnixNano(), 10) + "\x00" + e.st.JobID + "\x00" + e.key
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("jobindex: %w: %w", ErrBadCursor, err)
	}
	parts := strings.Split(string(b), "\x00")
	if len(parts) != 3 {
		return cursor{}, fmt.Errorf("jobindex: %w", ErrBadCursor)
	}
	ns, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return cursor{}, fmt.Errorf("jobindex: %w: %w", ErrBadCursor, err)
	}
	return cursor{at: time.Unix(0, ns).UTC(), id: parts[1], key: parts[2]}, nil
}

// pivot is the entry the descending walk starts at (inclusive).
func (c cursor) pivot() *entry {
	return &entry{at: c.at, st: queue.Status{JobID: c.id}, key: c.key}
}

// List returns one page of the jobs q selects, newest first. It waits
// for the first load as long as ctx allows. Errors: [ErrBadCursor],
// [ErrNotReady].
func (ix *Index) List(ctx context.Context, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	q.Limit = min(q.Limit, MaxLimit)
	var start *cursor
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return Page{}, err
		}
		start = &c
	}
	if !q.Until.IsZero() && (start == nil || !start.at.Before(q.Until)) {
		// Before Until: its first instant with the smallest key sorts
		// first at Until; walking down from just under it.
		start = &cursor{at: q.Until.Add(-time.Nanosecond), id: "\U0010FFFF", key: "\U0010FFFF", included: true}
	}
	select {
	case <-ix.loaded:
	case <-ctx.Done():
		return Page{}, fmt.Errorf("jobindex: %w: %w", ErrNotReady, context.Cause(ctx))
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := ix.st

	// An exact job id is one lookup.
	if q.ID != "" && q.Cursor == "" {
		if e := s.entries[queue.StatusKey(q.ID)]; e != nil && e.st.JobID == q.ID {
			page := Page{Scanned: 1}
			if q.match(e) {
				page.Jobs = []queue.Status{e.st}
			}
			return page, nil
		}
	}
	return walk(s, q, start), nil
}

// tree returns the narrowest tree holding every entry q can match.
func (s *state) tree(q Query) *btree.BTreeG[*entry] {
	switch {
	case q.State != "" && q.Domain != "":
		return s.byDomainState[[2]string{q.Domain, q.State}]
	case q.State != "":
		return s.byState[q.State]
	case q.Domain != "":
		return s.byDomain[q.Domain]
	}
	return s.all
}

// textual reports whether q filters by text: its matches are found by
// reading entries, not by tree.
func (q Query) textual() bool { return q.ID != "" || q.File != "" || q.Text != "" }

func (q Query) match(e *entry) bool {
	st := e.st
	switch {
	case q.State != "" && st.State != q.State:
		return false
	case q.Domain != "" && st.Domain != q.Domain:
		return false
	case q.ID != "" && !strings.HasPrefix(st.JobID, q.ID):
		return false
	case q.File != "" && !containsFold(st.FileName, q.File):
		return false
	case q.Text != "" && !containsFold(st.JobID, q.Text) && !containsFold(st.FileName, q.Text):
		return false
	case !q.Since.IsZero() && e.at.Before(q.Since):
		return false
	case !q.Until.IsZero() && !e.at.Before(q.Until):
		return false
	}
	return true
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// walk reads q's tree newest first from start (exclusive, unless it is a
// time bound) and collects up to q.Limit matches; it reads one match past
// a full page to tell whether a next page exists. A textual query stops
// after [MaxScan] entries read.
func walk(s *state, q Query, start *cursor) Page {
	var page Page
	t := s.tree(q)
	if t == nil {
		return page
	}
	var last *entry // the last job listed
	visit := func(e *entry) bool {
		if start != nil && !start.included && e.key == start.key {
			return true // the previous page's last entry
		}
		if !q.Since.IsZero() && e.at.Before(q.Since) {
			return false // older than the range: done
		}
		if q.match(e) {
			if len(page.Jobs) == q.Limit {
				page.Next = encodeCursor(last) // a further match exists
				return false
			}
			page.Jobs = append(page.Jobs, e.st)
			last = e
		}
		page.Scanned++
		if q.textual() && page.Scanned >= maxScan {
			page.Partial = true
			page.Next = encodeCursor(e) // continue the search after e
			return false
		}
		return true
	}
	if start == nil {
		t.Descend(visit)
	} else {
		t.DescendLessOrEqual(start.pivot(), visit)
	}
	return page
}
