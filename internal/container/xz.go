package container

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// maxXZIndex bounds an xz stream's index (its list of blocks): 16 MiB
// lists millions of blocks.
const maxXZIndex = 16 << 20

// errXZStructure describes a broken xz container structure.
type errXZStructure string

func (e errXZStructure) Error() string { return string(e) }

// checkXZ walks the xz file's structure from its end before anything is
// decoded: every stream's footer and index, and every block header they
// locate. The decoder allocates each block's LZMA2 dictionary whole, as
// large as the block header claims (up to 4 GiB): a block claiming more
// than maxXZDict is refused here, and so is a file whose index claims more
// than MaxBytes of content. A file without a valid footer at its end is
// truncated (or corrupt).
func (u *unwrapper) checkXZ() error {
	chain := []Format{XZ}
	var total uint64
	err := func() error {
		end := u.size
		for end > 0 {
			// stream padding: null bytes in multiples of four
			for end >= 4 {
				var pad [4]byte
				if err := readAt(u.src, pad[:], end-4); err != nil {
					return err
				}
				if pad != [4]byte{} {
					break
				}
				end -= 4
			}
			if end == 0 {
				break
			}
			start, content, err := u.checkXZStream(end)
			if err != nil {
				return err
			}
			total += content
			if total > uint64(u.opts.MaxBytes) {
				return errTooBig
			}
			end = start
		}
		return nil
	}()
	switch {
	case err == nil:
		return nil
	case u.src.err != nil:
		return u.ioErr(u.src.err)
	case errors.Is(err, errTooBig):
		return u.bad(ErrLimit, chain, Unknown, nil, "xz-compressed file claims to decompress to more than %d bytes (%s) from %d bytes: a decompression bomb, "+
			"or a file too large for this worker (raise %s, or split the data into several files)",
			u.opts.MaxBytes, u.opts.LimitName, u.size, u.opts.LimitName)
	case errors.Is(err, errXZDict):
		return u.bad(ErrUnsupported, chain, Unknown, err, "xz-compressed file uses a dictionary above %d MiB; recompress it with xz -9 or a lower preset", maxXZDict>>20)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errXZNoFooter):
		return u.bad(ErrMalformed, chain, Unknown, nil, "truncated xz-compressed file: no xz stream footer at its end (%d bytes); "+
			"the file was cut short (an interrupted upload or copy?): write it again", u.size)
	}
	return u.bad(ErrMalformed, chain, Unknown, nil, "corrupt xz-compressed file: %s; write the file again", err.Error())
}

var (
	errXZNoFooter = errors.New("no xz stream footer")
	errXZDict     = errors.New("xz dictionary too large")
)

