package batchserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/rs/zerolog"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	server "github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/config"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// PullConfig is the configuration of `batchserver pull`: which worker to
// call, what to ask it for, and where to commit what it streams.
type PullConfig struct {
	config.Log
	Addr          string        // --addr: the worker's pull server, host:port
	Domain        string        // --domain
	File          string        // --file: a name in the worker's DATA_DIR
	Object        string        // --object: an object of the worker's object store
	IngestID      string        // --ingest-id (empty: the worker derives one)
	OutDir        string        // --out, BATCH_OUT_DIR
	Token         string        // --token, PULL_TOKEN
	TLSCA         string        // --tls-ca
	TLSCert       string        // --tls-cert
	TLSKey        string        // --tls-key
	TLSServerName string        // --tls-server-name
	ChunkRecords  int           // --chunk-records (0: the worker's)
	ChunkBytes    int64         // --chunk-bytes (0: the worker's)
	MaxRecvMsg    int64         // --max-recv-msg-bytes, BATCH_MAX_RECV_MSG_BYTES
	Timeout       time.Duration // --timeout (0: none)
}

func (c *PullConfig) bind(b *config.Binder) {
	c.Log.Bind(b)
	b.String(&c.Addr, "addr", "", "", "the worker's pull address, host:port (its PULL_ADDR)")
	b.String(&c.Domain, "domain", "", "", "domain the data must satisfy, e.g. recruit")
	b.String(&c.File, "file", "", "", "file name in the worker's data directory (or --object)")
	b.String(&c.Object, "object", "", "", "object name in the worker's object store (or --file)")
	b.String(&c.IngestID, "ingest-id", "", "", "ingest_id to commit under (default: pull-<domain>-<first 16 hex digits of the file's sha256>); with it, a pull cut off is resumed and a committed one is not pulled again")
	b.String(&c.OutDir, "out", "BATCH_OUT_DIR", defaultOutDir, "directory for committed JSONL files and the ledger (not one a running batch server holds)")
	b.String(&c.Token, "token", "PULL_TOKEN", "", "bearer token the worker requires")
	b.String(&c.TLSCA, "tls-ca", "", "", "CA bundle to verify the worker's certificate (enables TLS)")
	b.String(&c.TLSCert, "tls-cert", "", "", "client certificate for mTLS")
	b.String(&c.TLSKey, "tls-key", "", "", "client key for mTLS")
	b.String(&c.TLSServerName, "tls-server-name", "", "", "name to verify in the worker's certificate (default: the host of --addr)")
	b.Int(&c.ChunkRecords, "chunk-records", "", 0, "most records per chunk (0: the worker's CHUNK_RECORDS)")
	b.Int64(&c.ChunkBytes, "chunk-bytes", "", 0, "target encoded bytes per chunk (0: the worker's CHUNK_BYTES)")
	b.Int64(&c.MaxRecvMsg, "max-recv-msg-bytes", "BATCH_MAX_RECV_MSG_BYTES", server.DefaultMaxRecvMsgSize, "largest gRPC message accepted")
	b.Duration(&c.Timeout, "timeout", "", 0, "give up after this long (0: never)")
}

