package container

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// DefaultMaxBytes is the limit on unwrapped bytes when [Options.MaxBytes]
// is not set: the worker's default MAX_FILE_BYTES.
const DefaultMaxBytes = 4 << 30

// Options bound [Unwrap]. The zero value means the defaults.
type Options struct {
	// MaxBytes bounds the unwrapped (decompressed) bytes: the worker's
	// MAX_FILE_BYTES. 0 means DefaultMaxBytes.
	MaxBytes int64
	// LimitName names MaxBytes in messages; "" means "MAX_FILE_BYTES".
	LimitName string
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.LimitName == "" {
		o.LimitName = "MAX_FILE_BYTES"
	}
	return o
}

// Result describes what [Unwrap] found and wrote.
type Result struct {
	// Chain lists the containers, outermost first: [Gzip], [Zip],
	// [XZ Tar] for a .tar.xz. Empty for a file that is no container.
	Chain []Format
	// Member is the name of the zip or tar member unwrapped ("" for a
	// compressed stream).
	Member string
	// Inner is what the unwrapped bytes are: Pickle, Joblib or NPY (or,
	// for a file that is no container, its own format).
	Inner Format
	// Size is the number of bytes written to dst.
	Size int64
}

// String describes the file, e.g. "gzip-compressed pickle"; see [Describe].
func (r Result) String() string { return Describe(r.Chain, r.Inner) }

// Limits of the archive and stream formats, beyond Options.MaxBytes.
const (
	// maxXZDict bounds an xz block's LZMA2 dictionary, which the decoder
	// allocates whole before decoding: 64 MiB is xz -9's.
	maxXZDict = 64 << 20
	// maxZstdWindow bounds a zstd frame's window: 128 MiB is the zstd
	// tool's own default limit (--long=27).
	maxZstdWindow = 128 << 20
	// tarSlack is what a tar stream may hold beyond its member's bytes
	// (headers, PAX records up to archive/tar's 1 MiB, padding).
	tarSlack = 4 << 20
	// copyBuf is the size of the copy buffer.
	copyBuf = 256 << 10
)

// Unwrap decompresses or extracts the file src (size bytes) into dst,
// streaming, and reports what it held. It opens, by their magic bytes:
// gzip (multi-member), bzip2, xz, zstd and zlib streams; a zip archive
// holding exactly one file (as pandas.read_pickle requires; stored or
// deflated); a tar archive holding exactly one regular file, plain or
// inside one of the compressed streams (.tar.gz, .tar.xz, ...). The
// unwrapped bytes must be a pickle, a joblib file or a NumPy .npy file: a
// container inside another (a .gz in a .zip) and foreign formats (a
// gzip-compressed CSV file) are refused as soon as their first bytes are
// seen. A file that is no container is copied as it is (callers that can
// read it in place check [Format.Container] first).
//
// At most opts.MaxBytes unwrapped bytes are written: a decompression bomb
// stops there with an [ErrLimit] error naming the format, the compressed
// size and the limit. On any error dst holds a partial, meaningless
// result.
//
// Errors about the file are *[Error]s satisfying [ErrInvalid] and one of
// [ErrNotReadable], [ErrUnsupported], [ErrRefused], [ErrLimit] and
// [ErrMalformed] (e.g. "truncated gzip-compressed pickle: ..."). An error
// reading src or writing dst is returned wrapped, satisfying none of them
// (it may be transient); so is ctx's error when ctx ends first.
func Unwrap(ctx context.Context, src io.ReaderAt, size int64, dst io.Writer, opts Options) (Result, error) {
	u := &unwrapper{
		ctx:  ctx,
		src:  &sourceReader{r: src},
		size: size,
		dst:  &writeCounter{w: dst},
		opts: opts.withDefaults(),
	}
	err := u.run()
	u.res.Size = u.dst.n
	return u.res, err
}

type unwrapper struct {
	ctx  context.Context
	src  *sourceReader
	size int64
	dst  *writeCounter
	opts Options
	res  Result
	// decoded counts the bytes decoded from the outermost container.
	decoded *limitReader
	// zipClaim is the size the zip member's header claims.
	zipClaim uint64
}

