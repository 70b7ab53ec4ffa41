// Package buildinfo reports the version of the running binary for
// --version, logs, worker heartbeats and the embedstream_build_info
// metric.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Version is set at build time with
// -ldflags "-X github.com/embedstream/embedstream/internal/buildinfo.Version=v1.2.3";
// otherwise it is taken from the module's build information.
var Version = ""

// Info is what the binary knows of its build.
type Info struct {
	Version   string // Version, the module's version, or "dev"
	Revision  string // the VCS revision's first 12 characters, when known
	GoVersion string // runtime.Version()
}

// Get returns the binary's build information.
func Get() Info {
	info := Info{Version: Version, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				info.Revision = s.Value[:12]
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	return info
}

// Short returns the version alone, e.g. "v1.2.3" or "dev".
func Short() string { return Get().Version }

// String returns "name version (commit, go version)" for --version.
func String(name string) string {
	info := Get()
	if info.Revision != "" {
		return fmt.Sprintf("%s %s (%s, %s)", name, info.Version, info.Revision, info.GoVersion)
	}
	return fmt.Sprintf("%s %s (%s)", name, info.Version, info.GoVersion)
}

// MetricName is the name of the build information gauge.
const MetricName = "embedstream_build_info"

// Collector returns the gauge embedstream_build_info{binary, version,
// revision, goversion} = 1, which every binary serving /metrics
// registers: dashboards show what runs, alerts can tell versions apart.
func Collector(binary string) prometheus.Collector {
	info := Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: MetricName,
		Help: "Build information of the running binary; always 1.",
		ConstLabels: prometheus.Labels{
			"binary": binary, "version": info.Version, "revision": info.Revision, "goversion": info.GoVersion,
		},
	})
	g.Set(1)
	return g
}
