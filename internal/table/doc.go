// Package table is embedstream's in-memory dataset: an ordered schema and typed
// columns with null positions, mapping one to one onto the wire contract's
// Field and Column messages.
//
// # Layout
//
// A [Table] holds [Column]s of equal length ([Table.NumRows]). Each column keeps
// its values in exactly one typed slice chosen by its [Type]; a null row keeps
// the zero value in that slice and its index in [Column.Nulls]. Vectors are
// either one flat row-major []float32 ([Column.Vectors]) or one little-endian
// byte slice per row ([Column.RawVectors], how a loader keeps vectors that sit
// apart in its input without copying them); either way a run of rows is a
// subslice ([Column.Slice]) and never a copy.
//
// # Sources and windows
//
// A [Source] is a dataset read a window of rows at a time ([Source.Window]),
// so that consumers such as the chunk encoder touch a bounded run of rows at
// once and a loader can serve datasets larger than memory. A [Table] is the
// Source of a dataset held whole in memory: its windows are subslices of its
// columns, never copies, and it asks for no bound ([Table.WindowRows] is 0),
// so a consumer reads it as one window.
package table
