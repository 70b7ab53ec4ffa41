// Package wire converts between embedstream's [table.Table] and the
// IngestDataStream contract's messages, and holds the contract's value rules
// (identifier syntax, hash syntax) in one place for both ends of the stream.
package wire
