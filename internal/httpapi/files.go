package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// FileResponse is the body of a 201 from PUT /files/{name}.
type FileResponse struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// handlePutFile streams the body into the object store: the body is read
// chunk by chunk as the store takes it, never held whole in memory, and cut
// off with 413 past MaxUploadBytes.
func (s *Server) handlePutFile(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := checkFileName(name, s.cfg.AllowedExt); err != nil {
		return err
	}
	if r.ContentLength > s.cfg.MaxUploadBytes {
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "file is %d bytes, larger than the limit of %d bytes (MAX_UPLOAD_BYTES)", r.ContentLength, s.cfg.MaxUploadBytes)
	}
	// An upload takes as long as its body needs: lift the read deadline
	// every API route starts with.
	if err := http.NewResponseController(w).SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("upload %q: lift the read deadline: %w", name, err)
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes)
	// The body takes as long as the client needs to send it; the queue
	// bounds each of its own operations. A client that goes away cancels
	// r's ctx.
	info, err := s.q.PutFile(r.Context(), name, body)
	if err != nil {
		return fmt.Errorf("upload %q: %w", name, err)
	}
	writeJSON(w, http.StatusCreated, FileResponse{Name: info.Name, Size: info.Size, SHA256: info.SHA256})
	return nil
}
