package picklegen

import (
	"fmt"
	"io"
)

// Shape is the form of a generated pickle.
type Shape int

// The shapes: the three files generate.py --bench writes.
const (
	Frame   Shape = iota + 1 // the recruit DataFrame ([WriteFrame])
	Records                  // the rows as a list of dicts ([WriteRecords])
	Matrix                   // the embeddings as a 2-D float32 ndarray ([WriteMatrix])
)

var shapeNames = [...]string{Frame: "frame", Records: "records", Matrix: "matrix"}

// String returns "frame", "records" or "matrix".
func (s Shape) String() string {
	if s >= Frame && s <= Matrix {
		return shapeNames[s]
	}
	return fmt.Sprintf("Shape(%d)", int(s))
}

// ParseShape returns the Shape named s (as [Shape.String] prints it).
func ParseShape(s string) (Shape, error) {
	for sh := Frame; sh <= Matrix; sh++ {
		if shapeNames[sh] == s {
			return sh, nil
		}
	}
	return 0, fmt.Errorf("picklegen: unknown shape %q (want frame, records or matrix)", s)
}

// Write writes src in the given shape; see [WriteFrame], [WriteRecords]
// and [WriteMatrix].
func Write(w io.Writer, src Source, shape Shape) (int64, error) {
	switch shape {
	case Frame:
		return WriteFrame(w, src)
	case Records:
		return WriteRecords(w, src)
	case Matrix:
		return WriteMatrix(w, src)
	}
	return 0, fmt.Errorf("%w: %v", ErrShape, shape)
}
