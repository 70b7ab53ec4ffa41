package queue

import (
	"testing"

	"github.com/nats-io/nats.go"
)

func TestLastDelivery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		maxDeliver, delivery int
		last                 bool
	}{{5, 4, false}, {5, 5, true}, {3, 3, true}, {3, 2, false}, {1, 1, true}, {-1, 1, false}, {-1, 1000, false}} {
		d := &Delivery{c: &Consumer{maxDeliver: tc.maxDeliver}, m: jobMsg{deliveries: tc.delivery}}
		if got := d.Last(); got != tc.last {
			t.Errorf("MaxDeliver %d: delivery %d Last() = %v, want %v", tc.maxDeliver, tc.delivery, got, tc.last)
		}
	}
}

func TestAttemptCountsDeliveriesBefore(t *testing.T) {
	t.Parallel()
	for before, want := range map[string]int{"": 2, "3": 5, "0": 2, "-4": 2, "x": 2} {
		h := nats.Header{}
		if before != "" {
			h.Set(HeaderAttemptsBefore, before)
		}
		if got := (jobMsg{header: h, deliveries: 2}).attempt(); got != want {
			t.Errorf("%s %q, delivery 2: attempt %d, want %d", HeaderAttemptsBefore, before, got, want)
		}
	}
}
