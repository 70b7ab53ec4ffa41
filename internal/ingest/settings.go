package ingest

import (
	"fmt"
	"os"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/config"
)

// Configs maps the worker's settings onto the configurations of its parts.
// An empty WORKER_NAME becomes "<hostname>-<pid>".
func Configs(c config.Worker) (WorkerConfig, ProcessorConfig, batchclient.Config) {
	name := c.WorkerName
	if name == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "worker"
		}
		name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	w := WorkerConfig{
		Name:            name,
		Concurrency:     c.Concurrency,
		AckWait:         c.AckWait,
		MaxDeliver:      c.MaxDeliver,
		BackoffMin:      c.RetryBackoffMin,
		BackoffMax:      c.RetryBackoffMax,
		ShutdownTimeout: c.ShutdownTimeout,
	}
	p := ProcessorConfig{
		DataDir:      c.DataDir,
		MaxFileBytes: c.MaxFileBytes,
		ChunkRecords: c.ChunkRecords,
		ChunkBytes:   c.ChunkBytes,

		PickleDecodedFactor: c.DecodedFactor,
		PickleMaxDepth:      c.MaxDepth,
	}
	b := batchclient.Config{
		Addr:    c.BatchServerAddr,
		TLSCA:   c.BatchServerTLSCA,
		TLSCert: c.BatchServerTLSCert,
		TLSKey:  c.BatchServerTLSKey,
	}
	return w, p, b
}
