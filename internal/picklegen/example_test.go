package picklegen_test

import (
	"bytes"
	"fmt"

	"github.com/embedstream/embedstream/internal/picklegen"
	"github.com/embedstream/embedstream/internal/pickleload"
)

// A generated DataFrame pickle, loaded as the worker loads it, gives
// exactly the expected records.
func ExampleWriteFrame() {
	spec := picklegen.Spec{Rows: 2500, Dim: 384, Seed: 1}
	var file bytes.Buffer
	if _, err := picklegen.WriteFrame(&file, spec.Source()); err != nil {
		panic(err)
	}
	tbl, err := pickleload.Load(file.Bytes(), pickleload.Options{})
	if err != nil {
		panic(err)
	}
	for _, f := range tbl.Schema() {
		fmt.Println(f.Name, f.Type, f.VectorDim)
	}
	want, err := picklegen.Expect(spec.Source(), picklegen.Frame)
	if err != nil {
		panic(err)
	}
	fmt.Println(tbl.NumRows, "rows,", want.Records, "expected records")
	// Output:
	// recruit_id STRING 0
	// title STRING 0
	// company STRING 0
	// description STRING 0
	// location STRING 0
	// skills STRING_LIST 0
	// min_career_years INT64 0
	// created_at TIMESTAMP 0
	// embedding FLOAT_VECTOR 384
	// 2500 rows, 2500 expected records
}