func (u *unwrapper) run() error {
	if u.size < 0 {
		return fmt.Errorf("container: a file of %d bytes", u.size)
	}
	head := make([]byte, min(u.size, SniffLen))
	if n, err := u.src.ReadAt(head, 0); n < len(head) {
		return u.ioErr(err)
	}
	f, err := Identify(head)
	u.res.Inner = f
	if err != nil {
		return err
	}
	base := io.NewSectionReader(u.src, 0, u.size)
	switch {
	case f == Zip:
		return u.zip()
	case f == Tar:
		u.res.Chain = []Format{Tar}
		return u.tar(u.res.Chain, base)
	case f.compressor():
		chain := []Format{f}
		if f == XZ {
			if err := u.checkXZ(); err != nil {
				return err
			}
		}
		// A buffered source lets the zlib path see what follows its
		// stream (flate reads a ByteReader without reading ahead).
		br := bufio.NewReaderSize(base, copyBuf)
		dec, closeDec, err := openStream(f, br)
		if err != nil {
			return u.fail(chain, Unknown, err)
		}
		defer closeDec()
		if err := u.payload(chain, dec, true); err != nil {
			return err
		}
		if f == Zlib {
			// zlib streams do not concatenate: more bytes are not
			// part of this stream (another appended stream, or junk).
			if _, err := br.Peek(1); err == nil {
				return u.bad(ErrMalformed, chain, u.res.Inner, nil, "corrupt %s: bytes follow the end of the zlib stream; write the file again",
					Describe(chain, u.res.Inner))
			} else if err != io.EOF {
				return u.ioErr(err)
			}
		}
		return nil
	}
	// not a container: copied as it is
	return u.copy(nil, f, base, u.opts.MaxBytes)
}

// openStream starts the decompressor of format f over r.
func openStream(f Format, r *bufio.Reader) (io.Reader, func(), error) {
	switch f {
	case Gzip:
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		z.Multistream(false)
		return &gzipMembers{z: z, r: r}, func() { z.Close() }, nil
	case Zlib:
		z, err := zlib.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, func() { z.Close() }, nil
	case Bzip2:
		return bzip2.NewReader(r), func() {}, nil
	case XZ:
		z, err := xz.ReaderConfig{DictCap: lzma.MinDictCap}.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, func() {}, nil
	case Zstd:
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, nil, err
		}
		return z, z.Close, nil
	}
	return nil, nil, fmt.Errorf("container: no decompressor for %s", f)
}

// errTrailing reports bytes after a compressed stream that are neither
// another stream nor padding.
var errTrailing = errors.New("bytes that are not compressed data follow the compressed stream")

// gzipMembers reads the members of a gzip file one after another, as
// Python's gzip module does: null bytes between or after members are
// padding; anything else after a member is junk (errTrailing).
type gzipMembers struct {
	z *gzip.Reader
	r *bufio.Reader
}

func (g *gzipMembers) Read(p []byte) (int, error) {
	for {
		n, err := g.z.Read(p)
		if err != io.EOF {
			return n, err
		}
		for { // padding
			c, err := g.r.ReadByte()
			if err == io.EOF {
				return n, io.EOF
			}
			if err != nil {
				return n, err
			}
			if c != 0 {
				if err := g.r.UnreadByte(); err != nil {
					return n, err
				}
				break
			}
		}
		if magic, err := g.r.Peek(2); err != nil || magic[0] != 0x1f || magic[1] != 0x8b {
			return n, errTrailing
		}
		if err := g.z.Reset(g.r); err != nil {
			return n, err
		}
		g.z.Multistream(false)
		if n > 0 {
			return n, nil
		}
	}
}

// payload reads the unwrapped content from r: it sniffs its first bytes,
// refuses a nested container or a foreign format, descends into a tar
// archive inside a compressed stream (when tarOK), and copies the rest.
func (u *unwrapper) payload(chain []Format, r io.Reader, tarOK bool) error {
	max := u.opts.MaxBytes
	if tarOK {
		max += tarSlack // the tar path counts its member's bytes itself
	}
	u.res.Chain = chain
	lr := &limitReader{r: r, max: max}
	if u.decoded == nil {
		u.decoded = lr
	}
	head, err := readHead(lr, SniffLen)
	if err != nil {
		inner := Unknown
		if len(head) > 0 {
			inner = Sniff(head)
		}
		return u.fail(chain, inner, err)
	}
	inner := Sniff(head)
	u.res.Inner = inner
	switch {
	case inner == Tar && tarOK:
		return u.tar(append(chain, Tar), io.MultiReader(bytes.NewReader(head), lr))
	case inner.Container() || inner == NPZ:
		what := containerName(chain)
		return u.bad(ErrUnsupported, chain, inner, nil, "%s %s holding %s %s: nested containers are not read; unwrap it to the pickle itself "+
			"(df.to_pickle(\"x.pkl.gz\") writes one compressed pickle)", article(what), what, article(inner.String()), inner)
	case !inner.Readable():
		return refusal(chain, inner, head)
	}
	return u.copy(chain, inner, io.MultiReader(bytes.NewReader(head), lr), u.opts.MaxBytes)
}

// copy writes r to dst, at most max bytes.
func (u *unwrapper) copy(chain []Format, inner Format, r io.Reader, max int64) error {
	lr, ok := r.(*limitReader)
	if !ok {
		lr = &limitReader{r: r, max: max}
	}
	buf := make([]byte, copyBuf)
	for {
		if err := u.ctx.Err(); err != nil {
			return fmt.Errorf("container: unwrapping %s: %w", Describe(chain, inner), context.Cause(u.ctx))
		}
		n, err := lr.Read(buf)
		if n > 0 {
			if u.dst.n+int64(n) > u.opts.MaxBytes {
				return u.fail(chain, inner, errTooBig)
			}
			if _, werr := u.dst.Write(buf[:n]); werr != nil {
				return fmt.Errorf("container: writing the unwrapped %s: %w", Describe(chain, inner), werr)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return u.fail(chain, inner, err)
		}
	}
}

// readHead reads up to n bytes (fewer at the end of r).
func readHead(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, n)
	got := 0
	for got < n {
		m, err := r.Read(buf[got:])
		got += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return buf[:got], err
		}
	}
	return buf[:got], nil
}

