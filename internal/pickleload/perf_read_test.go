package pickleload

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestLoadMarksValidUTF8 checks the promise Load makes with
// table.Column.ValidUTF8 (the wire encoder trusts it): on every fixture
// that loads, every column is marked and every string is valid UTF-8.
func TestLoadMarksValidUTF8(t *testing.T) {
	t.Parallel()
	var files []string
	err := filepath.WalkDir("testdata", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".pkl") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	loaded := 0
	for _, f := range files {
		tb, err := LoadFile(f, Options{})
		if err != nil {
			continue // refusals are other tests' business
		}
		loaded++
		for _, c := range tb.Columns {
			if !c.ValidUTF8 {
				t.Errorf("%s: column %q not marked ValidUTF8", f, c.Name)
			}
			for i, s := range c.Strings {
				if !utf8.ValidString(s) {
					t.Errorf("%s: column %q row %d: invalid UTF-8 %q", f, c.Name, i, s)
				}
			}
			for i, l := range c.StringLists {
				for _, s := range l {
					if !utf8.ValidString(s) {
						t.Errorf("%s: column %q row %d: invalid UTF-8 %q", f, c.Name, i, s)
					}
				}
			}
		}
	}
	if loaded == 0 {
		t.Fatal("no fixture loaded")
	}
}

// TestReadFileReadsTheFile checks that ReadFile returns the file's bytes.
func TestReadFileReadsTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join("testdata", "fixtures", "columns_embedding_matrix.pkl")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("ReadFile returned other bytes than the file's")
	}
}
