package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/source"
)

func runUpload(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "upload")
	name := fs.String("name", "", "object name (default: the file's base name)")
	jsonOut := fs.Bool("json", false, "print JSON instead of text")
	cfg, rest, err := loadSettings(env, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("want FILE, got %d argument(s)", len(rest))
	}
	file := rest[0]
	if *name == "" {
		*name = filepath.Base(file)
	}
	if err := source.CheckName(*name, cfg.AllowedExtensions); err != nil {
		return &usageError{msg: err.Error()}
	}
	s, err := open(ctx, env, fs, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	info, err := s.upload(ctx, file, *name)
	if err != nil {
		return err
	}
	if *jsonOut {
		return writeJSON(env.Stdout, httpapi.FileResponse{Name: info.Name, Size: info.Size, SHA256: info.SHA256})
	}
	fmt.Fprintf(env.Stdout, "uploaded %s as %s: %d bytes, sha256 %s\n  enqueue it with: publisher enqueue DOMAIN %s --object\n",
		file, info.Name, info.Size, info.SHA256, info.Name)
	return nil
}

// upload streams the local file into the object store under name.
func (s *session) upload(ctx context.Context, file, name string) (queue.FileInfo, error) {
	f, err := os.Open(file)
	if err != nil {
		return queue.FileInfo{}, fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return queue.FileInfo{}, fmt.Errorf("upload: %w", err)
	}
	if fi.Size() > s.cfg.MaxUploadBytes {
		return queue.FileInfo{}, fmt.Errorf("upload: %s is %d bytes, over MAX_UPLOAD_BYTES (%d)", file, fi.Size(), s.cfg.MaxUploadBytes)
	}
	info, err := s.q.PutFile(ctx, name, f)
	if err != nil {
		return queue.FileInfo{}, fmt.Errorf("upload %s as %s: %w", file, name, err)
	}
	return info, nil
}
