// Package config is the binaries' settings mechanism: every setting is both
// a command-line flag and an environment variable; a flag given on the
// command line wins over the variable, and the variable wins over the
// default.
//
// # Binding
//
// A [Binder] registers settings on a flag set (each one recorded as a
// [Setting]: variable, flag, default, usage) and [Binder.Parse] applies
// the arguments, then the environment. Nothing is read from process state:
// tests pass a flag set, arguments and a lookup function. [FieldError]
// words a validation error with the setting's flag and variable.
//
// # What lives where
//
// Every binary links this package, so it holds only what every binary
// needs: the mechanism and the [Log] group. The settings themselves are
// declared by each binary's composition root (internal/wiring and its
// subpackages), which names the owning component's constant as each
// default (queue.DefaultAckWait, ingest.DefaultConcurrency, ...): a
// component named here would be linked into every binary, the batch server
// and the publisher included. No component imports this package.
package config
