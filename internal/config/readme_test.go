package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEverySetting keeps README's configuration table true: every
// variable a binary reads has a row there.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{"worker", "publisher", "publisher-dev", "batchserver"} {
		ss, err := Settings(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			row := "| `" + s.Env + "` | `--" + s.Flag + "` |"
			if !strings.Contains(string(readme), row) {
				t.Errorf("README's configuration table has no row %q (read by %s)", row, bin)
			}
		}
	}
}
