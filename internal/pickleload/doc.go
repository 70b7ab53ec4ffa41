// Package pickleload turns a Python pickle (pandas DataFrames, lists of
// dicts, numpy embedding matrices, ...) into a [table.Table] without running
// any pickle code.
package pickleload
