package batchclient

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	// ErrRejected marks a stream the server refused for good
	// (INVALID_ARGUMENT, FAILED_PRECONDITION) or that cannot be sent at all.
	// Retrying the same data cannot succeed.
	ErrRejected = errors.New("batch server rejected the stream")
	// ErrUnavailable marks a failed stream that may succeed when retried:
	// UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, broken
	// connections and every other code.
	ErrUnavailable = errors.New("batch server unavailable")
	// ErrRecordTooLarge (wrapping [ErrRejected]) is returned for a record
	// whose encoding alone exceeds the largest message the client may send.
	ErrRecordTooLarge = fmt.Errorf("%w: record larger than the message size limit", ErrRejected)
)

// classify wraps a gRPC error from the stream in ErrRejected or
// ErrUnavailable. When parent has ended, its cause is returned instead: the
// stream was cut off by the caller, not failed by the server.
func classify(parent context.Context, op string, err error) error {
	if parent.Err() != nil {
		return fmt.Errorf("batchclient: %s: %w", op, context.Cause(parent))
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition:
		return fmt.Errorf("batchclient: %s: %w: %w", op, ErrRejected, err)
	default:
		return fmt.Errorf("batchclient: %s: %w: %w", op, ErrUnavailable, err)
	}
}
