package pickleload

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/embedstream/embedstream/internal/container"
	"github.com/embedstream/embedstream/internal/table"
)

// DefaultMaxNPZMembers is the default bound on the arrays of an .npz
// archive (its columns).
const DefaultMaxNPZMembers = 4096

// NPZOptions bound [LoadNPZ]. The zero value means the defaults.
type NPZOptions struct {
	// Options bound the conversion as for [Load]; MaxDecodedBytes
	// defaults from the size of the arrays (after decompression).
	Options
	// MaxBytes bounds the arrays' bytes after decompression, all members
	// together: the worker's MAX_FILE_BYTES. 0 means DefaultDecodedFactor
	// x len(data) + DefaultDecodedSlack.
	MaxBytes int64
	// MaxMembers bounds the number of arrays. 0 means
	// DefaultMaxNPZMembers.
	MaxMembers int
}

// LoadNPZ decodes a NumPy .npz archive (np.savez, np.savez_compressed) in
// data into a table, as [Load] decodes a dict of the same arrays: one
// column per member array, named after it ("x.npy" is column "x"), in
// archive order; all arrays must have the same length; a 2-D numeric
// member is a FLOAT_VECTOR column. Each member is parsed as by [LoadNPY].
// Stored members (np.savez) alias data after their CRC-32 is checked;
// deflated ones (np.savez_compressed) are decompressed into memory,
// counted against opts.MaxBytes before anything is allocated (each
// member's size is checked against its claim while decompressing).
//
// Refused beyond LoadNPY's refusals: a member that is not a .npy file,
// encrypted, or compressed with another method (ErrUnsupported); more
// than opts.MaxMembers members, arrays above opts.MaxBytes (ErrLimit); a
// corrupt archive or a CRC mismatch (ErrMalformed). Errors are *[Error]s
// satisfying [ErrInvalid] and name the member as their column.
func LoadNPZ(data []byte, opts NPZOptions) (t *table.Table, err error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultDecodedFactor*int64(len(data)) + DefaultDecodedSlack
	}
	if opts.MaxMembers <= 0 {
		opts.MaxMembers = DefaultMaxNPZMembers
	}
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, recoveredErr(r)
		}
	}()
	const what = "NumPy .npz archive"
	src := bytes.NewReader(data)
	dir, err := container.ReadZipDirectory(src, int64(len(data)))
	if err != nil {
		return nil, &Error{Kind: ErrMalformed, Offset: -1, Row: -1, Msg: "corrupt " + what + ": " + err.Error()}
	}
	n, err := container.CountZipRecords(src, int64(len(data)), dir, opts.MaxMembers)
	if err != nil {
		return nil, &Error{Kind: ErrMalformed, Offset: -1, Row: -1, Msg: "corrupt " + what, Err: err}
	}
	if n > opts.MaxMembers || dir.Entries > uint64(opts.MaxMembers) {
		return nil, newErr(ErrLimit, -1, "", "%s of more than %d arrays", what, opts.MaxMembers)
	}
	zr, err := zip.NewReader(src, int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are column names here, never paths
		return nil, &Error{Kind: ErrMalformed, Offset: -1, Row: -1, Msg: "corrupt " + what, Err: err}
	}
	if len(zr.File) == 0 {
		return nil, newErr(ErrUnsupported, -1, "", "%s holding no array", what)
	}
	var total int64
	entries := make([]entry, 0, len(zr.File))
	for _, f := range zr.File {
		name, ok := strings.CutSuffix(f.Name, ".npy")
		switch {
		case !utf8.ValidString(f.Name):
			return nil, newErr(ErrUnsupported, -1, "", "%s: a member name that is not UTF-8 (%.60q)", what, f.Name)
		case !ok:
			return nil, colErr(ErrUnsupported, f.Name, -1, "%s: a member that is not a .npy array; an .npz archive holds only arrays (np.savez)", what)
		case f.Flags&0x1 != 0:
			return nil, colErr(ErrUnsupported, name, -1, "%s: an encrypted member", what)
		case f.UncompressedSize64 > uint64(opts.MaxBytes-total):
			return nil, colErr(ErrLimit, name, -1, "%s: its arrays take more than %d bytes (MAX_FILE_BYTES) once decompressed", what, opts.MaxBytes)
		}
		b, err := npzMember(data, f)
		if err != nil {
			return nil, withColumn(err, name, -1)
		}
		total += int64(len(b))
		a, err := parseNPY(b, fmt.Sprintf("%s member %.60q", what, f.Name))
		if err != nil {
			return nil, withColumn(err, name, -1)
		}
		entries = append(entries, entry{key: name, value: a})
	}
	if opts.MaxDecodedBytes <= 0 {
		opts.Options = opts.Options.withDefaults(int(min(total, int64(^uint(0)>>2))))
	} else {
		opts.Options = opts.Options.withDefaults(len(data))
	}
	c := newConv(opts.Options)
	t, err = c.dict(entries)
	if err != nil {
		return nil, err
	}
	for _, col := range t.Columns {
		col.Name = strings.Clone(col.Name)
	}
	return finishTable(t)
}

// npzMember returns the bytes of the member f of the zip in data: a slice
// of data for a stored member, a decompressed copy for a deflated one.
func npzMember(data []byte, f *zip.File) ([]byte, error) {
	switch f.Method {
	case zip.Store:
		off, err := f.DataOffset()
		if err != nil {
			return nil, &Error{Kind: ErrMalformed, Offset: -1, Row: -1, Msg: "corrupt NumPy .npz archive", Err: err}
		}
		size := f.UncompressedSize64
		if f.CompressedSize64 != size || off < 0 || uint64(off) > uint64(len(data)) || size > uint64(len(data))-uint64(off) {
			return nil, newErr(ErrMalformed, off, "", "corrupt NumPy .npz archive: a stored member's sizes do not fit the file")
		}
		b := data[off : off+int64(size) : off+int64(size)]
		if crc32.ChecksumIEEE(b) != f.CRC32 {
			return nil, newErr(ErrMalformed, off, "", "corrupt NumPy .npz archive: a member's CRC-32 does not match its data")
		}
		return b, nil
	case zip.Deflate:
		rc, err := f.Open()
		if err != nil {
			return nil, &Error{Kind: ErrMalformed, Offset: -1, Row: -1, Msg: "corrupt NumPy .npz archive", Err: err}
		}
		defer rc.Close()
		// archive/zip stops a member at its claimed size (ErrFormat)
		// and checks its CRC-32 at the end: the claim bounds memory.
		b := make([]byte, f.UncompressedSize64)
		if _, err := io.ReadFull(rc, b); err != nil {
			return nil, npzReadErr(err)
		}
		var one [1]byte
		if n, err := rc.Read(one[:]); n != 0 || err != io.EOF {
			if err == nil || err == io.EOF {
				err = zip.ErrFormat
			}
			return nil, npzReadErr(err)
		}
		return b, nil
	}
	return nil, newErr(ErrUnsupported, -1, "", "NumPy .npz archive: a member compressed with zip method %d (stored and deflated members are read)", f.Method)
}

func npzReadErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &Error{Kind: ErrMalformed, Offset: -1, Row: -1, Msg: "truncated NumPy .npz archive: a member's compressed data ends early; write the file again", Err: err}
	}
	return &Error{Kind: ErrMalformed, Offset: -1, Row: -1, Msg: "corrupt NumPy .npz archive: a member does not decompress", Err: err}
}
