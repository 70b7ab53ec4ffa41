package wiring

import (
	"github.com/embedstream/embedstream/internal/queue"
)

// Conn maps the NATS settings onto queue.Connect's options.
func Conn(c NATS) queue.ConnOptions {
	return queue.ConnOptions{
		URL:     c.URL,
		Creds:   c.Creds,
		TLSCA:   c.TLSCA,
		TLSCert: c.TLSCert,
		TLSKey:  c.TLSKey,
	}
}

// Queue maps the NATS settings onto the queue topology as the workers open
// it: they own it, so their settings are applied to what exists. The
// publisher adds KeepTopology (see its root). MaxAckPending is the queue's
// default.
func Queue(c NATS) queue.Config {
	return queue.Config{
		Stream:     c.Stream,
		Replicas:   c.Replicas,
		MaxBytes:   c.MaxBytes,
		MaxMsgs:    c.MaxMsgs,
		AckWait:    c.AckWait,
		MaxDeliver: c.MaxDeliver,
		StatusTTL:  c.JobTTL,
	}
}
