package telemetry

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// setTimeFormat sets zerolog's process-wide time format once: loggers built
// concurrently (tests, the local stack) must not race on the global.
var setTimeFormat sync.Once

// NewLogger builds the process logger writing to w. level is one of trace,
// debug, info, warn, error; format is "json" (one JSON object per line) or
// "console" (coloured, for humans). component names the binary or subsystem
// and is added to every line.
func NewLogger(w io.Writer, level, format, component string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("telemetry: unknown log level %q", level)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	default:
		return zerolog.Nop(), fmt.Errorf("telemetry: unknown log format %q (want json or console)", format)
	}
	setTimeFormat.Do(func() { zerolog.TimeFieldFormat = time.RFC3339Nano })
	l := zerolog.New(w).Level(lvl).With().Timestamp()
	if component != "" {
		l = l.Str("component", component)
	}
	return l.Logger(), nil
}

// WithLogger returns a ctx carrying l; see [Logger].
func WithLogger(ctx context.Context, l zerolog.Logger) context.Context {
	return l.WithContext(ctx)
}

// Logger returns the logger carried by ctx, or a disabled logger.
func Logger(ctx context.Context) *zerolog.Logger {
	return zerolog.Ctx(ctx)
}
