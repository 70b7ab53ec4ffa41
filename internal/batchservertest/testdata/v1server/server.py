#!/usr/bin/python3
"""A minimal batch server of wire contract v1, for compatibility tests.

Written only from the v1 contract (embedding_stream.proto beside this file,
the contract as it was before v2): it knows IngestDataStream and nothing
else, so grpcio answers GetIngestState UNIMPLEMENTED, and the v2 fields of
IngestMetadata are unknown fields it never reads (a resumed stream is a
sequence gap to it).

It checks a stream's order and shape (metadata first and once, sequences
0, 1, 2, ... without gaps, first_record, record_count values per column,
total_records), and commits all or nothing at the half-close: the records
go to <out>/<domain>/<ingest_id>.jsonl, one JSON object per record with
the columns in schema order (values as Python's json writes them: FLOAT_VECTOR
elements are the float32 values widened to float64, BYTES are base64,
TIMESTAMP microseconds, JSON columns their text, nulls null), and one line
{"ingest_id", "domain", "records", "chunks", "attempt", "sha256"} is appended
to <out>/ledger.jsonl, which is replayed at start: a committed ingest_id is
answered duplicate=true.

Usage: server.py --stubs DIR --out DIR [--host 127.0.0.1] [--port 0]
The stubs are generated from the proto by grpc_tools.protoc into DIR. Once
serving, it prints "LISTENING host:port" on stdout. SIGTERM stops it.
"""

import signal

# SIGTERM and SIGINT are taken by sigwait in the main thread. Block them
# before grpc starts any thread (threads inherit the mask): a signal
# delivered to one of grpc's threads would otherwise wait for the main
# thread to run Python code, which it never does while it waits.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})

import argparse  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from concurrent import futures  # noqa: E402

import grpc  # noqa: E402

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
VALUES_CASE = {1: "strings", 2: "int64s", 3: "doubles", 4: "bools", 5: "int64s",
               6: "bytes_list", 7: "vectors", 8: "string_lists", 9: "strings"}


class Invalid(Exception):
    """A stream that breaks the contract: INVALID_ARGUMENT."""


def check_metadata(md):
    if not ID_RE.match(md.ingest_id):
        raise Invalid("bad ingest_id %r" % md.ingest_id)
    if not ID_RE.match(md.domain):
        raise Invalid("bad domain %r" % md.domain)
    if md.attempt < 1:
        raise Invalid("attempt must be at least 1")
    if not SHA_RE.match(md.source_sha256):
        raise Invalid("bad source_sha256")
    names = set()
    for f in md.schema:
        if not f.name or f.name in names:
            raise Invalid("bad or duplicate field name %r" % f.name)
        names.add(f.name)
        if f.type not in VALUES_CASE:
            raise Invalid("field %r: bad type %d" % (f.name, f.type))
        if (f.type == 7) != (f.vector_dim > 0):
            raise Invalid("field %r: vector_dim %d" % (f.name, f.vector_dim))


def column_values(field, col, n):
    """Returns the n values of one column as JSON-ready Python values."""
    case = col.WhichOneof("values")
    if case != VALUES_CASE[field.type]:
        raise Invalid("field %r: values in %s, want %s" % (field.name, case, VALUES_CASE[field.type]))
    nulls = list(col.null_indices)
    if nulls and not field.nullable:
        raise Invalid("field %r: nulls on a field that is not nullable" % field.name)
    if any(b <= a for a, b in zip(nulls, nulls[1:])) or any(i >= n for i in nulls):
        raise Invalid("field %r: null_indices not ascending below record_count" % field.name)
    if case == "vectors":
        dim = field.vector_dim
        if col.vectors.dim != dim or len(col.vectors.values) != n * dim:
            raise Invalid("field %r: %d floats of dim %d, want %d of dim %d" % (
                field.name, len(col.vectors.values), col.vectors.dim, n * dim, dim))
        flat = list(col.vectors.values)
        vals = [flat[i * dim:(i + 1) * dim] for i in range(n)]
    elif case == "string_lists":
        vals = [list(s.values) for s in col.string_lists.values]
    elif case == "bytes_list":
        vals = [base64.b64encode(b).decode() for b in col.bytes_list.values]
    else:
        vals = list(getattr(col, case).values)
    if len(vals) != n:
        raise Invalid("field %r: %d values, want record_count %d" % (field.name, len(vals), n))
    null_set = set(nulls)
    for i, v in enumerate(vals):
        if i in null_set:
            vals[i] = None
        elif case in ("doubles", "vectors"):
            for x in (v if case == "vectors" else [v]):
                if not math.isfinite(x):
                    raise Invalid("field %r: row %d is not finite" % (field.name, i))
    return vals


