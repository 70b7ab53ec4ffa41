package pickleload

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/embedstream/embedstream/internal/canonical"
)

// TestFastPathMatchesGopickle decodes every plain-data fixture both ways
// (the fast path and gopickle) and wants the same table and the same error
// class.
func TestFastPathMatchesGopickle(t *testing.T) {
	t.Parallel()
	var files []string
	for _, g := range []string{"testdata/fixtures/*.pkl", "testdata/hostile/*.pkl"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no fixtures")
	}
	var inputs [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) <= 64<<10 {
			inputs = append(inputs, data)
		}
	}
	// plus mutations of the small ones (differential fuzzing)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 4000 {
		src := inputs[i%len(inputs)]
		if len(src) == 0 || len(src) > 4096 {
			continue
		}
		m := append([]byte(nil), src...)
		for range 1 + r.IntN(3) {
			m[r.IntN(len(m))] = byte(r.UintN(256))
		}
		inputs = append(inputs, m)
	}
	compared := 0
	for i, data := range inputs {
		sr, err := scan(data, Options{}.withDefaults(len(data)))
		if err != nil || sr.objects {
			continue
		}
		compared++
		fast, ferr := load(data, Options{}, pathAuto)
		slow, serr := load(data, Options{}, pathGopickle)
		name := fmt.Sprintf("input %d (%x)", i, data[:min(len(data), 64)])
		if (ferr == nil) != (serr == nil) {
			t.Errorf("%s: fast path err %v, gopickle err %v", name, ferr, serr)
			continue
		}
		if ferr != nil {
			if kind(ferr) != kind(serr) {
				t.Errorf("%s: fast path %v, gopickle %v", name, ferr, serr)
			}
			continue
		}
		var a, b bytes.Buffer
		if err := canonical.WriteTable(&a, fast); err != nil {
			t.Fatal(err)
		}
		if err := canonical.WriteTable(&b, slow); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() || schema(fast) != schema(slow) {
			t.Errorf("%s: fast path\n%s %s\ngopickle\n%s %s", name, schema(fast), a.String(), schema(slow), b.String())
		}
	}
	t.Logf("%d plain-data inputs compared", compared)
	if compared < 10 {
		t.Errorf("only %d plain-data fixtures compared", compared)
	}
}

func kind(err error) error {
	if e, ok := err.(*Error); ok {
		return e.Kind
	}
	return nil
}
