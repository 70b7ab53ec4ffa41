package pickleload

import (
	"slices"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/embedstream/embedstream/internal/table"
)

// Dicts keyed by id: df.to_dict("index") is {id: {column: value}} and
// df.to_dict() (orient "dict") is {column: {id: value}}; both are a dict
// whose values are dicts with one key set. keyedDict reads either as the
// DataFrame it came from (see doc.go, Shapes, for the rule that tells the
// orientations and a single record apart).

// The orientations of a dict of dicts.
const (
	orientNone  = iota
	orientIndex // {id: {column: value}}: to_dict("index")
	orientDict  // {column: {id: value}}: to_dict() / to_dict("dict")
)

// dictOf returns a dict's entries, or false.
func dictOf(v any) ([]entry, bool) {
	switch x := v.(type) {
	case *types.Dict:
		return dictEntries(x), true
	case *types.OrderedDict:
		return orderedEntries(x), true
	}
	return nil, false
}

// keyedDict converts a dict whose values are all dicts with the same keys
// (at least one) into one row per id; false when es is not such a dict (it
// is then a single record).
func (c *conv) keyedDict(es []entry) (*table.Table, bool, error) {
	if len(es) == 0 {
		return nil, false, nil
	}
	inner := make([][]entry, len(es))
	cells := 0
	for i, e := range es {
		d, ok := dictOf(e.value)
		if !ok {
			return nil, false, nil
		}
		inner[i] = d
		cells += len(d)
	}
	// shared inner dicts describe many cells in few bytes: charge them
	if err := c.spendOn(int64(cells)*valueCost, "a dict of %d dicts of %d values in all", len(es), cells); err != nil {
		return nil, false, err
	}
	keys := inner[0]
	if len(keys) == 0 {
		return nil, false, nil
	}
	pos := make(map[pyKey]int, len(keys))
	for j, e := range keys {
		if err := checkKey(e.key); err != nil {
			return nil, false, err
		}
		pos[keyOf(e.key)] = j
	}
	// vals[i][j]: the value of outer key i and inner key j (keys' order)
	vals := make([][]any, len(es))
	for i, d := range inner {
		if len(d) != len(keys) {
			return nil, false, nil
		}
		row := make([]any, len(keys))
		for _, e := range d {
			j, ok := pos[keyOf(e.key)]
			if !ok {
				return nil, false, nil // another key set: a record of dicts
			}
			row[j] = e.value
		}
		vals[i] = row
	}
	orient, err := c.orientation(es, keys, vals)
	if err != nil {
		return nil, false, err
	}
	outerNames, innerNames := names(es), names(keys)
	cols := innerNames
	if orient == orientDict {
		cols = outerNames
	}
	idName := ""
	for _, n := range []string{c.opts.KeyColumn, "index", "level_0"} {
		if n != "" && !slices.Contains(cols, n) {
			idName = n
			break
		}
	}
	if idName == "" {
		return nil, false, colErr(ErrUnsupported, "level_0", -1, "duplicate column name: the columns of a dict keyed by id take every name its key column could have")
	}
	var rows []any
	if orient == orientIndex {
		rows = make([]any, len(es))
		for i, e := range es {
			d := make(types.Dict, 0, len(keys)+1)
			d = append(d, types.DictEntry{Key: idName, Value: e.key})
			for j, k := range keys {
				d = append(d, types.DictEntry{Key: k.key, Value: vals[i][j]})
			}
			rows[i] = &d
		}
	} else {
		rows = make([]any, len(keys))
		for j, k := range keys {
			d := make(types.Dict, 0, len(es)+1)
			d = append(d, types.DictEntry{Key: idName, Value: k.key})
			for i, e := range es {
				d = append(d, types.DictEntry{Key: e.key, Value: vals[i][j]})
			}
			rows[j] = &d
		}
	}
	t, err := c.records(rows)
	return t, true, err
}

// orientation tells {id: {column: value}} from {column: {id: value}}: by
// the KeyColumn hint (the name of a column, among one side's keys only),
// then by types (the columns of a DataFrame each hold one type: the side
// whose groups do is the columns'), then by key types (column names are
// str, ids often are not). Failing all three it is an ErrUnsupported
// error.
func (c *conv) orientation(es, keys []entry, vals [][]any) (int, error) {
	outer, innerK := names(es), names(keys)
	if h := c.opts.KeyColumn; h != "" {
		inO, inI := slices.Contains(outer, h), slices.Contains(innerK, h)
		switch {
		case inI && !inO:
			return orientIndex, nil
		case inO && !inI:
			return orientDict, nil
		}
	}
	byInner, byOuter := true, true // columns of one type each, if the inner (outer) keys are the columns
	for j := range keys {
		var inf colInfer
		for i := range vals {
			addKind(&inf, vals[i][j])
		}
		byInner = byInner && oneType(&inf)
	}
	for i := range vals {
		var inf colInfer
		for _, v := range vals[i] {
			addKind(&inf, v)
		}
		byOuter = byOuter && oneType(&inf)
	}
	switch {
	case byInner && !byOuter:
		return orientIndex, nil
	case byOuter && !byInner:
		return orientDict, nil
	}
	strI, strO := allStr(keys), allStr(es)
	switch {
	case strI && !strO:
		return orientIndex, nil
	case strO && !strI:
		return orientDict, nil
	}
	keyKinds := "both sides' keys are str"
	if !strI {
		keyKinds = "neither side's keys are all str"
	}
	return orientNone, newErr(ErrUnsupported, -1, "", "a dict of %d dicts with the same %d keys (a DataFrame's to_dict?) whose orientation cannot be told: "+
		"its values do not say which keys are the columns and %s; write the DataFrame itself (df.to_pickle) or df.reset_index().to_dict(\"records\")",
		len(es), len(keys), keyKinds)
}

// addKind adds v's inference kind to inf.
func addKind(inf *colInfer, v any) {
	if isNull(v) {
		return
	}
	inf.seen[kindOf(v)] = true
	inf.nonNull++
}

// oneType reports whether the values inf saw make a typed column: not a
// JSON column of mixed kinds (a column of dicts or other values is one
// type).
func oneType(inf *colInfer) bool {
	typ, bigInts := inf.resolve()
	if typ != table.TypeJSON || bigInts || inf.nonNull == 0 {
		return true
	}
	for k, s := range inf.seen {
		if s && valueKind(k) != vkOther {
			return false
		}
	}
	return true
}

func allStr(es []entry) bool {
	for _, e := range es {
		if _, ok := e.key.(string); !ok {
			return false
		}
	}
	return true
}

func names(es []entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = keyName(e.key)
	}
	return out
}
