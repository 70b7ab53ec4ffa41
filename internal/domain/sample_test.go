package domain_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/pickleload"
)

// TestSampleData validates the shipped sample pickles, loaded by the real
// loader, against their built-in domains, then breaks their ids.
func TestSampleData(t *testing.T) {
	t.Parallel()
	for file, name := range map[string]string{
		"processed_recruitment_data.pkl": "recruit",
		"processed_candidate_data.pkl":   "candidate",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tb, err := pickleload.LoadFile(filepath.Join("..", "..", "data", file), pickleload.Options{})
			if err != nil {
				t.Fatalf("load %s: %v", file, err)
			}
			d := lookup(t, name)
			if err := d.Validate(tb); err != nil {
				t.Fatalf("sample %s: %v", file, err)
			}
			id := tb.Column(d.IDField)
			if id.Len() < 10 {
				t.Fatalf("sample has %d rows", id.Len())
			}
			id.Strings = append([]string(nil), id.Strings...)
			id.Int64s = append([]int64(nil), id.Int64s...)
			if id.Strings != nil {
				id.Strings[9] = id.Strings[4]
			} else {
				id.Int64s[9] = id.Int64s[4]
			}
			err = d.Validate(tb)
			if !errors.Is(err, domain.ErrValidation) || !strings.Contains(err.Error(), "row 9: duplicate value") || !strings.Contains(err.Error(), "(first at row 4)") {
				t.Fatalf("duplicate id: %v", err)
			}
		})
	}
}