// errTooBig is the limitReader's error past its limit.
var errTooBig = errors.New("size limit reached")

// limitReader returns errTooBig once more than max bytes were read.
type limitReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n > l.max {
		return 0, errTooBig
	}
	if rest := l.max - l.n + 1; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		return n - int(l.n-l.max), errTooBig
	}
	return n, err
}

// sourceReader remembers the first I/O error of the source, to tell it
// from the decoders' format errors.
type sourceReader struct {
	r   io.ReaderAt
	err error
}

// errOffset: a decoder asked for bytes before the file's start, reading an
// offset from a corrupt header (archive/zip takes a zip64 header offset
// above 2^63 as it is). It is the file's fault, not the source's.
var errOffset = errors.New("an offset before the start of the file")

func (s *sourceReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errOffset
	}
	n, err := s.r.ReadAt(p, off)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// writeCounter counts the bytes written to w.
type writeCounter struct {
	w io.Writer
	n int64
}

func (c *writeCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ioErr wraps an I/O error of the source (a short read at EOF means the
// file shrank while being read: transient too).
func (u *unwrapper) ioErr(err error) error {
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("container: reading the file: %w", err)
}

// fail turns a decoding error while unwrapping inner (Unknown if not yet
// known) inside chain into the error to return.
func (u *unwrapper) fail(chain []Format, inner Format, err error) error {
	if u.src.err != nil {
		return u.ioErr(u.src.err)
	}
	if ctxErr := u.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("container: unwrapping %s: %w", Describe(chain, inner), context.Cause(u.ctx))
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	what := Describe(chain, inner)
	switch {
	case errors.Is(err, errTooBig) && len(chain) == 0:
		return u.bad(ErrLimit, chain, inner, nil, "%s is larger than %d bytes (%s); raise %s, or split the data into several files",
			what, u.opts.MaxBytes, u.opts.LimitName, u.opts.LimitName)
	case errors.Is(err, errTooBig):
		return u.bad(ErrLimit, chain, inner, nil, "%s decompresses to more than %d bytes (%s) from %d bytes: a decompression bomb, "+
			"or a file too large for this worker (raise %s, or split the data into several files)",
			what, u.opts.MaxBytes, u.opts.LimitName, u.size, u.opts.LimitName)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return u.bad(ErrMalformed, chain, inner, nil, "truncated %s: the %s ends early (%d bytes in the file, %d decoded); "+
			"the file was cut short (an interrupted upload or copy?): write it again",
			what, streamName(chain), u.size, u.decodedBytes())
	case errors.Is(err, errTrailing):
		return u.bad(ErrMalformed, chain, inner, nil, "corrupt %s: bytes that are not %s data follow its end (another file appended to it?); write the file again",
			what, chain[len(chain)-1].adjective())
	case errors.Is(err, errZipOverrun):
		return u.bad(ErrMalformed, chain, inner, nil, "corrupt %s: the member %.100q holds more data than the %d bytes its header claims "+
			"(a decompression bomb?); write the file again", what, u.res.Member, u.zipClaim)
	case errors.Is(err, zstd.ErrWindowSizeExceeded):
		return u.bad(ErrUnsupported, chain, inner, err, "%s uses a zstd window above %d MiB; recompress it with a lower level or without --long",
			what, maxZstdWindow>>20)
	}
	return u.bad(ErrMalformed, chain, inner, err, "corrupt %s: the %s does not decode; write the file again",
		what, streamName(chain))
}

// containerName names the container chain: "gzip-compressed file", "zip
// archive", "gzip-compressed tar archive".
func containerName(chain []Format) string {
	if last := chain[len(chain)-1]; last == Zip || last == Tar {
		return Describe(chain[:len(chain)-1], last)
	}
	return Describe(chain, Unknown)
}

// streamName names the innermost container of chain: "gzip stream", "tar
// archive".
func streamName(chain []Format) string {
	if len(chain) == 0 {
		return "file"
	}
	switch c := chain[len(chain)-1]; c {
	case Zip, Tar:
		return c.String()
	default:
		return c.adjective() + " stream"
	}
}

// decodedBytes is how many bytes the outermost container gave so far.
func (u *unwrapper) decodedBytes() int64 {
	if u.decoded == nil {
		return 0
	}
	return u.decoded.n
}

// bad builds an *Error; the message is format applied to args.
func (u *unwrapper) bad(kind error, chain []Format, inner Format, cause error, format string, args ...any) error {
	return &Error{Kind: kind, What: Describe(chain, inner), Msg: fmt.Sprintf(format, args...), Err: cause}
}
