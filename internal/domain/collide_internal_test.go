package domain

import (
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/table"
)

// TestDuplicateIDsWhenHashesCollide checks that the id index finds exactly
// the first duplicate when every id hashes alike: values are compared, not
// hashes.
func TestDuplicateIDsWhenHashesCollide(t *testing.T) {
	saved := idHash
	idHash = func(string) uint64 { return 42 }
	t.Cleanup(func() { idHash = saved })

	d := Builtin()[0] // recruit
	ids := []string{"a", "b", "c", "d", "b", "a"}
	tb := &table.Table{NumRows: len(ids), Columns: []*table.Column{
		{Field: table.Field{Name: "recruit_id", Type: table.TypeString}, Strings: ids},
		{Field: table.Field{Name: "title", Type: table.TypeString}, Strings: make([]string, len(ids))},
	}}
	err := d.Validate(tb)
	if err == nil || !strings.Contains(err.Error(), `row 4: duplicate value "b" (first at row 1)`) {
		t.Fatalf("err = %v, want the duplicate at row 4", err)
	}
	tb.Columns[0].Strings = []string{"a", "b", "c", "d", "e", "f"}
	if err := d.Validate(tb); err != nil {
		t.Fatalf("distinct ids with colliding hashes: %v", err)
	}
}
