package pickleload

import (
	"fmt"
	"os"

	"github.com/embedstream/embedstream/internal/table"
)

// Default limits; see [Options].
const (
	// DefaultDecodedFactor and DefaultDecodedSlack give the default
	// MaxDecodedBytes: DefaultDecodedFactor x input size + DefaultDecodedSlack.
	DefaultDecodedFactor = 8
	DefaultDecodedSlack  = 64 << 20
	// DefaultMaxDepth is the default nesting limit.
	DefaultMaxDepth = 256
	// DefaultMaxMemo is the default limit on memo entries.
	DefaultMaxMemo = 1 << 24
)

// Options bound a load. The zero value means the defaults.
type Options struct {
	// MaxDecodedBytes bounds the estimated size of everything the pickle
	// decodes to (payload bytes plus a fixed cost per object) and the work
	// of converting it to a table. 0 means DefaultDecodedFactor x
	// len(data) + DefaultDecodedSlack.
	MaxDecodedBytes int64
	// MaxDepth bounds the MARK stack, the nesting of containers and the
	// depth of the conversion walk. 0 means DefaultMaxDepth.
	MaxDepth int
	// MaxMemo bounds the number of memo entries. 0 means DefaultMaxMemo.
	MaxMemo int
}

func (o Options) withDefaults(n int) Options {
	if o.MaxDecodedBytes <= 0 {
		o.MaxDecodedBytes = DefaultDecodedFactor*int64(n) + DefaultDecodedSlack
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxMemo <= 0 {
		o.MaxMemo = DefaultMaxMemo
	}
	return o
}

// Load decodes the pickle in data into a table without executing any pickle
// code. The table may alias data (numeric arrays are reinterpreted in place
// where alignment allows): do not modify data while the table is in use.
//
// Every error about the content satisfies errors.Is(err, [ErrInvalid]) and
// one of [ErrRefused], [ErrLimit], [ErrUnsupported], [ErrMalformed]; it is a
// *[Error] carrying the offset, opcode, column and row where known.
func Load(data []byte, opts Options) (t *table.Table, err error) {
	opts = opts.withDefaults(len(data))
	return nil, newErr(ErrUnsupported, -1, "", "not implemented yet")
}

// LoadFile reads the file at path and calls [Load]. A read failure is
// returned wrapped and does not satisfy [ErrInvalid] (it may be transient).
func LoadFile(path string, opts Options) (*table.Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pickleload: read %s: %w", path, err)
	}
	return Load(data, opts)
}