func (c *PullConfig) validate() error {
	errs := []error{c.Log.Validate()}
	if c.Addr == "" {
		errs = append(errs, errors.New("--addr is required"))
	}
	if c.Domain == "" {
		errs = append(errs, errors.New("--domain is required"))
	}
	if (c.File == "") == (c.Object == "") {
		errs = append(errs, errors.New("give exactly one of --file and --object"))
	}
	if c.OutDir == "" {
		errs = append(errs, config.FieldError("out", "BATCH_OUT_DIR", "must not be empty"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert needs --tls-key, and the other way round"))
	}
	if c.ChunkRecords < 0 || c.ChunkRecords > math.MaxUint32 {
		errs = append(errs, errors.New("--chunk-records must be 0 to 4294967295"))
	}
	if c.ChunkBytes < 0 {
		errs = append(errs, errors.New("--chunk-bytes must not be negative"))
	}
	if c.MaxRecvMsg < 1<<20 || c.MaxRecvMsg > math.MaxInt32 {
		errs = append(errs, config.FieldError("max-recv-msg-bytes", "BATCH_MAX_RECV_MSG_BYTES", "must be 1MiB to 2GiB"))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("--timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// LoadPull parses the configuration of `batchserver pull` from args (what
// follows "pull") and getenv, binding its flags on fs. It returns
// flag.ErrHelp for --help, and errors naming every bad or missing flag.
func LoadPull(fs *flag.FlagSet, args []string, getenv func(string) string) (PullConfig, error) {
	var c PullConfig
	b := config.NewBinder(fs, getenv)
	c.bind(b)
	if err := b.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("pull takes no arguments, got %q", fs.Args())
	}
	return c, c.validate()
}

// PullSettings lists every setting `batchserver pull` reads, sorted by
// flag (most have no environment variable).
func PullSettings() []config.Setting {
	var c PullConfig
	b := config.NewBinder(flag.NewFlagSet("batchserver pull", flag.ContinueOnError), nil)
	c.bind(b)
	return b.Settings()
}

// request maps the settings onto the DatasetRequest.
func (c PullConfig) request() *pb.DatasetRequest {
	req := &pb.DatasetRequest{Domain: c.Domain, IngestId: c.IngestID}
	if c.File != "" {
		req.Source = &pb.DatasetRequest_FileName{FileName: c.File}
	} else {
		req.Source = &pb.DatasetRequest_ObjectName{ObjectName: c.Object}
	}
	if c.ChunkRecords > 0 || c.ChunkBytes > 0 {
		req.Options = &pb.ChunkOptions{MaxRecords: uint32(c.ChunkRecords), TargetBytes: uint64(c.ChunkBytes)}
	}
	return req
}

// RunPull pulls one dataset from the worker c.Addr and commits it under
// c.OutDir through the reference batch server's commit path
// (batchserver.Server.Pull), then writes one line to stdout saying what
// was committed (or that it was committed already). When the pull fails
// the error is a gRPC status error ([PullErrorLine] formats it), else a
// setup error (TLS files, the output directory).
func RunPull(ctx context.Context, c PullConfig, stdout io.Writer, log zerolog.Logger) (err error) {
	log.Debug().Str("version", buildinfo.String("batchserver")).Str("worker", c.Addr).Msg("pulling")
	tc, err := server.LoadClientTLS(c.TLSCA, c.TLSCert, c.TLSKey, c.TLSServerName)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{OutDir: c.OutDir, MaxRecvMsgSize: int(c.MaxRecvMsg)}, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, srv.Close()) }()
	conn, err := server.DialWorker(c.Addr, tc, c.Token)
	if err != nil {
		return err
	}
	defer conn.Close()
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	res, err := srv.Pull(ctx, conn, c.request())
	if err != nil {
		return err
	}
	switch res.Outcome {
	case server.OutcomeDuplicate:
		_, err = fmt.Fprintf(stdout, "duplicate %s: %s\n", res.IngestID, res.Message)
	default:
		e, _ := srv.Committed(res.IngestID)
		_, err = fmt.Fprintf(stdout, "committed %s: %d records in %d chunks (%d resumed) to %s\n",
			res.IngestID, e.Records, e.Chunks, res.ResumedChunks, srv.OutputPath(e.Domain, res.IngestID))
	}
	return err
}

// PullErrorLine formats a failed pull's error as one line naming its
// status code in the contract's spelling, e.g. "NOT_FOUND: worker: open
// x.pkl: file not found"; an error without a status is its text.
func PullErrorLine(err error) string {
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) || se.GRPCStatus().Code() == codes.Unknown {
		return oneLine(err.Error())
	}
	st := se.GRPCStatus()
	name, known := rpccode.Code_name[int32(st.Code())]
	if !known {
		name = st.Code().String()
	}
	return name + ": " + oneLine(st.Message())
}

// oneLine replaces line breaks, so an error stays on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
