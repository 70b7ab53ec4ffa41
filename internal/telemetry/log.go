package telemetry

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// setTimeFormat sets zerolog's process-wide time format once: loggers built
// concurrently (tests, the local stack) must not race on the global.
var setTimeFormat sync.Once

// NewLogger builds the process logger writing to w. level is one of trace,
// debug, info, warn, error; format is "json" (one JSON object per line) or
// "console" (for humans; coloured only on a terminal). component names the binary or subsystem
// and is added to every line.
func NewLogger(w io.Writer, level, format, component string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("telemetry: unknown log level %q", level)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !colorful(w)}
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

// colorful reports whether console logs to w may be coloured: w is a
// terminal and NO_COLOR (https://no-color.org) is not set. Logs piped to
// a file or another program carry no escape sequences.
func colorful(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// WithLogger returns a ctx carrying l; see [Logger].
func WithLogger(ctx context.Context, l zerolog.Logger) context.Context {
	return l.WithContext(ctx)
}

// Logger returns the logger carried by ctx, or a disabled logger.
func Logger(ctx context.Context) *zerolog.Logger {
	return zerolog.Ctx(ctx)
}
