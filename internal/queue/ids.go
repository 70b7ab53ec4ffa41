package queue

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/embedstream/embedstream/internal/wire"
)

// NewJobID returns a fresh job id: 32 lowercase hex digits, the first 12
// the creation time in Unix milliseconds, so ids sort by creation time (the
// layout of a UUIDv7 without dashes and version bits). It is a valid
// ingest_id ([wire.ValidateID]).
func NewJobID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// DerivedJobID is the id of a job published with neither a Nats-Msg-Id
// header nor a job_id: "seq-<stream sequence>-<stored Unix seconds>". It is
// stable across redeliveries of the same stored message; the store time
// keeps it unique if the stream is ever recreated and sequences restart.
func DerivedJobID(streamSeq uint64, stored time.Time) string {
	return fmt.Sprintf("seq-%d-%d", streamSeq, stored.Unix())
}

// ValidateDomain checks a domain name: an identifier per [wire.ValidateID]
// without '.', since it is one token of the subject ingest.jobs.<domain>.
func ValidateDomain(domain string) error {
	if err := wire.ValidateID("domain", domain); err != nil {
		return err
	}
	if strings.Contains(domain, ".") {
		return fmt.Errorf("%w: domain %q must not contain '.' (it is one subject token)", wire.ErrInvalidID, domain)
	}
	return nil
}

// statusKey maps a job id onto a KV key. Job ids may hold ':' and '.',
// which KV keys cannot (':') or treat as token separators ('.'); both are
// escaped with '=', a character ids never hold, so the mapping is one to
// one.
func statusKey(id string) string {
	if !strings.ContainsAny(id, ".:") {
		return id
	}
	r := strings.NewReplacer(".", "=2E", ":", "=3A")
	return r.Replace(id)
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
