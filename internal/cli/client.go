package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/embedstream/embedstream/internal/clip"
)

// publisherTimeout bounds one request to the publisher's API.
const publisherTimeout = 30 * time.Second

// publisherAPI asks a running publisher (PUBLISHER_URL) what its job
// index knows, so that listing and counting jobs costs the CLI one page.
type publisherAPI struct {
	base  string
	token string
	hc    *http.Client
}

func newPublisherAPI(cfg Settings) *publisherAPI {
	return &publisherAPI{base: cfg.PublisherURL, token: cfg.APIToken, hc: &http.Client{Timeout: publisherTimeout}}
}

// get GETs path with query and decodes the JSON answer into out. A JSON
// error body becomes an error that says what to do.
func (p *publisherAPI) get(ctx context.Context, path string, query url.Values, out any) error {
	u := p.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &actionError{what: fmt.Sprintf("PUBLISHER_URL %q is not a URL", p.base), todo: "set it to the publisher's address, e.g. http://localhost:8000", err: err}
	}
	req.Header.Set("Accept", "application/json")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return &actionError{what: "cannot reach the publisher at " + clip.RedactURL(p.base),
			todo: "start 'publisher serve' (or the local stack), or unset PUBLISHER_URL to read NATS directly", err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read the publisher's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(body, &e) // a body that is not ours says nothing more
		what := fmt.Sprintf("the publisher at %s answered %s", clip.RedactURL(p.base), resp.Status)
		if e.Error.Message != "" {
			what += ": " + oneLine(e.Error.Message)
		}
		todo := ""
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			todo = "set API_TOKEN to the publisher's token"
		case http.StatusServiceUnavailable:
			todo = "retry in a few seconds"
		}
		return &actionError{what: what, todo: todo, err: errors.New(resp.Status)}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("the publisher at %s answered something else than its API (%w): is PUBLISHER_URL right?", clip.RedactURL(p.base), err)
	}
	return nil
}
