package config

// Log holds the logging settings every binary reads.
type Log struct {
	Level  string // LOG_LEVEL: trace, debug, info, warn, error
	Format string // LOG_FORMAT: json or console
}

// Bind binds LOG_LEVEL and LOG_FORMAT.
func (c *Log) Bind(b *Binder) {
	b.String(&c.Level, "log-level", "LOG_LEVEL", "info", "log level: trace, debug, info, warn, error")
	b.String(&c.Format, "log-format", "LOG_FORMAT", "json", "log format: json, or console for humans")
}

// Validate reports a level or format the logger does not know.
func (c *Log) Validate() error {
	switch c.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		return FieldError("log-level", "LOG_LEVEL", "want trace, debug, info, warn or error, got "+quote(c.Level))
	}
	switch c.Format {
	case "json", "console":
	default:
		return FieldError("log-format", "LOG_FORMAT", "want json or console, got "+quote(c.Format))
	}
	return nil
}
