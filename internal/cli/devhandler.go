package cli

import (
	"net/http"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/dashboard"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/queue"
)

// devHandler returns the HTTP handler builder of `publisher dev`: the API
// with the dashboard beside it, as `serve` mounts them.
func devHandler(log zerolog.Logger) func(http.Handler, *queue.Queue, *domain.Registry, config.Publisher) (http.Handler, error) {
	return func(api http.Handler, q *queue.Queue, domains *domain.Registry, cfg config.Publisher) (http.Handler, error) {
		dash, err := dashboard.New(dashboard.ConfigFrom(cfg), q, domains, log.With().Str("part", "dashboard").Logger())
		if err != nil {
			return nil, err
		}
		return dash.Wrap(api), nil
	}
}
