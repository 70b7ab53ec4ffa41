package picklegen

import (
	"fmt"
	"io"
)

// RowsFor returns the number of rows that makes a file of the given shape,
// dimension and seed at least target bytes long. Rows vary in size (the
// descriptions, the skills), so it measures two prefixes of the dataset
// and extrapolates with a margin of 0.5 %: the file may exceed target by
// about that much. It returns an error wrapping [ErrShape] for dim < 1 or
// target < 1.
func RowsFor(target int64, dim int, seed uint64, shape Shape) (int, error) {
	if dim < 1 || target < 1 {
		return 0, fmt.Errorf("%w: %d bytes of dimension %d", ErrShape, target, dim)
	}
	const a, b = 1000, 3000
	sa, err := Write(io.Discard, Spec{Rows: a, Dim: dim, Seed: seed}.Source(), shape)
	if err != nil {
		return 0, err
	}
	sb, err := Write(io.Discard, Spec{Rows: b, Dim: dim, Seed: seed}.Source(), shape)
	if err != nil {
		return 0, err
	}
	perRow := float64(sb-sa) / (b - a)
	fixed := float64(sa) - a*perRow
	rows := int((float64(target)-fixed)/perRow*1.005) + 1
	return max(rows, 1), nil
}
