package cli

import (
	"context"
	"errors"
	"flag"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/telemetry"
)

// connectTimeout bounds how long a CLI command waits for NATS.
const connectTimeout = 10 * time.Second

// loadSettings parses the publisher's settings and the command's own flags
// (already registered on fs) from args and the environment. Flags may come
// after positional arguments; those are returned.
func loadSettings(env *Env, fs *flag.FlagSet, args []string) (config.Publisher, []string, error) {
	// A throwaway flag set learns the settings' flag names and kinds, so
	// the arguments can be reordered before the real parse.
	probe := flag.NewFlagSet("probe", flag.ContinueOnError)
	probe.SetOutput(io.Discard)
	_, _ = config.LoadPublisher(probe, nil, nil) // only the registered flags matter
	cfg, err := config.LoadPublisher(fs, permute(args, flagKind(fs, probe)), env.Getenv)
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
func cliLogger(env *Env, fs *flag.FlagSet, cfg config.Publisher) zerolog.Logger {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	level, format := cfg.Log.Level, cfg.Log.Format
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
	cfg config.Publisher
	log zerolog.Logger
	nc  *nats.Conn
	q   *queue.Queue
}

// open connects to NATS and opens the queue, creating the topology when it
// does not exist yet.
func open(ctx context.Context, env *Env, fs *flag.FlagSet, cfg config.Publisher) (*session, error) {
	log := cliLogger(env, fs, cfg)
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	nc, err := queue.Connect(cctx, cfg.NATS, "publisher-cli", log)
	if err != nil {
		return nil, err
	}
	q, err := queue.Open(cctx, nc, queue.PublisherConfig(cfg.NATS))
	if err != nil {
		nc.Close()
		return nil, err
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
