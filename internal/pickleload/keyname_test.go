package pickleload

import (
	"testing"

	"github.com/nlpodyssey/gopickle/types"
)

// TestKeyNameTupleRepr: a tuple label is named as Python's str() of the
// tuple prints it (repr of its items; expectations from CPython 3.11).
func TestKeyNameTupleRepr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		items []any
		want  string
	}{
		{[]any{"a", "b"}, `('a', 'b')`},
		{[]any{"it's"}, `("it's",)`},
		{[]any{`say "hi"`}, `('say "hi"',)`},
		{[]any{`both ' and "`}, `('both \' and "',)`},
		{[]any{"tab\there\n"}, `('tab\there\n',)`},
		{[]any{`back\slash`}, `('back\\slash',)`},
		{[]any{"esc\x1b[0m"}, `('esc\x1b[0m',)`},
		{[]any{"nbsp\u00a0x"}, `('nbsp\xa0x',)`},
		{[]any{"\u3000wide"}, `('\u3000wide',)`},
		{[]any{"\u200bzw"}, `('\u200bzw',)`},
		{[]any{"\U0001f600 emoji"}, "('\U0001f600 emoji',)"},
		{[]any{"한글"}, `('한글',)`},
		{[]any{[]byte("by'tes\x00")}, `(b"by'tes\x00",)`},
		{[]any{1, "x"}, `(1, 'x')`},
	} {
		tup := types.Tuple(tc.items)
		if got := keyName(&tup); got != tc.want {
			t.Errorf("keyName(%q) = %s, want %s", tc.items, got, tc.want)
		}
	}
}
