package container

import (
	"archive/tar"
	"archive/zip"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"
	"unicode/utf8"
)

// maxOneEntryDir bounds the central directory of a one-file zip: one
// 46-byte record with a name, extra field and comment of at most 64 KiB
// each.
const maxOneEntryDir = 46 + 3*0xffff

// zip unwraps a zip archive holding exactly one file.
func (u *unwrapper) zip() error {
	chain := []Format{Zip}
	u.res.Chain = chain
	dir, err := ReadZipDirectory(u.src, u.size)
	if err != nil {
		if u.src.err != nil {
			return u.ioErr(u.src.err)
		}
		return u.bad(ErrMalformed, chain, Unknown, nil, "corrupt zip archive: %s; write the file again", err.Error())
	}
	records, err := CountZipRecords(u.src, u.size, dir, 1)
	if err != nil {
		return u.ioErr(err)
	}
	switch {
	case dir.Entries == 0 && records == 0:
		return u.bad(ErrUnsupported, chain, Unknown, nil, "an empty zip archive (no file in it); pandas.read_pickle reads a zip holding exactly one pickle")
	case dir.Entries > 1 || records > 1:
		return u.bad(ErrUnsupported, chain, Unknown, nil, "a zip archive of %d files: pandas.read_pickle reads a zip holding exactly one pickle; "+
			"zip each pickle on its own, or use df.to_pickle(\"x.pkl.zip\")", max(dir.Entries, uint64(records)))
	case dir.Size > maxOneEntryDir:
		return u.bad(ErrMalformed, chain, Unknown, nil, "corrupt zip archive: a central directory of %d bytes for one file", dir.Size)
	}
	zr, err := zip.NewReader(u.src, u.size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are checked below, whatever GODEBUG says
		return u.fail(chain, Unknown, err)
	}
	if len(zr.File) != 1 {
		return u.bad(ErrMalformed, chain, Unknown, nil, "corrupt zip archive: its directory lists %d files, its end record %d", len(zr.File), dir.Entries)
	}
	f := zr.File[0]
	u.res.Member = f.Name
	switch {
	case !safeName(f.Name):
		return u.bad(ErrRefused, chain, Unknown, nil, "refused zip archive: its member name %.100q is absolute or leaves the archive's directory", f.Name)
	case f.Mode()&fs.ModeSymlink != 0:
		return u.bad(ErrRefused, chain, Unknown, nil, "refused zip archive: its member %.100q is a symbolic link; zip the pickle itself", f.Name)
	case f.Mode().IsDir() || strings.HasSuffix(f.Name, "/"):
		return u.bad(ErrUnsupported, chain, Unknown, nil, "a zip archive holding only the directory %.100q; zip the pickle itself", f.Name)
	case f.Flags&0x1 != 0:
		return u.bad(ErrUnsupported, chain, Unknown, nil, "an encrypted zip archive (member %.100q); zip the pickle without a password", f.Name)
	case f.UncompressedSize64 > uint64(u.opts.MaxBytes):
		return u.bad(ErrLimit, chain, Unknown, nil, "zip archive member %.100q claims %d bytes, above %s (%d bytes); raise %s, or split the data into several files",
			f.Name, f.UncompressedSize64, u.opts.LimitName, u.opts.MaxBytes, u.opts.LimitName)
	}
	u.zipClaim = f.UncompressedSize64
	rc, err := f.Open()
	if errors.Is(err, zip.ErrAlgorithm) {
		return u.bad(ErrUnsupported, chain, Unknown, nil, "a zip archive whose member %.100q is compressed with method %d; only stored and deflated members are read "+
			"(pandas writes deflated ones)", f.Name, f.Method)
	}
	if err != nil {
		return u.fail(chain, Unknown, err)
	}
	defer rc.Close()
	return u.payload(chain, &zipMember{r: rc, descriptor: f.Flags&0x8 != 0}, false)
}

// errZipOverrun: a zip member holds more data than its header claims.
var errZipOverrun = errors.New("a zip member holds more data than its header claims")

// zipMember tells archive/zip's ErrFormat for a member that runs past its
// claimed size apart: once a member is open, that is the only ErrFormat
// it returns, unless the member ends with a data descriptor.
type zipMember struct {
	r          io.Reader
	descriptor bool
}

