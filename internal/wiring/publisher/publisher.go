// Package publisher is the publisher's composition root: its settings
// ([Config], [Load]) and their mapping onto the parts `publisher serve`
// and the CLI run (the queue's connection and topology, the HTTP API, the
// dashboard), handed to internal/cli through [LoadCLI]. The local stack
// (internal/wiring/dev) maps its API and dashboard settings with [API] and
// [Dashboard] too.
//
// It links no worker, batch server or embedded NATS server, and neither
// does the publisher binary (internal/wiring's tests check).
package publisher

import (
	"errors"
	"flag"
	"strings"

	"github.com/embedstream/embedstream/internal/cli"
	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/dashboard"
	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/wiring"
)

// Config is the publisher binary's configuration (serve and the CLI).
type Config struct {
	config.Log
	wiring.NATS
	HTTPAddr          string   // HTTP_ADDR
	DataDir           string   // DATA_DIR: checked for existence when visible
	DomainsFile       string   // DOMAINS_FILE
	APIToken          string   // API_TOKEN
	RequireAPIToken   bool     // REQUIRE_API_TOKEN: refuse to start without API_TOKEN
	AllowedExtensions []string // ALLOWED_EXTENSIONS
	MaxUploadBytes    int64    // MAX_UPLOAD_BYTES
	PublisherURL      string   // PUBLISHER_URL: the CLI lists and counts jobs through this publisher
	allowedExt        string
}

func (c *Config) bind(b *config.Binder) {
	c.Log.Bind(b)
	c.NATS.Bind(b)
	c.BindAPI(b, httpapi.DefaultAddr)
	b.String(&c.DataDir, "data-dir", "DATA_DIR", "", "data directory, when the publisher can see it: missing files are refused early (optional)")
	b.String(&c.PublisherURL, "publisher-url", "PUBLISHER_URL", "", "CLI: list and count jobs through this publisher's API (its job index) instead of reading every status record (optional)")
}

// BindAPI binds the settings of the HTTP API and the dashboard: HTTP_ADDR
// (defaulting to addr), DOMAINS_FILE, API_TOKEN, REQUIRE_API_TOKEN,
// ALLOWED_EXTENSIONS and MAX_UPLOAD_BYTES. The local stack, which serves
// them too, binds them with it, with a loopback address as its default.
func (c *Config) BindAPI(b *config.Binder, addr string) {
	b.String(&c.HTTPAddr, "http-addr", "HTTP_ADDR", addr, "address of the HTTP API and dashboard")
	b.String(&c.DomainsFile, "domains-file", "DOMAINS_FILE", "", "YAML or JSON file with extra domain definitions (optional)")
	b.String(&c.APIToken, "api-token", "API_TOKEN", "", "when set, every route but the health checks needs 'Authorization: Bearer <token>'")
	b.Bool(&c.RequireAPIToken, "require-api-token", "REQUIRE_API_TOKEN", false, "refuse to start without API_TOKEN (set it in production, so an empty token can never open the API)")
	b.String(&c.allowedExt, "allowed-extensions", "ALLOWED_EXTENSIONS", strings.Join(httpapi.DefaultAllowedExt(), ","), "comma-separated file extensions a job may name")
	b.Int64(&c.MaxUploadBytes, "max-upload-bytes", "MAX_UPLOAD_BYTES", httpapi.DefaultMaxUploadBytes, "largest file PUT /files accepts")
}

// Finish completes the settings once parsed (AllowedExtensions from
// ALLOWED_EXTENSIONS) and reports every one out of its range, joined.
func (c *Config) Finish() error {
	c.AllowedExtensions = config.SplitList(c.allowedExt)
	errs := []error{c.Log.Validate(), c.NATS.Validate()}
	if len(c.AllowedExtensions) == 0 {
		errs = append(errs, config.FieldError("allowed-extensions", "ALLOWED_EXTENSIONS", "must list at least one extension"))
	}
	if c.MaxUploadBytes < 1 {
		errs = append(errs, config.FieldError("max-upload-bytes", "MAX_UPLOAD_BYTES", "must be positive"))
	}
	if c.RequireAPIToken && c.APIToken == "" {
		errs = append(errs, config.FieldError("api-token", "API_TOKEN", "must be set: REQUIRE_API_TOKEN says this publisher may not run without one (generate one with: openssl rand -hex 32)"))
	}
	return errors.Join(errs...)
}

// Load parses the publisher's configuration from args and getenv, binding
// its settings on fs (which may hold a command's own flags). It returns
// flag.ErrHelp for --help, and errors naming the flag and the variable of
// every bad setting.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	var c Config
	b := config.NewBinder(fs, getenv)
	c.bind(b)
	if err := b.Parse(args); err != nil {
		return c, err
	}
	return c, c.Finish()
}

// Settings lists every setting the publisher reads, sorted by variable.
func Settings() []config.Setting {
	var c Config
	b := config.NewBinder(flag.NewFlagSet("publisher", flag.ContinueOnError), nil)
	c.bind(b)
	return b.Settings()
}

// Queue maps the settings onto the topology the publisher opens: the
// workers' (see [wiring.Queue]) with KeepTopology, so a publisher binds
// what exists as it is and only creates what is missing.
func Queue(c Config) queue.Config {
	q := wiring.Queue(c.NATS)
	q.KeepTopology = true
	return q
}

// API maps the settings onto the HTTP API's configuration: all but Ready,
// which the caller sets from its queue (e.g. q.Ready).
func API(c Config) httpapi.Config {
	return httpapi.Config{
		Token:          c.APIToken,
		DataDir:        c.DataDir,
		AllowedExt:     c.AllowedExtensions,
		MaxUploadBytes: c.MaxUploadBytes,
	}
}

// Dashboard maps the settings onto the dashboard's configuration:
// API_TOKEN, DATA_DIR and ALLOWED_EXTENSIONS, as the API reads them; the
// rest take the dashboard's defaults.
func Dashboard(c Config) dashboard.Config {
	return dashboard.Config{Token: c.APIToken, DataDir: c.DataDir, AllowedExt: c.AllowedExtensions}
}

// CLI maps the settings onto what the publisher's commands use.
func CLI(c Config) cli.Settings {
	return cli.Settings{
		LogLevel:          c.Level,
		LogFormat:         c.Format,
		Conn:              wiring.Conn(c.NATS),
		Queue:             Queue(c),
		API:               API(c),
		Dashboard:         Dashboard(c),
		HTTPAddr:          c.HTTPAddr,
		DomainsFile:       c.DomainsFile,
		DataDir:           c.DataDir,
		AllowedExtensions: c.AllowedExtensions,
		MaxUploadBytes:    c.MaxUploadBytes,
		PublisherURL:      strings.TrimRight(c.PublisherURL, "/"),
		APIToken:          c.APIToken,
	}
}

// LoadCLI is [Load] then [CLI]: the publisher's [cli.LoadSettings].
func LoadCLI(fs *flag.FlagSet, args []string, getenv func(string) string) (cli.Settings, error) {
	c, err := Load(fs, args, getenv)
	return CLI(c), err
}

var _ cli.LoadSettings = LoadCLI
