package container

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format is what a file is, as its first bytes tell.
type Format uint8

// Formats. [Pickle], [Joblib], [NPY] and [NPZ] are read by the loader;
// [Gzip], [Bzip2], [XZ], [Zstd], [Zlib], [Zip] and [Tar] are containers
// [Unwrap] opens; every other format is named in a refusal.
const (
	Unknown  Format = iota // no known format
	Empty                  // no bytes at all
	Pickle                 // a Python pickle (protocol 0-5)
	Joblib                 // a pickle written by joblib.dump (NumpyArrayWrapper arrays)
	NPY                    // a NumPy .npy file (np.save)
	NPZ                    // a NumPy .npz archive (np.savez, np.savez_compressed)
	Gzip                   // gzip (df.to_pickle("x.pkl.gz"))
	Bzip2                  // bzip2 (".bz2")
	XZ                     // xz (".xz")
	Zstd                   // Zstandard (".zst")
	Zlib                   // a zlib stream (joblib.dump(..., compress=3))
	Zip                    // a zip archive (".zip")
	Tar                    // a tar archive (".tar")
	LZ4                    // an LZ4 frame (joblib compress="lz4")
	HDF5                   // HDF5 (df.to_hdf, h5py)
	Parquet                // Apache Parquet (df.to_parquet)
	Arrow                  // Arrow IPC file / Feather v2 (df.to_feather)
	Feather1               // Feather v1
	ORC                    // Apache ORC (df.to_orc)
	Excel                  // an Excel workbook (.xlsx or .xls)
	SQLite                 // an SQLite database
	PyTorch                // a PyTorch checkpoint (torch.save)
	CSV                    // delimited text (df.to_csv)
	JSON                   // JSON or JSON Lines (df.to_json)
	Text                   // other text
)

var formatNames = [...]string{
	Unknown:  "unrecognised file",
	Empty:    "empty file",
	Pickle:   "pickle",
	Joblib:   "joblib file",
	NPY:      "NumPy .npy file",
	NPZ:      "NumPy .npz archive",
	Gzip:     "gzip-compressed file",
	Bzip2:    "bzip2-compressed file",
	XZ:       "xz-compressed file",
	Zstd:     "zstd-compressed file",
	Zlib:     "zlib-compressed file",
	Zip:      "zip archive",
	Tar:      "tar archive",
	LZ4:      "LZ4-compressed file",
	HDF5:     "HDF5 file",
	Parquet:  "Parquet file",
	Arrow:    "Arrow/Feather file",
	Feather1: "Feather (v1) file",
	ORC:      "ORC file",
	Excel:    "Excel workbook",
	SQLite:   "SQLite database",
	PyTorch:  "PyTorch checkpoint",
	CSV:      "CSV file",
	JSON:     "JSON file",
	Text:     "text file",
}

// String names the format as a noun phrase: "pickle", "gzip-compressed
// file", "Parquet file".
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// compressor reports a compressed stream (not an archive).
func (f Format) compressor() bool {
	switch f {
	case Gzip, Bzip2, XZ, Zstd, Zlib:
		return true
	}
	return false
}

// adjective is the compressor's name in "<adjective>-compressed".
func (f Format) adjective() string {
	switch f {
	case Gzip:
		return "gzip"
	case Bzip2:
		return "bzip2"
	case XZ:
		return "xz"
	case Zstd:
		return "zstd"
	case Zlib:
		return "zlib"
	case LZ4:
		return "LZ4"
	}
	return f.String()
}

// Container reports whether [Unwrap] opens files of this format: gzip,
// bzip2, xz, zstd, zlib, zip and tar.
func (f Format) Container() bool { return f.compressor() || f == Zip || f == Tar }

// Readable reports whether the loader reads the format itself: a pickle, a
// joblib file, a NumPy .npy file or .npz archive.
func (f Format) Readable() bool {
	switch f {
	case Pickle, Joblib, NPY, NPZ:
		return true
	}
	return false
}

// SniffLen is how many leading bytes [Sniff] and [Identify] want: enough
// for every magic number, a zip's first member name, a tar header, and the
// first pickle opcodes where joblib's class names appear. Fewer bytes (a
// short file) are fine.
const SniffLen = 64 << 10

// Sniff names the format of a file from its first bytes (up to
// [SniffLen]; the whole file is fine too), by magic numbers, never by the
// file's name. A pickle naming joblib's numpy_pickle classes within head
// is [Joblib]; a zip whose first member is a .npy file is [NPZ].
func Sniff(head []byte) Format {
	if len(head) == 0 {
		return Empty
	}
	if f := sniffMagic(head); f != Unknown {
		return f
	}
	if len(head) >= 263 && string(head[257:262]) == "ustar" || tarChecksumOK(head) {
		return Tar
	}
	if len(head) >= 2 && head[0] == 0x78 && head[1]&0x20 == 0 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
		return Zlib
	}
	if isPickle(head) {
		if bytes.Contains(head, []byte("joblib.numpy_pickle")) {
			return Joblib
		}
		return Pickle
	}
	return sniffText(head)
}

