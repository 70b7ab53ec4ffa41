package queuetest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/queue"
)

// readyTimeout bounds how long a server may take to accept connections.
const readyTimeout = 10 * time.Second

// Server is an in-process NATS server with JetStream.
type Server struct {
	mu   sync.Mutex
	opts server.Options
	srv  *server.Server
}

// StartServer starts a NATS server with JetStream on 127.0.0.1 and a free
// port, storing into a fresh t.TempDir(); it is shut down when the test
// ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	return StartServerWith(t, nil)
}

// StartServerWith is [StartServer] with the server's options changed by
// mod first (when not nil): e.g. users and passwords, or TLS.
func StartServerWith(t testing.TB, mod func(*server.Options)) *Server {
	t.Helper()
	s := &Server{opts: server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}}
	if mod != nil {
		mod(&s.opts)
	}
	s.start(t)
	t.Cleanup(s.Shutdown)
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	opts := s.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		t.Fatalf("queuetest: new nats server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		t.Fatalf("queuetest: nats server not ready within %s", readyTimeout)
	}
	s.srv = srv
	// Keep the chosen port, so a restart comes back at the same URL.
	if a, ok := srv.Addr().(*net.TCPAddr); ok {
		s.opts.Port = a.Port
	}
}

// URL returns the server's client URL, e.g. "nats://127.0.0.1:41234".
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv.ClientURL()
}

// NATS returns the running server, e.g. for JetStream introspection.
func (s *Server) NATS() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Shutdown stops the server and waits until it has stopped. It may be
// called more than once.
func (s *Server) Shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// Restart shuts the server down and starts it again with the same port and
// JetStream store; clients with reconnect enabled reconnect.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Shutdown()
	s.start(t)
}

// RestartWith is [Server.Restart] with the options changed by mod first,
// e.g. another password, as if the operator changed the server's
// configuration; later restarts keep the change.
func (s *Server) RestartWith(t testing.TB, mod func(*server.Options)) {
	t.Helper()
	s.Shutdown()
	s.mu.Lock()
	mod(&s.opts)
	s.mu.Unlock()
	s.start(t)
}

// Connect returns a client connection to s made by [queue.Connect], as the
// binaries make theirs (reconnecting forever, so it survives
// [Server.Restart]; no buffering while disconnected), closed when the test
// ends.
func Connect(t testing.TB, s *Server) *nats.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	nc, err := queue.Connect(ctx, queue.ConnOptions{URL: s.URL()}, t.Name(), zerolog.Nop())
	if err != nil {
		t.Fatalf("queuetest: connect to %s: %v", s.URL(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Config returns a queue configuration for tests: the default stream name,
// one replica, the default AckWait and MaxDeliver, no size limits, and
// status records that live an hour.
func Config() queue.Config {
	return queue.Config{
		Stream:        queue.DefaultStream,
		Replicas:      queue.DefaultReplicas,
		AckWait:       queue.DefaultAckWait,
		MaxDeliver:    queue.DefaultMaxDeliver,
		MaxAckPending: queue.DefaultMaxAckPending,
		StatusTTL:     time.Hour,
	}
}

// OpenQueue connects to s and opens the queue topology with cfg, failing
// the test on error.
func OpenQueue(t testing.TB, s *Server, cfg queue.Config) *queue.Queue {
	t.Helper()
	nc := Connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := queue.Open(ctx, nc, cfg)
	if err != nil {
		t.Fatalf("queuetest: open queue: %v", err)
	}
	return q
}

// JetStream returns a JetStream context on a fresh connection to s, for a
// test to look at the topology under the code it tests (stream states,
// stored messages) or to break it (delete a consumer). The code under test
// reaches JetStream only through the queue package.
func JetStream(t testing.TB, s *Server) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(Connect(t, s))
	if err != nil {
		t.Fatalf("queuetest: jetstream: %v", err)
	}
	return js
}

// StreamMsgs returns how many messages stream holds on s, failing the test
// on error; e.g. the jobs left in the work queue.
func StreamMsgs(t testing.TB, s *Server, stream string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	st, err := JetStream(t, s).Stream(ctx, stream)
	if err != nil {
		t.Fatalf("queuetest: stream %s: %v", stream, err)
	}
	return st.CachedInfo().State.Msgs
}
