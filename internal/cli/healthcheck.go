package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/embedstream/embedstream/internal/healthprobe"
	"github.com/embedstream/embedstream/internal/httpapi"
)

// runHealthcheck probes a running serve's /healthz, for container
// healthchecks on images without a shell or an HTTP client.
func runHealthcheck(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "healthcheck")
	def := env.getenv("HTTP_ADDR")
	if def == "" {
		def = httpapi.DefaultAddr
	}
	addr := fs.String("addr", def, "address of the publisher's HTTP API (env HTTP_ADDR)")
	timeout := fs.Duration("timeout", healthprobe.DefaultTimeout, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return &usageError{msg: err.Error()}
	}
	if fs.NArg() != 0 {
		return usagef("healthcheck takes no arguments")
	}
	target, err := healthprobe.LocalAddr(*addr, httpapi.DefaultAddr)
	if err != nil {
		return usagef("--addr %q: %v", *addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := healthprobe.HTTP("/healthz")(ctx, target); err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	fmt.Fprintf(env.Stdout, "ok: http://%s/healthz\n", target)
	return nil
}
