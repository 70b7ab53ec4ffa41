package wiring_test

import (
	"os"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/wiring/batchserver"
	"github.com/embedstream/embedstream/internal/wiring/dev"
	"github.com/embedstream/embedstream/internal/wiring/publisher"
	"github.com/embedstream/embedstream/internal/wiring/worker"
)

// binaries lists every binary's settings, by the name README's
// configuration table and the deploy checks use.
var binaries = map[string]func() []config.Setting{
	"worker":        worker.Settings,
	"publisher":     publisher.Settings,
	"publisher-dev": dev.Settings,
	"batchserver":   batchserver.Settings,
}

func TestSettingsListEveryBinary(t *testing.T) {
	for bin, settings := range binaries {
		seen := map[string]bool{}
		for _, x := range settings() {
			if x.Env == "" || x.Flag == "" || x.Usage == "" {
				t.Errorf("%s: incomplete setting %+v", bin, x)
			}
			if seen[x.Env] {
				t.Errorf("%s: %s bound twice", bin, x.Env)
			}
			seen[x.Env] = true
		}
		if !seen["LOG_LEVEL"] || !seen["LOG_FORMAT"] {
			t.Errorf("%s: missing logging settings", bin)
		}
	}
}

// TestREADMEListsEverySetting keeps README's configuration table true: every
// variable a binary reads has a row there.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for bin, settings := range binaries {
		for _, s := range settings() {
			row := "| `" + s.Env + "` | `--" + s.Flag + "` |"
			if !strings.Contains(string(readme), row) {
				t.Errorf("README's configuration table has no row %q (read by %s)", row, bin)
			}
		}
	}
}

// TestSharedSettingsAgree: a variable several binaries read has the same
// flag and the same default in each (DATA_DIR and HTTP_ADDR aside, whose
// defaults are each binary's own: see README), as README's one row per
// variable says.
func TestSharedSettingsAgree(t *testing.T) {
	first := map[string]config.Setting{}
	owner := map[string]string{}
	for _, bin := range []string{"worker", "publisher", "publisher-dev", "batchserver"} {
		for _, s := range binaries[bin]() {
			f, ok := first[s.Env]
			if !ok {
				first[s.Env], owner[s.Env] = s, bin
				continue
			}
			if f.Flag != s.Flag {
				t.Errorf("%s: flag --%s in %s, --%s in %s", s.Env, f.Flag, owner[s.Env], s.Flag, bin)
			}
			if s.Env != "DATA_DIR" && s.Env != "HTTP_ADDR" && f.Default != s.Default {
				t.Errorf("%s: default %q in %s, %q in %s", s.Env, f.Default, owner[s.Env], s.Default, bin)
			}
		}
	}
}
