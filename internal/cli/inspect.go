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
	lookup := func(name string) (*domain.Domain, error) {
		reg, err := domain.NewRegistry(env.getenv("DOMAINS_FILE"))
		if err != nil {
			return nil, fmt.Errorf("domains: %w", err)
		}
		return reg.Lookup(name)
	}
	opts := inspect.Options{
		ValidateDomain: func(name string, t *table.Table) error {
			d, err := lookup(name)
			if err != nil {
				return err
			}
			return d.Validate(t)
		},
		IDField: func(name string) string {
			if d, err := lookup(name); err == nil {
				return d.IDField
			}
			return "" // ValidateDomain reports the error
		},
	}
	if code := inspect.Run(ctx, env.Stdout, env.Stderr, args, opts); code != 0 {
		return &exitError{code: code}
	}
	return nil
}