// checkXZStream checks the xz stream ending at end and returns where it
// starts and how many bytes its index says it decompresses to.
func (u *unwrapper) checkXZStream(end int64) (start int64, content uint64, err error) {
	if end < 32 {
		return 0, 0, errXZNoFooter
	}
	var footer [12]byte
	if err := readAt(u.src, footer[:], end-12); err != nil {
		return 0, 0, err
	}
	if string(footer[10:]) != "YZ" || crc32.ChecksumIEEE(footer[4:10]) != binary.LittleEndian.Uint32(footer[:4]) {
		return 0, 0, errXZNoFooter
	}
	backward := (int64(binary.LittleEndian.Uint32(footer[4:])) + 1) * 4
	if backward > maxXZIndex {
		return 0, 0, errXZStructure(fmt.Sprintf("an index of %d bytes", backward))
	}
	indexAt := end - 12 - backward
	if indexAt < 12 {
		return 0, 0, errXZStructure("the index lies outside the file")
	}
	index := make([]byte, backward)
	if err := readAt(u.src, index, indexAt); err != nil {
		return 0, 0, err
	}
	if index[0] != 0 || crc32.ChecksumIEEE(index[:len(index)-4]) != binary.LittleEndian.Uint32(index[len(index)-4:]) {
		return 0, 0, errXZStructure("a bad index")
	}
	p := index[1 : len(index)-4]
	n, p, ok := uvarint(p)
	if !ok || n > uint64(len(p)/2) {
		return 0, 0, errXZStructure("a bad index")
	}
	type block struct{ unpadded, size uint64 }
	blocks := make([]block, 0, n)
	var blocksLen uint64
	for range n {
		var b block
		if b.unpadded, p, ok = uvarint(p); !ok || b.unpadded < 5 {
			return 0, 0, errXZStructure("a bad index")
		}
		if b.size, p, ok = uvarint(p); !ok {
			return 0, 0, errXZStructure("a bad index")
		}
		blocksLen += (b.unpadded + 3) &^ 3
		content += b.size
		if blocksLen > uint64(indexAt) || content > 1<<62 {
			return 0, 0, errXZStructure("an index listing more than the file holds")
		}
		blocks = append(blocks, b)
	}
	for _, c := range p {
		if c != 0 {
			return 0, 0, errXZStructure("a bad index")
		}
	}
	start = indexAt - int64(blocksLen) - 12
	if start < 0 {
		return 0, 0, errXZStructure("an index listing more than the file holds")
	}
	var header [12]byte
	if err := readAt(u.src, header[:], start); err != nil {
		return 0, 0, err
	}
	if string(header[:6]) != "\xfd7zXZ\x00" || string(header[6:8]) != string(footer[8:10]) {
		return 0, 0, errXZStructure("the stream header does not match its footer")
	}
	at := start + 12
	for _, b := range blocks {
		if err := u.checkXZBlock(at); err != nil {
			return 0, 0, err
		}
		at += int64((b.unpadded + 3) &^ 3)
	}
	return start, content, nil
}

// checkXZBlock checks the block header at off: its LZMA2 dictionary.
func (u *unwrapper) checkXZBlock(off int64) error {
	var size [1]byte
	if err := readAt(u.src, size[:], off); err != nil {
		return err
	}
	if size[0] == 0 {
		return errXZStructure("a block header where the index lists a block")
	}
	h := make([]byte, (int(size[0])+1)*4)
	if err := readAt(u.src, h, off); err != nil {
		return err
	}
	if crc32.ChecksumIEEE(h[:len(h)-4]) != binary.LittleEndian.Uint32(h[len(h)-4:]) {
		return errXZStructure("a bad block header")
	}
	flags := h[1]
	p := h[2 : len(h)-4]
	var ok bool
	if flags&0x40 != 0 {
		if _, p, ok = uvarint(p); !ok {
			return errXZStructure("a bad block header")
		}
	}
	if flags&0x80 != 0 {
		if _, p, ok = uvarint(p); !ok {
			return errXZStructure("a bad block header")
		}
	}
	for range int(flags&3) + 1 {
		var id, n uint64
		if id, p, ok = uvarint(p); !ok {
			return errXZStructure("a bad block header")
		}
		if n, p, ok = uvarint(p); !ok || n > uint64(len(p)) {
			return errXZStructure("a bad block header")
		}
		if id == 0x21 && n == 1 {
			bits := p[0] & 0x3f
			if bits > 40 {
				return errXZStructure("a bad LZMA2 dictionary size")
			}
			dict := uint64(0xffffffff)
			if bits < 40 {
				dict = uint64(2|bits&1) << (bits/2 + 11)
			}
			if dict > maxXZDict {
				return fmt.Errorf("%w: %d MiB", errXZDict, dict>>20)
			}
		}
		p = p[n:]
	}
	return nil
}

// uvarint decodes an xz multibyte integer (at most 9 bytes, 63 bits).
func uvarint(p []byte) (uint64, []byte, bool) {
	var v uint64
	for i := 0; i < 9 && i < len(p); i++ {
		v |= uint64(p[i]&0x7f) << (7 * i)
		if p[i]&0x80 == 0 {
			if i > 0 && p[i] == 0 {
				return 0, p, false // not the shortest form
			}
			return v, p[i+1:], true
		}
	}
	return 0, p, false
}
