package container_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/embedstream/embedstream/internal/container"
)

// FuzzUnwrap feeds arbitrary bytes to Identify and Unwrap (limit 1 MiB).
// Seeds: the real files of the formats corpus up to 64 KiB and small
// containers built here. Unwrap must return (no panic, no hang: the
// fuzzer's limits catch those) either a bad-file error (the source and
// destination cannot fail) or a readable format within the limit.
//
//	go test ./internal/container -run '^$' -fuzz FuzzUnwrap -fuzztime 30s
func FuzzUnwrap(f *testing.F) {
	ents, err := os.ReadDir(formatsDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Size() <= 64<<10 {
			b, err := os.ReadFile(filepath.Join(formatsDir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	p := pickleBytes
	f.Add(gzipped(f, p))
	f.Add(xzed(f, p))
	f.Add(zstded(f, p))
	f.Add(zlibbed(f, p))
	f.Add(tarred(f, member{name: "x.pkl", data: p}))
	f.Add(zipped(f, member{name: "x.pkl", data: p}))
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		format := container.Sniff(data[:min(len(data), container.SniffLen)])
		var out bytes.Buffer
		res, err := container.Unwrap(context.Background(), bytes.NewReader(data), int64(len(data)), &out, container.Options{MaxBytes: limit})
		if err != nil {
			if !errors.Is(err, container.ErrInvalid) {
				t.Fatalf("error %q is not ErrInvalid", err)
			}
			return
		}
		if !res.Inner.Readable() {
			t.Fatalf("unwrapped a %s (file sniffed as %s)", res.Inner, format)
		}
		if format.Container() && len(res.Chain) == 0 || res.Size != int64(out.Len()) || res.Size > limit {
			t.Fatalf("result %+v for %d bytes written (file sniffed as %s)", res, out.Len(), format)
		}
	})
}
