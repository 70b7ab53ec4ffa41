// Package polltest waits in tests for a condition that no event signals:
// it polls the condition until it holds or a deadline passes, and never
// sleeps a fixed time in its place.
//
// # Usage
//
//	polltest.Until(t, 20*time.Second, "reconnect", nc.IsConnected)
//
// Prefer waiting on a channel or a hook where the code under test offers
// one; poll only where it does not.
package polltest
