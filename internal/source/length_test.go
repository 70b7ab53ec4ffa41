package source_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/source"
)

func TestCheckLengthCountsBytes(t *testing.T) {
	t.Parallel()
	ok := []string{
		strings.Repeat("a", 255),
		strings.Repeat("é", 127) + ".pkl"[:1],
		strings.Repeat("abcd/", 204) + "x.pk", // 1,024 bytes
	}
	for _, name := range ok {
		if err := source.CheckLength(name); err != nil {
			t.Errorf("%d-byte name refused: %v", len(name), err)
		}
	}
	bad := []string{
		strings.Repeat("a", 256),
		"dir/" + strings.Repeat("€", 86) + "/x.pkl", // 258-byte component of 86 characters
		strings.Repeat("€", 1020),                   // within 1,024 characters, 3,060 bytes
		strings.Repeat("abcd/", 205),                // 1,025 bytes
		strings.Repeat("x", 3100) + ".pkl",
	}
	for _, name := range bad {
		err := source.CheckLength(name)
		if !errors.Is(err, source.ErrUnsafePath) {
			t.Errorf("%d-byte name: err = %v, want ErrUnsafePath", len(name), err)
			continue
		}
		if len(err.Error()) > 200 {
			t.Errorf("the error echoes the name: %d bytes", len(err.Error()))
		}
		if err := source.CheckName(name, []string{".pkl"}); !errors.Is(err, source.ErrUnsafePath) {
			t.Errorf("CheckName of a %d-byte name: %v, want ErrUnsafePath", len(name), err)
		}
	}
}

// TestNameTooLongForTheFileSystem: a name within the bounds that the file
// system still finds too long (ENAMETOOLONG; here a data directory whose
// path plus the name passes PATH_MAX) is unsafe, not an I/O error to
// retry.
func TestNameTooLongForTheFileSystem(t *testing.T) {
	t.Parallel()
	deep := t.TempDir()
	for len(deep) < 4096-240 {
		deep = filepath.Join(deep, strings.Repeat("d", min(250, max(1, 4096-240-len(deep)))))
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Skipf("cannot build a %d-byte directory path here: %v", len(deep), err)
	}
	name := strings.Repeat("n", 250) + "/" + strings.Repeat("m", 250) + ".pkl"
	if _, err := source.ResolveFile(deep, name); !errors.Is(err, source.ErrUnsafePath) {
		t.Fatalf("ResolveFile in a %d-byte directory: %v, want ErrUnsafePath", len(deep), err)
	}
}
