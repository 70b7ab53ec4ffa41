package batchserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Entry is one commit as the ledger records it: one JSON object per line of
// <out>/ledger.jsonl.
type Entry struct {
	IngestID string `json:"ingest_id"`
	Domain   string `json:"domain"`
	FileName string `json:"file_name"`
	Records  uint64 `json:"records"`
	Chunks   uint64 `json:"chunks"`
	SHA256   string `json:"sha256"`
	Attempt  uint32 `json:"attempt,omitempty"`
	// ResumedFrom is the sequence the committing stream resumed from: the
	// chunks 0..ResumedFrom-1 were staged by earlier streams (0: a full
	// stream).
	ResumedFrom uint64    `json:"resumed_from,omitempty"`
	CommittedAt time.Time `json:"committed_at"`
	// Recovered marks an entry rebuilt at startup from a committed file that
	// had no ledger line (a crash between the rename and the ledger append);
	// its FileName, SHA256, Chunks and Attempt are unknown.
	Recovered bool `json:"recovered,omitempty"`
}

// errCorruptLedger is returned (wrapped) when a complete ledger line does
// not parse.
var errCorruptLedger = errors.New("corrupt ledger")

// ledger is the append-only commit log. It is not safe for concurrent use:
// the Server serialises access.
type ledger struct {
	f       *os.File
	size    int64 // bytes of complete lines: where the next append goes
	entries map[string]Entry
	// broken is set when a failed append could not be cut back: the file
	// may end in a torn line, so every later append is refused (the
	// server answers UNAVAILABLE) until a restart repairs it.
	broken error
}

// openLedger opens or creates the ledger at path and replays it. A torn last
// line (no trailing newline: a crash in the middle of an append) is cut off;
// any other line that does not parse is an error wrapping errCorruptLedger.
func openLedger(path string) (*ledger, int, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("open ledger: %w", err)
	}
	l := &ledger{f: f, entries: map[string]Entry{}}
	good, torn, err := l.replay(path)
	if err != nil {
		_ = f.Close() // the replay error is the one to report
		return nil, 0, err
	}
	if torn > 0 {
		if err := f.Truncate(good); err != nil {
			_ = f.Close()
			return nil, 0, fmt.Errorf("cut torn ledger tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return nil, 0, fmt.Errorf("sync ledger: %w", err)
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("seek ledger: %w", err)
	}
	l.size = good
	return l, torn, nil
}

// replay reads every complete line into l.entries and returns the offset
// just past the last complete line and the length of a torn tail.
func (l *ledger) replay(path string) (good int64, torn int, err error) {
	r := bufio.NewReaderSize(l.f, 64<<10)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return good, len(line), nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("read ledger: %w", err)
		}
		if b := bytes.TrimSpace(line); len(b) > 0 {
			var e Entry
			if err := json.Unmarshal(b, &e); err != nil || e.IngestID == "" {
				return 0, 0, fmt.Errorf("%w: %s line %d: %.120q", errCorruptLedger, path, n, b)
			}
			l.entries[e.IngestID] = e
		}
		good += int64(len(line))
	}
}

// append writes e as one line and syncs it to disk, then records it. If
// the write or sync fails, the ledger is cut back to its last complete line,
// so a later append never follows a torn one.
func (l *ledger) append(e Entry) error {
	if l.broken != nil {
		return fmt.Errorf("ledger unusable until restart: %w", l.broken)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode ledger entry: %w", err)
	}
	_, err = l.f.Write(append(b, '\n'))
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		if terr := l.f.Truncate(l.size); terr != nil {
			l.broken = terr
		} else if _, serr := l.f.Seek(l.size, io.SeekStart); serr != nil {
			l.broken = serr
		}
		return fmt.Errorf("append to ledger: %w", err)
	}
	l.size += int64(len(b) + 1)
	l.entries[e.IngestID] = e
	return nil
}

func (l *ledger) close() error {
	return l.f.Close()
}
