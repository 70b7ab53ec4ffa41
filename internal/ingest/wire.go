package ingest

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/queue"
)

// Wire builds a Worker from its settings the way the worker binary runs
// one: a batch client dialled as c says, and a Processor that reads files
// from DATA_DIR and objects from q's object store. nc is q's connection.
// log should already carry the worker's name. The caller runs the Worker
// and closes the client once Run has returned.
func Wire(ctx context.Context, c config.Worker, domains Domains, q *queue.Queue, nc *nats.Conn, metrics *Metrics, log zerolog.Logger) (*Worker, *batchclient.Client, error) {
	wcfg, pcfg, bcfg := Configs(c)
	bc, err := batchclient.New(ctx, bcfg, log)
	if err != nil {
		return nil, nil, err
	}
	return NewWorker(wcfg, q, nc, NewProcessor(pcfg, domains, q, bc), metrics, log), bc, nil
}
