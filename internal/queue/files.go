package queue

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// FileInfo describes a file in the ingest_files object store.
type FileInfo struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // lowercase hex
}

// PutFile streams r into the object store under name (replacing an object
// of that name) without buffering it whole, and returns its size and
// SHA-256 (the object store's own digest). A failed upload leaves no
// partial object. Errors: r's error (wrapped, e.g. *http.MaxBytesError),
// [ErrUnavailable].
func (q *Queue) PutFile(ctx context.Context, name string, r io.Reader) (FileInfo, error) {
	src := &recordingReader{r: r}
	info, err := q.files.Put(ctx, jetstream.ObjectMeta{Name: name}, src)
	if err != nil {
		if src.err != nil {
			// The upload's own reader failed (e.g. a body over its size
			// limit): its error, not NATS's, says what happened.
			return FileInfo{}, fmt.Errorf("queue: upload file %s: read: %w", name, src.err)
		}
		return FileInfo{}, classify("queue: upload file "+name, err)
	}
	return fileInfo(info)
}

// recordingReader remembers the first error, other than io.EOF, of the
// reader it wraps.
type recordingReader struct {
	r   io.Reader
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// OpenFile opens the object called name for reading; the reader reports an
// error at its end if the content does not match the stored digest. The
// caller closes it. Errors: [ErrFileNotFound], [ErrUnavailable].
func (q *Queue) OpenFile(ctx context.Context, name string) (io.ReadCloser, FileInfo, error) {
	res, err := q.files.Get(ctx, name)
	if err != nil {
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil, FileInfo{}, fmt.Errorf("queue: file %q: %w", name, ErrFileNotFound)
		}
		return nil, FileInfo{}, classify("queue: open file "+name, err)
	}
	info, err := res.Info()
	if err != nil {
		_ = res.Close() // already failing; the close error adds nothing
		return nil, FileInfo{}, classify("queue: open file "+name, err)
	}
	fi, err := fileInfo(info)
	if err != nil {
		_ = res.Close()
		return nil, FileInfo{}, err
	}
	return res, fi, nil
}

// StatFile returns the description of the object called name.
// Errors: [ErrFileNotFound], [ErrUnavailable].
func (q *Queue) StatFile(ctx context.Context, name string) (FileInfo, error) {
	info, err := q.files.GetInfo(ctx, name)
	if err != nil {
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return FileInfo{}, fmt.Errorf("queue: file %q: %w", name, ErrFileNotFound)
		}
		return FileInfo{}, classify("queue: stat file "+name, err)
	}
	return fileInfo(info)
}

// DeleteFile removes the object called name.
// Errors: [ErrFileNotFound], [ErrUnavailable].
func (q *Queue) DeleteFile(ctx context.Context, name string) error {
	if err := q.files.Delete(ctx, name); err != nil {
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("queue: file %q: %w", name, ErrFileNotFound)
		}
		return classify("queue: delete file "+name, err)
	}
	return nil
}

// fileInfo converts object info, whose digest reads "SHA-256=<base64url>".
func fileInfo(info *jetstream.ObjectInfo) (FileInfo, error) {
	d, ok := strings.CutPrefix(info.Digest, "SHA-256=")
	if !ok {
		return FileInfo{}, fmt.Errorf("queue: file %q: unexpected digest %q", info.Name, info.Digest)
	}
	sum, err := base64.URLEncoding.DecodeString(d)
	if err != nil {
		return FileInfo{}, fmt.Errorf("queue: file %q: digest %q: %w", info.Name, info.Digest, err)
	}
	return FileInfo{Name: info.Name, Size: int64(info.Size), SHA256: hex.EncodeToString(sum)}, nil
}