// sniffMagic recognises formats by the magic number at offset 0.
func sniffMagic(h []byte) Format {
	has := func(p string) bool { return bytes.HasPrefix(h, []byte(p)) }
	switch {
	case has("\x1f\x8b"):
		return Gzip
	case has("BZh") && len(h) > 3 && h[3] >= '1' && h[3] <= '9':
		return Bzip2
	case has("\xfd7zXZ\x00"):
		return XZ
	case has("\x28\xb5\x2f\xfd"):
		return Zstd
	case len(h) >= 4 && binary.LittleEndian.Uint32(h)&^0xf == 0x184d2a50:
		return Zstd // a skippable frame
	case has("\x04\x22\x4d\x18"):
		return LZ4
	case has("PK\x03\x04"):
		return sniffZip(h)
	case has("PK\x05\x06"), has("PK\x07\x08"):
		return Zip // empty or spanned
	case has("\x93NUMPY"):
		return NPY
	case has("\x89HDF\r\n\x1a\n"):
		return HDF5
	case has("PAR1"):
		return Parquet
	case has("ARROW1"):
		return Arrow
	case has("FEA1"):
		return Feather1
	case has("ORC"):
		return ORC
	case has("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
		return Excel // an OLE2 compound file: .xls
	case has("SQLite format 3\x00"):
		return SQLite
	}
	return Unknown
}

// sniffZip tells a plain zip from the zip-based formats by the name of its
// first member (in the local header at offset 0).
func sniffZip(h []byte) Format {
	if len(h) < 30 {
		return Zip
	}
	n := int(binary.LittleEndian.Uint16(h[26:]))
	if len(h) < 30+n {
		return Zip
	}
	name := string(h[30 : 30+n])
	switch {
	case strings.HasSuffix(name, ".npy"):
		return NPZ
	case name == "[Content_Types].xml" || strings.HasPrefix(name, "xl/") || strings.HasPrefix(name, "docProps/"):
		return Excel
	case strings.HasSuffix(name, "/data.pkl") || strings.HasSuffix(name, "/version") && strings.Count(name, "/") == 1:
		return PyTorch
	}
	return Zip
}

// tarChecksumOK reports a tar header without the ustar magic (old V7
// archives) by its checksum, as Python's tarfile does.
func tarChecksumOK(h []byte) bool {
	if len(h) < 512 || h[0] == 0 {
		return false
	}
	field := strings.Trim(string(h[148:156]), " \x00")
	want, err := strconv.ParseUint(field, 8, 32)
	if err != nil || field == "" {
		return false
	}
	var sum uint64
	for i, c := range h[:512] {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += uint64(c)
	}
	return sum == want
}

// isPickle reports a pickle's opening: PROTO (protocol 2 and later always
// start with it), or the first opcode of a protocol 0 or 1 pickle of a
// container or an object: MARK, EMPTY_LIST, EMPTY_DICT, EMPTY_TUPLE
// followed by another opcode, or GLOBAL with a module and a name line.
func isPickle(h []byte) bool {
	switch h[0] {
	case 0x80:
		return len(h) >= 2 && h[1] <= 5 || len(h) == 1
	case '(', ']', '}', ')':
		return len(h) == 1 || pickleOpcode(h[1])
	case 'c':
		mod, rest, ok := bytes.Cut(h[1:], []byte("\n"))
		if !ok || !dottedName(mod) {
			return false
		}
		name, _, ok := bytes.Cut(rest, []byte("\n"))
		return ok && dottedName(name)
	}
	return false
}

// pickleOpcodes are the opcode bytes of protocols 0-5.
const pickleOpcodes = "(.0123FIJKLMNPQRSTUVXabcdeghijlopqrstu}])\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98"

func pickleOpcode(b byte) bool { return strings.IndexByte(pickleOpcodes, b) >= 0 }

// dottedName reports a Python dotted identifier such as "pandas.core.frame".
func dottedName(b []byte) bool {
	if len(b) == 0 || len(b) > 256 {
		return false
	}
	for i, c := range b {
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c == '.' || c >= '0' && c <= '9'):
		default:
			return false
		}
	}
	return true
}

// sniffText recognises JSON, delimited text and other text.
func sniffText(h []byte) Format {
	t := bytes.TrimPrefix(h, []byte("\xef\xbb\xbf"))
	if !textual(t) {
		return Unknown
	}
	s := bytes.TrimLeft(t, " \t\r\n")
	if len(s) > 0 && (s[0] == '{' || s[0] == '[') {
		return JSON
	}
	line, _, _ := bytes.Cut(s, []byte("\n"))
	if bytes.ContainsAny(line, ",\t;|") {
		return CSV
	}
	return Text
}

