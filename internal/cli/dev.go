package cli

import (
	"context"
	"errors"
	"flag"

	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/localstack"
	"github.com/embedstream/embedstream/internal/telemetry"
)

// runDev runs the whole pipeline in this process (the local stack): an
// embedded JetStream server, the reference batch server, workers and the
// HTTP API, until ctx is cancelled (Ctrl-C).
func runDev(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dev")
	cfg, err := config.LoadDev(fs, args, env.Getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return err
	case err != nil:
		return &usageError{msg: err.Error()}
	}
	if len(fs.Args()) > 0 {
		return usagef("dev takes no arguments, got %q", fs.Args())
	}
	// Humans run the local stack: console logs unless asked otherwise.
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	format := cfg.Publisher.Log.Format
	if !given["log-format"] && env.getenv("LOG_FORMAT") == "" {
		format = "console"
	}
	log, err := telemetry.NewLogger(env.Stderr, cfg.Publisher.Log.Level, format, "dev")
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	log.Info().Str("version", buildinfo.String("publisher")).Msg("starting local stack")
	st, err := localstack.Start(ctx, cfg, log, localstack.Options{Out: env.Stdout, Handler: devHandler(log)})
	if err != nil {
		return err
	}
	if env.OnListen != nil {
		env.OnListen(st.HTTPAddr())
	}
	<-ctx.Done()
	log.Info().Msg("stopping local stack")
	if err := st.Wait(); err != nil {
		return err
	}
	log.Info().Msg("stopped")
	return nil
}
