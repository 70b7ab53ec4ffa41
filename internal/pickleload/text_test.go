package pickleload

import "testing"

func TestDecodeRawUnicodeEscape(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`abc`, "abc"},
		{`\u00e9t\u00e9`, "été"},
		{`\U0001f600`, "😀"},
		{`\ud83d\ude00`, "😀"},
		{`a\\u0041`, `a\\u0041`},
		{`a\\\u0041`, `a\\A`},
		{"caf\xe9", "café"}, // latin-1 byte
		{`\x`, `\x`},
	}
	for _, tt := range tests {
		got, err := decodeRawUnicodeEscape([]byte(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("decode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{`\u12`, `\uzzzz`, `\udc00`} {
		if _, err := decodeRawUnicodeEscape([]byte(bad)); err == nil {
			t.Errorf("decode(%q) succeeded", bad)
		}
	}
}

func TestDecodeStringRepr(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`'abc'`, "abc"},
		{`"it's"`, "it's"},
		{`'a\nb\t\\\''`, "a\nb\t\\'"},
		{`'\x00\xff'`, "\x00\xff"},
		{`'\101\0'`, "A\x00"},
	}
	for _, tt := range tests {
		got, err := decodeStringRepr([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("decode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{`abc`, `'abc`, `'\x4'`, `'\'`} {
		if _, err := decodeStringRepr([]byte(bad)); err == nil {
			t.Errorf("decode(%q) succeeded", bad)
		}
	}
}