// textual reports UTF-8 text without control characters other than tab,
// CR, LF and FF (a rune cut by the end of h is fine).
func textual(h []byte) bool {
	for i := 0; i < len(h); {
		c := h[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\r' && c != '\n' && c != '\f' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(h[i:])
		if r == utf8.RuneError && n <= 1 {
			return len(h)-i < utf8.UTFMax && !utf8.FullRune(h[i:])
		}
		i += n
	}
	return true
}

// Identify sniffs head (the file's first bytes, up to [SniffLen]) and
// returns its format when the loader reads it or [Unwrap] opens it.
// Otherwise it returns a refusal naming what the file is and what to do,
// an *[Error] satisfying [ErrInvalid] and [ErrNotReadable]
// ("not a pickle: a Parquet file; read it with pd.read_parquet and ...").
func Identify(head []byte) (Format, error) {
	f := Sniff(head)
	if f.Readable() || f.Container() {
		return f, nil
	}
	return f, refusal(nil, f, head)
}

// Describe names a file of format inner wrapped in the containers chain
// (outermost first): "pickle", "gzip-compressed pickle", "pickle in a zip
// archive", "pickle in an xz-compressed tar archive".
func Describe(chain []Format, inner Format) string {
	noun := inner.String()
	switch inner {
	case Unknown:
		noun = "file"
	case Empty:
		noun = "empty file"
	}
	if len(chain) == 0 {
		return noun
	}
	for k := len(chain) - 1; k >= 0; k-- {
		if c := chain[k]; c == Zip || c == Tar {
			outer := Describe(chain[:k], c)
			return Describe(chain[k+1:], inner) + " in " + article(outer) + " " + outer
		}
	}
	for k := len(chain) - 1; k >= 0; k-- {
		noun = chain[k].adjective() + "-compressed " + noun
	}
	return noun
}

// advice is what to do with a file of a format the loader does not read.
func advice(f Format) string {
	const save = "save the data with df.to_pickle(path) (pandas), pickle.dump, or np.save"
	switch f {
	case Empty:
		return "the upload or export produced no bytes; write the file again"
	case LZ4:
		return "only gzip, bz2, xz, zstd, zip and tar compression are read (joblib: use compress=3 or ('gzip', 3)); " + save
	case HDF5:
		return "read it in Python (pd.read_hdf / h5py) and " + save
	case Parquet:
		return "read it with pd.read_parquet and " + save
	case Arrow, Feather1:
		return "read it with pd.read_feather and " + save
	case ORC:
		return "read it with pd.read_orc and " + save
	case Excel:
		return "read it with pd.read_excel and " + save
	case SQLite:
		return "query it into a DataFrame (pd.read_sql) and " + save
	case PyTorch:
		return "convert the tensors to numpy arrays and " + save
	case CSV:
		return "read it with pd.read_csv and " + save
	case JSON:
		return "read it with pd.read_json and " + save
	}
	return save
}

// refusal is the error for a file of format f, wrapped in chain, that the
// loader does not read; head is its (unwrapped) first bytes.
func refusal(chain []Format, f Format, head []byte) *Error {
	what := Describe(chain, f)
	var msg string
	switch {
	case f == Unknown && len(head) > 0 && len(bytes.Trim(head, "\x00")) == 0:
		msg = fmt.Sprintf("not a pickle: %s whose first %d bytes are all zero (an empty tar archive, or space allocated but never written)",
			article(what)+" "+what, len(head))
	case f == Unknown && len(chain) == 0:
		msg = "not a pickle: starts with " + preview(head)
	case f == Unknown:
		msg = "not a pickle: " + article(what) + " " + what + " whose content starts with " + preview(head)
	case f == Empty && len(chain) == 0:
		msg = "not a pickle: the file is empty"
	default:
		msg = "not a pickle: " + article(what) + " " + what
	}
	return &Error{Kind: ErrNotReadable, What: what, Msg: msg + "; " + advice(f)}
}

// preview shows the first bytes of b for a message: up to 16 bytes in hex,
// and as text where they are printable ASCII.
func preview(b []byte) string {
	n := min(len(b), 16)
	text := make([]byte, n)
	printable := 0
	for i, c := range b[:n] {
		if c >= 0x20 && c < 0x7f {
			text[i] = c
			printable++
		} else {
			text[i] = '.'
		}
	}
	s := fmt.Sprintf("% x", b[:n])
	if len(b) > n {
		s += " …"
	}
	if printable*2 >= n && n > 0 {
		s += fmt.Sprintf(" (%q)", text)
	}
	return s
}

// article is "a" or "an" for the noun phrase s.
func article(s string) string {
	for _, p := range []string{"a", "e", "i", "o", "u", "xz", "HDF5", "LZ4", "SQLite", "Excel", "Arrow", "ORC"} {
		if strings.HasPrefix(s, p) {
			return "an"
		}
	}
	return "a"
}