class Servicer:
    def __init__(self, out, pb):
        self.out = out
        self.pb = pb
        self.lock = threading.Lock()
        self.committed = {}
        self.in_flight = set()
        self.ledger = os.path.join(out, "ledger.jsonl")
        if os.path.exists(self.ledger):
            with open(self.ledger) as f:
                for line in f:
                    if line.strip():
                        e = json.loads(line)
                        self.committed[e["ingest_id"]] = e

    def IngestDataStream(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("payload") != "metadata":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must carry metadata")
        md = first.metadata
        try:
            check_metadata(md)
        except Invalid as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        iid = md.ingest_id
        with self.lock:
            if iid in self.committed:
                return self.pb.IngestDataResponse(ingest_id=iid, duplicate=True, message="already committed")
            if iid in self.in_flight:
                context.abort(grpc.StatusCode.ABORTED, "ingest_id is being received on another stream")
            self.in_flight.add(iid)
        tmp = os.path.join(self.out, ".tmp-%s.jsonl" % iid)
        try:
            records, chunks = self.receive(md, request_iterator, tmp, context)
            final_dir = os.path.join(self.out, md.domain)
            os.makedirs(final_dir, exist_ok=True)
            os.replace(tmp, os.path.join(final_dir, iid + ".jsonl"))
            entry = {"ingest_id": iid, "domain": md.domain, "records": records, "chunks": chunks,
                     "attempt": md.attempt, "sha256": md.source_sha256}
            with self.lock:
                with open(self.ledger, "a") as f:
                    f.write(json.dumps(entry) + "\n")
                self.committed[iid] = entry
            return self.pb.IngestDataResponse(ingest_id=iid, records_received=records, chunks_received=chunks,
                                              message="committed %d records" % records)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
            with self.lock:
                self.in_flight.discard(iid)

    def receive(self, md, request_iterator, tmp, context):
        records = chunks = 0
        with open(tmp, "w") as out:
            for msg in request_iterator:
                try:
                    if msg.WhichOneof("payload") != "chunk":
                        raise Invalid("message %d is not a chunk" % (chunks + 1))
                    c = msg.chunk
                    if c.sequence != chunks:
                        raise Invalid("chunk sequence %d, want %d" % (c.sequence, chunks))
                    if c.first_record != records:
                        raise Invalid("chunk %d: first_record %d, want %d" % (c.sequence, c.first_record, records))
                    n = c.record_count
                    if records + n > md.total_records:
                        raise Invalid("chunk %d brings the records past total_records" % c.sequence)
                    if len(c.columns) != len(md.schema):
                        raise Invalid("chunk %d has %d columns, the schema has %d" % (c.sequence, len(c.columns), len(md.schema)))
                    cols = [column_values(f, col, n) for f, col in zip(md.schema, c.columns)]
                except Invalid as e:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
                for i in range(n):
                    row = {f.name: cols[k][i] for k, f in enumerate(md.schema)}
                    out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
                records += n
                chunks += 1
            if records != md.total_records:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "the stream ended after %d of total_records %d records" % (records, md.total_records))
            out.flush()
            os.fsync(out.fileno())
        return records, chunks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    sys.path.insert(0, args.stubs)
    import embedding_stream_pb2 as pb
    import embedding_stream_pb2_grpc as pb_grpc

    os.makedirs(args.out, exist_ok=True)
    servicer = Servicer(args.out, pb)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         options=[("grpc.max_receive_message_length", 16 << 20)])
    pb_grpc.add_EmbeddingStreamServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("%s:%d" % (args.host, args.port))
    if port == 0:
        sys.exit("cannot listen on %s:%d" % (args.host, args.port))
    server.start()
    print("LISTENING %s:%d" % (args.host, port), flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop(grace=2).wait()


if __name__ == "__main__":
    main()
