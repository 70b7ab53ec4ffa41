package clip_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/embedstream/embedstream/internal/clip"
)

func TestQuote(t *testing.T) {
	t.Parallel()
	if got := clip.Quote(`a"b`); got != `"a\"b"` {
		t.Errorf("short value: %s", got)
	}
	long := strings.Repeat("k", 440_000)
	got := clip.Quote(long)
	if len(got) > clip.MaxEcho+64 {
		t.Errorf("quote of a 440 KB value is %d bytes", len(got))
	}
	if !strings.HasSuffix(got, "(+437952 bytes cut)") {
		t.Errorf("quote does not say how much was cut: ...%s", got[len(got)-40:])
	}
	// Cut on a rune boundary: the quote holds no escaped partial rune.
	euro := clip.Quote(strings.Repeat("€", 2000))
	if strings.Contains(euro, `\x`) {
		t.Errorf("quote splits a rune: %s", euro[len(euro)-60:])
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	if got := clip.Text("short", 100); got != "short" {
		t.Errorf("short text: %q", got)
	}
	for _, s := range []string{strings.Repeat("x", 10_000), strings.Repeat("€", 5000)} {
		got := clip.Text(s, 2048)
		if len(got) > 2048 || !utf8.ValidString(got) || !strings.Contains(got, "bytes cut)") {
			t.Errorf("Text of %d bytes: %d bytes, valid %v, tail %q", len(s), len(got), utf8.ValidString(got), got[len(got)-30:])
		}
	}
	if got := clip.Text(strings.Repeat("x", 100), 10); got != strings.Repeat("x", 10) {
		t.Errorf("tiny max: %q", got)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                   "nats://127.0.0.1:4222",
		"nats://user:s3cret@nats:4222":            "nats://user:xxxxx@nats:4222",
		"nats://tok3n@nats:4222":                  "nats://xxxxx@nats:4222",
		"nats://a:p1@h1:4222,nats://b:p2@h2:4222": "nats://a:xxxxx@h1:4222,nats://b:xxxxx@h2:4222",
		"nats://h1:4222, tls://u:p@h2:4222":       "nats://h1:4222,tls://u:xxxxx@h2:4222",
		"nats://us er:p%zz@host":                  "nats://xxxxx@host",
		"user:pw@host:4222":                       "xxxxx@host:4222",
	} {
		got := clip.RedactURL(in)
		if got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
		for _, secret := range []string{"s3cret", "tok3n", "p1", "p2", "p%zz", "pw"} {
			if strings.Contains(in, secret) && strings.Contains(got, ":"+secret) {
				t.Errorf("RedactURL(%q) = %q keeps %q", in, got, secret)
			}
		}
	}
}
