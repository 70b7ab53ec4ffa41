package cli

import (
	"context"
	"fmt"

	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/inspect"
	"github.com/embedstream/embedstream/internal/table"
)

// runInspect delegates to package inspect, adding the domain checks of the
// registry that DOMAINS_FILE configures.
func runInspect(ctx context.Context, env *Env, args []string) error {
	opts := inspect.Options{
		ValidateDomain: func(name string, t *table.Table) error {
			reg, err := domain.NewRegistry(env.getenv("DOMAINS_FILE"))
			if err != nil {
				return fmt.Errorf("domains: %w", err)
			}
			d, err := reg.Lookup(name)
			if err != nil {
				return err
			}
			return d.Validate(t)
		},
	}
	if code := inspect.Run(ctx, env.Stdout, env.Stderr, args, opts); code != 0 {
		return &exitError{code: code}
	}
	return nil
}
