// Package healthprobe is the one implementation of embedstream's
// command-line health probes: "worker healthcheck", "batchserver
// healthcheck" and "publisher healthcheck", run as compose healthchecks in
// distroless images that have no shell, curl or grpc_health_probe.
//
// A [Probe] checks one server at an address: [HTTP] (GET a path, healthy on
// 200) or [GRPC] (the standard gRPC health service, healthy when SERVING).
// [LocalAddr] turns a server's listen address into one to dial from inside
// its container, and [Run] is a whole healthcheck subcommand (flags --addr
// and --timeout, exit status 0 healthy, 1 unhealthy, 2 usage).
package healthprobe
