package cli

import (
	"context"
	"errors"
	"flag"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/dashboard"
	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/telemetry"
)

// connectTimeout bounds how long a CLI command waits for NATS.
const connectTimeout = 10 * time.Second

// Settings are the publisher's settings as its commands use them, already
// mapped onto the parts they configure by the publisher's composition root
// (internal/wiring/publisher).
type Settings struct {
	LogLevel  string            // LOG_LEVEL
	LogFormat string            // LOG_FORMAT
	Conn      queue.ConnOptions // how to reach NATS
	Queue     queue.Config      // the topology commands open (KeepTopology: a publisher never rewrites it)
	API       httpapi.Config    // serve's API, all but Ready (serve sets it from its queue)
	Dashboard dashboard.Config  // serve's dashboard
	HTTPAddr  string            // HTTP_ADDR: where serve listens

	DomainsFile       string   // DOMAINS_FILE
	DataDir           string   // DATA_DIR: checked for a job's file when visible here
	AllowedExtensions []string // ALLOWED_EXTENSIONS: extensions a job or upload may name
	MaxUploadBytes    int64    // MAX_UPLOAD_BYTES: largest file upload sends
	// PublisherURL (PUBLISHER_URL), when set, is a running publisher whose
	// API the listing and counting commands (jobs, queue) ask, with
	// APIToken (API_TOKEN) as bearer token: they then cost a page, not a
	// read of every status record.
	PublisherURL string
	APIToken     string
}

// LoadSettings registers the publisher's settings on fs, parses them from
// args and getenv and returns them. It returns flag.ErrHelp for --help, as
// the flag set does, and an error naming the flag and the variable of every
// bad setting. Commands also call it on a throwaway flag set, with no
// arguments, to learn the settings' flag names.
type LoadSettings func(fs *flag.FlagSet, args []string, getenv func(string) string) (Settings, error)

// loadSettings parses the publisher's settings and the command's own flags
// (already registered on fs) from args and the environment. Flags may come
// after positional arguments; those are returned.
func loadSettings(env *Env, fs *flag.FlagSet, args []string) (Settings, []string, error) {
	if env.LoadSettings == nil {
		return Settings{}, nil, errors.New("cli: Env.LoadSettings is nil")
	}
	// A throwaway flag set learns the settings' flag names and kinds, so
	// the arguments can be reordered before the real parse.
	probe := flag.NewFlagSet("probe", flag.ContinueOnError)
	probe.SetOutput(io.Discard)
	_, _ = env.LoadSettings(probe, nil, nil) // only the registered flags matter
	cfg, err := env.LoadSettings(fs, permute(args, flagKind(fs, probe)), env.Getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return cfg, nil, err
	case err != nil:
		return cfg, nil, &usageError{msg: err.Error()}
	}
	return cfg, fs.Args(), nil
}

// cliLogger builds the logger of a one-shot command: warnings and errors
// only, for humans, unless LOG_LEVEL or LOG_FORMAT say otherwise.
func cliLogger(env *Env, fs *flag.FlagSet, cfg Settings) zerolog.Logger {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	level, format := cfg.LogLevel, cfg.LogFormat
	if !given["log-level"] && env.getenv("LOG_LEVEL") == "" {
		level = "warn"
	}
	if !given["log-format"] && env.getenv("LOG_FORMAT") == "" {
		format = "console"
	}
	log, err := telemetry.NewLogger(env.Stderr, level, format, "publisher")
	if err != nil {
		return zerolog.New(env.Stderr)
	}
	return log
}

// session is a command's connection to the queue.
type session struct {
	cfg Settings
	log zerolog.Logger
	nc  *nats.Conn
	q   *queue.Queue
}

// open connects to NATS and opens the queue, creating the topology when it
// does not exist yet. It fails at once when nothing listens at NATS_URL
// (with a hint to start the local stack) or NATS refuses the connection
// (naming the cause: credentials, TLS).
func open(ctx context.Context, env *Env, fs *flag.FlagSet, cfg Settings) (*session, error) {
	log := cliLogger(env, fs, cfg)
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn := cfg.Conn
	conn.FailFast = true
	nc, err := queue.Connect(cctx, conn, "publisher-cli", log)
	if err != nil {
		return nil, natsHint(cfg.Conn.URL, err)
	}
	q, err := queue.Open(cctx, nc, cfg.Queue)
	if err != nil {
		nc.Close()
		return nil, natsHint(cfg.Conn.URL, err)
	}
	return &session{cfg: cfg, log: log, nc: nc, q: q}, nil
}

// Close flushes and closes the NATS connection.
func (s *session) Close() {
	if err := s.nc.FlushTimeout(2 * time.Second); err != nil && s.nc.IsConnected() {
		s.log.Warn().Err(err).Msg("flush before close")
	}
	s.nc.Close()
}