func (z *zipMember) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if errors.Is(err, zip.ErrFormat) && !z.descriptor {
		err = errZipOverrun
	}
	return n, err
}

// tar unwraps a tar archive (read from r) holding exactly one regular file.
func (u *unwrapper) tar(chain []Format, r io.Reader) error {
	u.res.Chain = chain
	tr := tar.NewReader(r)
	h, err := nextMember(tr)
	if err == io.EOF {
		return u.bad(ErrUnsupported, chain, Unknown, nil, "an empty %s (no file in it); pandas.read_pickle reads a tar holding exactly one pickle", Describe(chain[:len(chain)-1], Tar))
	}
	if err != nil {
		return u.fail(chain, Unknown, err)
	}
	u.res.Member = h.Name
	what := Describe(chain[:len(chain)-1], Tar)
	switch {
	case !safeName(h.Name):
		return u.bad(ErrRefused, chain, Unknown, nil, "refused %s: its member name %.100q is absolute or leaves the archive's directory", what, h.Name)
	case h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink:
		return u.bad(ErrRefused, chain, Unknown, nil, "refused %s: its member %.100q is a link (to %.100q); archive the pickle itself", what, h.Name, h.Linkname)
	case h.Typeflag == tar.TypeDir:
		return u.bad(ErrUnsupported, chain, Unknown, nil, "%s %s holding only the directory %.100q; archive the pickle itself", article(what), what, h.Name)
	case h.Typeflag != tar.TypeReg:
		return u.bad(ErrUnsupported, chain, Unknown, nil, "%s %s whose member %.100q is not a regular file (type %q); archive the pickle itself", article(what), what, h.Name, h.Typeflag)
	case h.Size > u.opts.MaxBytes:
		return u.bad(ErrLimit, chain, Unknown, nil, "%s member %.100q claims %d bytes, above %s (%d bytes); raise %s, or split the data into several files",
			what, h.Name, h.Size, u.opts.LimitName, u.opts.MaxBytes, u.opts.LimitName)
	}
	if err := u.payload(chain, tr, false); err != nil {
		return err
	}
	next, err := nextMember(tr)
	switch {
	case err == io.EOF:
		return nil
	case err != nil:
		return u.fail(chain, u.res.Inner, err)
	}
	return u.bad(ErrUnsupported, chain, u.res.Inner, nil, "%s %s of more than one file (%.100q, %.100q, ...): pandas.read_pickle reads a tar holding exactly one pickle; "+
		"archive each pickle on its own, or use df.to_pickle(\"x.pkl.tar\")", article(what), what, h.Name, next.Name)
}

// nextMember returns the next tar header that is a member (PAX global
// headers are metadata, as in Python's tarfile).
func nextMember(tr *tar.Reader) (*tar.Header, error) {
	for {
		h, err := tr.Next()
		if err != nil || h.Typeflag != tar.TypeXGlobalHeader {
			return h, err
		}
	}
}

// safeName reports an archive member name that is relative and stays
// inside the archive's directory (no "..", no drive letter, no
// backslash), in UTF-8 and without control characters.
func safeName(name string) bool {
	if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "\\\x00") || strings.HasPrefix(name, "/") ||
		len(name) >= 2 && name[1] == ':' {
		return false
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	clean := path.Clean(name)
	return clean != ".." && !strings.HasPrefix(clean, "../")
}

// ZipDirectory is what a zip archive's end records say about its central
// directory.
type ZipDirectory struct {
	Entries uint64 // number of files
	Size    uint64 // central directory size in bytes
	Offset  uint64 // central directory offset
	End     int64  // offset of the (zip64) end record
}

