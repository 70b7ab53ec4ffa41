package clip

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxEcho is the most bytes of an outside value that [Quote] echoes, and
// the bound of a job's error message (queue.MaxErrorBytes).
const MaxEcho = 2 << 10

// Quote returns s quoted as %q does. A value longer than [MaxEcho] bytes is
// cut there first (on a UTF-8 boundary) and the quote is followed by a
// marker saying how many bytes were cut: "aaaa…"... (+437120 bytes cut).
func Quote(s string) string {
	if len(s) <= MaxEcho {
		return strconv.Quote(s)
	}
	head := cutAt(s, MaxEcho)
	return fmt.Sprintf("%q... (+%d bytes cut)", head, len(s)-len(head))
}

// Text returns s when it is at most max bytes long; otherwise its first
// bytes, cut on a UTF-8 boundary, followed by a marker saying how many
// bytes were cut, " ... (+N bytes cut)", all within max bytes (for max
// of at least 64: below that the marker alone may not fit, and the result
// is just cut to max).
func Text(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max < 64 {
		return cutAt(s, max)
	}
	// The marker's length depends on the number it holds: reserve room for
	// the longest (the whole of s cut).
	reserve := len(marker(len(s)))
	head := cutAt(s, max-reserve)
	return head + marker(len(s)-len(head))
}

func marker(n int) string { return fmt.Sprintf(" ... (+%d bytes cut)", n) }

// cutAt returns the longest prefix of s of at most n bytes that does not
// split a UTF-8 sequence.
func cutAt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// RedactURL returns rawURL with the password of its user info replaced by
// "xxxxx" (a user name alone, which NATS takes as a token, is replaced
// too). A comma-separated list of URLs, as NATS_URL may hold, is redacted
// URL by URL. Text that does not parse as a URL is returned with anything
// between "//" and "@" replaced, so a malformed URL cannot leak its
// secret either.
func RedactURL(rawURL string) string {
	if !strings.Contains(rawURL, "@") {
		return rawURL
	}
	parts := strings.Split(rawURL, ",")
	for i, p := range parts {
		parts[i] = redactOne(p)
	}
	return strings.Join(parts, ",")
}

func redactOne(raw string) string {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "@") {
		return raw
	}
	u, err := url.Parse(s)
	if err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx") // a token
		}
		return u.String()
	}
	// Unparseable, or user info url.Parse did not see: hide everything
	// from the scheme's "//" (or the start) to the last "@".
	at := strings.LastIndex(s, "@")
	start := 0
	if i := strings.Index(s, "//"); i >= 0 && i < at {
		start = i + 2
	}
	return s[:start] + "xxxxx" + s[at:]
}
