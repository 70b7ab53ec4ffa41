// Package localstack runs the whole embedstream pipeline in one process for
// `publisher dev`: an embedded NATS server with JetStream, the reference
// batch server, a number of workers and the publisher's HTTP API, with no
// Docker and nothing else installed.
package localstack
