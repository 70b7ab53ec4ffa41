package batchclient

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/sink"
)

// classify wraps a gRPC error from the stream in sink.ErrRejected or
// sink.ErrUnavailable. When parent has ended, its cause is returned
// instead: the stream was cut off by the caller, not failed by the server.
func classify(parent context.Context, op string, err error) error {
	if parent.Err() != nil {
		return fmt.Errorf("batchclient: %s: %w", op, context.Cause(parent))
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition:
		return fmt.Errorf("batchclient: %s: %w: %w", op, sink.ErrRejected, err)
	default:
		return fmt.Errorf("batchclient: %s: %w: %w", op, sink.ErrUnavailable, err)
	}
}
