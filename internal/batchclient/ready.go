package batchclient

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
)

// notReadyError is the cause a call's context is cancelled with when the
// connection was not ready within Config.ReadyTimeout. Its message names
// the server, the wait and, once known, the last connection error; its
// gRPC status is UNAVAILABLE.
type notReadyError struct {
	addr   string
	waited time.Duration
	reason string // the last connection error, or the connection's state
}

func (e *notReadyError) Error() string {
	return fmt.Sprintf("batch server at %s not reachable for %s: %s", e.addr, e.waited, e.reason)
}

// GRPCStatus reports the error as UNAVAILABLE, so status.Code sees it.
func (e *notReadyError) GRPCStatus() *status.Status {
	return status.New(codes.Unavailable, e.Error())
}

// readyBound returns ctx for opening a call with WaitForReady, and a func
// that ends the bound (to call once the call is open, or done). If the
// connection is not ready Config.ReadyTimeout after readyBound was called
// and the bound has not ended, the returned context is cancelled with a
// *notReadyError cause. A call on a ready connection is not cut: it runs
// within ctx's own deadline. The bound is armed even when the connection
// looks ready now: a server that has just gone away still shows READY
// until the transport notices, and a call opened in that moment waits
// for the next ready connection like any other.
func (c *Client) readyBound(ctx context.Context) (context.Context, func()) {
	bound := c.cfg.ReadyTimeout
	cctx, cancel := context.WithCancelCause(ctx)
	var (
		mu      sync.Mutex
		stopped bool
	)
	timer := time.AfterFunc(bound, func() {
		mu.Lock()
		defer mu.Unlock()
		if state := c.conn.GetState(); !stopped && state != connectivity.Ready {
			cancel(&notReadyError{addr: c.cfg.Addr, waited: bound, reason: "connection " + strings.ToLower(state.String())})
		}
	})
	return cctx, func() {
		timer.Stop()
		mu.Lock()
		stopped = true
		mu.Unlock()
	}
}

// notReady returns the *notReadyError cctx was cancelled with, its reason
// taken from err (the failed call's error: gRPC names the last connection
// error there), or nil if cctx was not cancelled by [Client.readyBound].
func notReady(cctx context.Context, err error) *notReadyError {
	var nr *notReadyError
	if !errors.As(context.Cause(cctx), &nr) {
		return nil
	}
	if r := connReason(status.Convert(err).Message()); r != "" {
		out := *nr
		out.reason = r
		return &out
	}
	return nr
}

// connReason extracts the last connection error from the message of a
// call that waited for a ready connection, e.g.
//
//	latest balancer error: connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:5: connect: connection refused"
//
// gives "dial tcp 127.0.0.1:5: connect: connection refused". It returns ""
// when the message names no connection error.
func connReason(msg string) string {
	rest, ok := strings.CutPrefix(msg, "latest balancer error: ")
	if !ok {
		return ""
	}
	rest = strings.TrimPrefix(rest, "connection error: desc = ")
	if u, err := strconv.Unquote(rest); err == nil {
		rest = u
	}
	rest = strings.TrimPrefix(rest, "transport: Error while dialing: ")
	rest = strings.TrimPrefix(rest, "transport: ")
	return rest
}
