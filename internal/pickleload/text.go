package pickleload

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeRawUnicodeEscape decodes a protocol-0 UNICODE argument
// (raw-unicode-escape: latin-1 bytes with \uXXXX and \UXXXXXXXX escapes).
func decodeRawUnicodeEscape(b []byte) (string, error) {
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\\' {
			// A run of k backslashes: an escape only when k is odd and a
			// 'u' or 'U' follows; the other backslashes are literal.
			k := 1
			for i+k < len(b) && b[i+k] == '\\' {
				k++
			}
			j := i + k
			if k%2 == 0 || j >= len(b) || (b[j] != 'u' && b[j] != 'U') {
				sb.WriteString(strings.Repeat("\\", k))
				i = j - 1
				continue
			}
			sb.WriteString(strings.Repeat("\\", k-1))
			i = j - 1 // b[i] is the escaping backslash, b[i+1] is u/U
			n := 4
			if b[i+1] == 'U' {
				n = 8
			}
			if i+2+n > len(b) {
				return "", errors.New("truncated \\u escape in UNICODE")
			}
			v, err := strconv.ParseUint(string(b[i+2:i+2+n]), 16, 32)
			if err != nil || v > utf8.MaxRune {
				return "", errors.New("bad \\u escape in UNICODE")
			}
			r := rune(v)
			if r >= 0xd800 && r <= 0xdbff && i+2+n+6 <= len(b) && b[i+2+n] == '\\' && b[i+3+n] == 'u' {
				// a surrogate pair written as two escapes
				if lo, err := strconv.ParseUint(string(b[i+4+n:i+8+n]), 16, 32); err == nil && lo >= 0xdc00 && lo <= 0xdfff {
					r = 0x10000 + (r-0xd800)<<10 + rune(lo-0xdc00)
					i += 6
				}
			}
			if r >= 0xd800 && r <= 0xdfff {
				return "", errors.New("lone surrogate in UNICODE")
			}
			sb.WriteRune(r)
			i += 1 + n
			continue
		}
		sb.WriteRune(rune(c)) // latin-1
	}
	return sb.String(), nil
}

// decodeStringRepr decodes a protocol-0 STRING argument: a quoted Python
// bytes repr with backslash escapes.
func decodeStringRepr(b []byte) ([]byte, error) {
	if len(b) < 2 || (b[0] != '\'' && b[0] != '"') || b[len(b)-1] != b[0] {
		return nil, errors.New("STRING argument is not quoted")
	}
	b = b[1 : len(b)-1]
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(b) {
			return nil, errors.New("trailing backslash in STRING")
		}
		switch e := b[i]; e {
		case '\\', '\'', '"':
			out = append(out, e)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'a':
			out = append(out, 7)
		case 'b':
			out = append(out, 8)
		case 'f':
			out = append(out, 12)
		case 'v':
			out = append(out, 11)
		case '\n':
		case 'x':
			if i+3 > len(b) {
				return nil, errors.New("truncated \\x escape in STRING")
			}
			v, err := strconv.ParseUint(string(b[i+1:i+3]), 16, 8)
			if err != nil {
				return nil, errors.New("bad \\x escape in STRING")
			}
			out = append(out, byte(v))
			i += 2
		default:
			if e >= '0' && e <= '7' {
				v := 0
				j := i
				for ; j < len(b) && j < i+3 && b[j] >= '0' && b[j] <= '7'; j++ {
					v = v*8 + int(b[j]-'0')
				}
				out = append(out, byte(v))
				i = j - 1
				continue
			}
			out = append(out, '\\', e)
		}
	}
	return out, nil
}