// ReadZipDirectory reads the end of central directory record (and the
// zip64 one where it points) of the zip archive r of size bytes, without
// reading the directory: callers bound the number of files before
// archive/zip allocates one entry per directory record. The error is an
// I/O error of r or a plain error describing the damage.
func ReadZipDirectory(r io.ReaderAt, size int64) (ZipDirectory, error) {
	const eocdLen, maxComment = 22, 0xffff
	tail := min(size, eocdLen+maxComment)
	if tail < eocdLen {
		return ZipDirectory{}, errors.New("no end of central directory record (the file is too short)")
	}
	buf := make([]byte, tail)
	if err := readAt(r, buf, size-tail); err != nil {
		return ZipDirectory{}, err
	}
	p := -1
	for i := len(buf) - eocdLen; i >= 0; i-- {
		if string(buf[i:i+4]) == "PK\x05\x06" && i+eocdLen+int(binary.LittleEndian.Uint16(buf[i+20:])) <= len(buf) {
			p = i
			break
		}
	}
	if p < 0 {
		return ZipDirectory{}, errors.New("no end of central directory record (truncated?)")
	}
	e := buf[p:]
	d := ZipDirectory{
		Entries: uint64(binary.LittleEndian.Uint16(e[10:])),
		Size:    uint64(binary.LittleEndian.Uint32(e[12:])),
		Offset:  uint64(binary.LittleEndian.Uint32(e[16:])),
		End:     size - tail + int64(p),
	}
	// the conditions archive/zip looks for a zip64 record on
	if d.Entries != 0xffff && d.Size != 0xffff && d.Size != 0xffffffff && d.Offset != 0xffffffff {
		if d.Size > uint64(size) || d.Offset > uint64(size) {
			return ZipDirectory{}, errors.New("the central directory lies outside the file")
		}
		return d, nil
	}
	// zip64: a locator right before the record points at the zip64 record
	locAt := size - tail + int64(p) - 20
	if locAt < 0 {
		return ZipDirectory{}, errors.New("no zip64 end of central directory locator")
	}
	loc := make([]byte, 20)
	if err := readAt(r, loc, locAt); err != nil {
		return ZipDirectory{}, err
	}
	if string(loc[:4]) != "PK\x06\x07" {
		return d, nil // not zip64 after all: the 16-bit count is what it is
	}
	recAt := binary.LittleEndian.Uint64(loc[8:])
	if recAt > uint64(locAt) {
		return ZipDirectory{}, errors.New("the zip64 end record lies outside the file")
	}
	rec := make([]byte, 56)
	if err := readAt(r, rec, int64(recAt)); err != nil {
		return ZipDirectory{}, err
	}
	if string(rec[:4]) != "PK\x06\x06" {
		return ZipDirectory{}, errors.New("no zip64 end of central directory record")
	}
	d = ZipDirectory{
		Entries: binary.LittleEndian.Uint64(rec[32:]),
		Size:    binary.LittleEndian.Uint64(rec[40:]),
		Offset:  binary.LittleEndian.Uint64(rec[48:]),
		End:     int64(recAt),
	}
	if d.Size > uint64(size) || d.Offset > uint64(size) {
		return ZipDirectory{}, errors.New("the central directory lies outside the file")
	}
	return d, nil
}

// CountZipRecords counts the central directory records of the zip archive
// r (size bytes, directory d) the way archive/zip reads them (record after
// record until one does not parse, wherever the directory may start),
// stopping past limit: archive/zip allocates an entry for each, whatever the
// end record claims. The error is an I/O error of r.
func CountZipRecords(r io.ReaderAt, size int64, d ZipDirectory, limit int) (int, error) {
	best := 0
	for _, start := range []int64{d.End - int64(d.Size), int64(d.Offset)} {
		if start < 0 || start >= size {
			continue
		}
		n, off := 0, start
		var rec [46]byte
		for n <= limit && off+46 <= size {
			if err := readAt(r, rec[:], off); err != nil {
				return 0, err
			}
			if string(rec[:4]) != "PK\x01\x02" {
				break
			}
			next := off + 46 + int64(binary.LittleEndian.Uint16(rec[28:])) + int64(binary.LittleEndian.Uint16(rec[30:])) +
				int64(binary.LittleEndian.Uint16(rec[32:]))
			if next > size {
				break
			}
			n++
			off = next
		}
		best = max(best, n)
	}
	return best, nil
}

// readAt fills buf from r at off; a short read is io.ErrUnexpectedEOF.
func readAt(r io.ReaderAt, buf []byte, off int64) error {
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
