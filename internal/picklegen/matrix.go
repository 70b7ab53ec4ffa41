package picklegen

import "io"

// WriteMatrix writes the embeddings of src as pickle.dump(a, f, protocol=5)
// writes a C-contiguous Rows x Dim float32 ndarray a:
// _frombuffer(PickleBuffer, dtype('float32'), (Rows, Dim), 'C'), the
// buffer in-band and, from 64 KiB on, outside any frame. It returns the
// bytes written and the first write error, or an error wrapping [ErrShape]
// for a source with no rows or a zero dimension.
func WriteMatrix(w io.Writer, src Source) (int64, error) {
	if err := checkShape(src); err != nil {
		return 0, err
	}
	n, d := src.Rows(), src.Dim()
	np := newNumpyObjects()
	var (
		row Recruit
		buf []byte
	)
	data := payload{size: 4 * int64(n) * int64(d), fill: func(emit func([]byte)) {
		per := max(1, chunkRows*16/d) // rows per piece: about 256 KiB
		for lo := 0; lo < n; lo += per {
			buf = buf[:0]
			for i := lo; i < min(lo+per, n); i++ {
				src.Fill(i, FieldEmbedding, &row)
				buf = appendFloat32s(buf, row.Embedding)
			}
			emit(buf)
		}
	}}
	return dump(w, 5, np.fromBuffer(data, np.dtypeObj("f4", np.littleEnd, 0), tuple(pyInt(n), pyInt(d))))
}
