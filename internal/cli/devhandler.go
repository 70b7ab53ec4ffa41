package cli

import (
	"net/http"

	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/queue"
)

// devHandler is the HTTP handler of `publisher dev`: the API as `serve`
// mounts it.
func devHandler(api http.Handler, _ *queue.Queue, _ *domain.Registry) (http.Handler, error) {
	return api, nil
}
