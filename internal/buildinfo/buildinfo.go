// Package buildinfo reports the version of the running binary for --version
// and logs.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at build time with
// -ldflags "-X github.com/embedstream/embedstream/internal/buildinfo.Version=v1.2.3";
// otherwise it is taken from the module's build information.
var Version = ""

// String returns "name version (commit, go version)" for --version.
func String(name string) string {
	v, rev := Version, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if rev != "" {
		return fmt.Sprintf("%s %s (%s, %s)", name, v, rev, runtime.Version())
	}
	return fmt.Sprintf("%s %s (%s)", name, v, runtime.Version())
}
