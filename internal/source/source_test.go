package source_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/embedstream/embedstream/internal/source"
)

// setup builds:
//
//	outside/secret.pkl
//	data/a.pkl
//	data/sub/b.pkl
//	data/link.pkl       -> sub/b.pkl          (inside: allowed)
//	data/escape.pkl     -> ../outside/secret.pkl
//	data/abs.pkl        -> <abs>/outside/secret.pkl
//	data/dirlink        -> ../outside
//	data/dangling.pkl   -> nowhere.pkl
func setup(t *testing.T) (data, outside string) {
	t.Helper()
	base := t.TempDir()
	data, outside = filepath.Join(base, "data"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(data, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(data, "a.pkl"), filepath.Join(data, "sub", "b.pkl"), filepath.Join(outside, "secret.pkl")} {
		if err := os.WriteFile(f, []byte(filepath.Base(f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"link.pkl":     filepath.Join("sub", "b.pkl"),
		"escape.pkl":   filepath.Join("..", "outside", "secret.pkl"),
		"abs.pkl":      filepath.Join(outside, "secret.pkl"),
		"dirlink":      filepath.Join("..", "outside"),
		"dangling.pkl": "nowhere.pkl",
	} {
		if err := os.Symlink(target, filepath.Join(data, link)); err != nil {
			t.Fatal(err)
		}
	}
	return data, outside
}

func TestResolveAndOpen(t *testing.T) {
	t.Parallel()
	data, _ := setup(t)
	unsafe := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, source.ErrUnsafePath) {
			t.Fatalf("err = %v, want ErrUnsafePath", err)
		}
	}
	notFound := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, source.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v, want ErrNotFound and fs.ErrNotExist", err)
		}
	}
	tests := []struct {
		name     string
		file     string
		want     string // content of the file opened
		wantErr  func(*testing.T, error)
		openErr  func(*testing.T, error) // when OpenFile differs from ResolveFile
		skipOpen bool
	}{
		{name: "plain", file: "a.pkl", want: "a.pkl"},
		{name: "subdirectory", file: "sub/b.pkl", want: "b.pkl"},
		{name: "dot segments inside", file: "./sub/./b.pkl", want: "b.pkl"},
		{name: "symlink inside", file: "link.pkl", want: "b.pkl"},
		{name: "empty", file: "", wantErr: unsafe},
		{name: "absolute", file: filepath.Join(data, "a.pkl"), wantErr: unsafe},
		{name: "dotdot", file: "../outside/secret.pkl", wantErr: unsafe},
		{name: "dotdot inside", file: "sub/../a.pkl", wantErr: unsafe},
		{name: "backslash dotdot", file: `sub\..\..\x.pkl`, wantErr: unsafe},
		{name: "NUL", file: "a.pkl\x00.txt", wantErr: unsafe},
		{name: "relative symlink escape", file: "escape.pkl", wantErr: unsafe},
		{name: "absolute symlink escape", file: "abs.pkl", wantErr: unsafe},
		{name: "directory symlink escape", file: "dirlink/secret.pkl", wantErr: unsafe},
		{name: "directory", file: "sub", wantErr: unsafe},
		{name: "missing", file: "nope.pkl", wantErr: notFound},
		{name: "missing in missing dir", file: "no/such/file.pkl", wantErr: notFound},
		{name: "dangling symlink", file: "dangling.pkl", wantErr: notFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := source.ResolveFile(data, tt.file)
			if tt.wantErr != nil {
				tt.wantErr(t, err)
			} else {
				if err != nil {
					t.Fatalf("ResolveFile: %v", err)
				}
				if b, err := os.ReadFile(p); err != nil || string(b) != tt.want {
					t.Fatalf("resolved %s holds %q, %v; want %q", p, b, err, tt.want)
				}
			}
			f, err := source.OpenFile(data, tt.file)
			if tt.wantErr != nil {
				tt.wantErr(t, err)
				return
			}
			if err != nil {
				t.Fatalf("OpenFile: %v", err)
			}
			defer f.Close()
			if b, err := io.ReadAll(f); err != nil || string(b) != tt.want {
				t.Fatalf("opened file holds %q, %v; want %q", b, err, tt.want)
			}
		})
	}
}

// TestDataDirBehindSymlink: a DATA_DIR that is itself a symlink works.
func TestDataDirBehindSymlink(t *testing.T) {
	t.Parallel()
	data, _ := setup(t)
	link := filepath.Join(t.TempDir(), "data-link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	if _, err := source.ResolveFile(link, "sub/b.pkl"); err != nil {
		t.Fatal(err)
	}
	f, err := source.OpenFile(link, "a.pkl")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := source.ResolveFile(link, "escape.pkl"); !errors.Is(err, source.ErrUnsafePath) {
		t.Fatalf("escape via linked data dir: %v", err)
	}
}

func TestCheckName(t *testing.T) {
	t.Parallel()
	exts := []string{".pkl", ".pickle"}
	for _, tt := range []struct {
		name string
		want error
	}{
		{"processed_recruitment_data.pkl", nil},
		{"dir/x.PICKLE", nil},
		{"x..pkl", nil}, // ".." inside a name is not a component
		{"", source.ErrUnsafePath},
		{"/etc/passwd.pkl", source.ErrUnsafePath},
		{`\\server\share\x.pkl`, source.ErrUnsafePath},
		{"../x.pkl", source.ErrUnsafePath},
		{"a/../../x.pkl", source.ErrUnsafePath},
		{"x.csv", source.ErrBadExtension},
		{"x", source.ErrBadExtension},
	} {
		err := source.CheckName(tt.name, exts)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("CheckName(%q) = %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := source.CheckName("x.csv", nil); err != nil {
		t.Errorf("CheckName without an extension list: %v", err)
	}
}
