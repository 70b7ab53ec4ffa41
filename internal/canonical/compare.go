package canonical

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strings"
)

// Compare reports how two canonical JSONL streams differ, or nil when they
// are equal by the canonical rules: same number of lines; per line the same
// keys in the same order; integers exactly equal; other numbers equal within
// a relative 1e-6; everything else exactly equal. The error names the first
// differing line and key.
func Compare(got, want io.Reader) error {
	gs, ws := newLineScanner(got), newLineScanner(want)
	line := 0
	for {
		g, gok := gs.next()
		w, wok := ws.next()
		if gs.err != nil {
			return gs.err
		}
		if ws.err != nil {
			return ws.err
		}
		if !gok && !wok {
			return nil
		}
		line++
		if !gok {
			return fmt.Errorf("line %d: got end of input, want %.200s", line, w)
		}
		if !wok {
			return fmt.Errorf("line %d: got %.200s, want end of input", line, g)
		}
		gv, err := decodeOrdered(g)
		if err != nil {
			return fmt.Errorf("line %d of got: %w", line, err)
		}
		wv, err := decodeOrdered(w)
		if err != nil {
			return fmt.Errorf("line %d of want: %w", line, err)
		}
		if err := equal(gv, wv, "$"); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
}

type lineScanner struct {
	s   *bufio.Scanner
	err error
}

func newLineScanner(r io.Reader) *lineScanner {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 256<<20)
	return &lineScanner{s: s}
}

func (l *lineScanner) next() ([]byte, bool) {
	for l.s.Scan() {
		b := bytes.TrimSpace(l.s.Bytes())
		if len(b) > 0 {
			return b, true
		}
	}
	l.err = l.s.Err()
	return nil, false
}

// object is a JSON object with its key order kept.
type object struct {
	keys []string
	vals []any
}

func decodeOrdered(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	v, err := decodeValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(d *json.Decoder) (any, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				o.keys = append(o.keys, k.(string))
				o.vals = append(o.vals, v)
			}
			_, err := d.Token()
			return o, err
		case '[':
			var a []any
			for d.More() {
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := d.Token()
			if a == nil {
				a = []any{}
			}
			return a, err
		}
	}
	return tok, nil
}

func equal(g, w any, path string) error {
	switch wv := w.(type) {
	case *object:
		gv, ok := g.(*object)
		if !ok {
			return fmt.Errorf("%s: got %s, want an object", path, show(g))
		}
		if strings.Join(gv.keys, ",") != strings.Join(wv.keys, ",") {
			return fmt.Errorf("%s: got keys %q, want %q", path, gv.keys, wv.keys)
		}
		for i, k := range wv.keys {
			if err := equal(gv.vals[i], wv.vals[i], path+"."+k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		gv, ok := g.([]any)
		if !ok {
			return fmt.Errorf("%s: got %s, want an array", path, show(g))
		}
		if len(gv) != len(wv) {
			return fmt.Errorf("%s: got %d elements, want %d", path, len(gv), len(wv))
		}
		for i := range wv {
			if err := equal(gv[i], wv[i], fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case json.Number:
		gv, ok := g.(json.Number)
		if !ok {
			return fmt.Errorf("%s: got %s, want number %s", path, show(g), wv)
		}
		if numbersEqual(gv, wv) {
			return nil
		}
		return fmt.Errorf("%s: got %s, want %s", path, gv, wv)
	default:
		if g != w {
			return fmt.Errorf("%s: got %s, want %s", path, show(g), show(w))
		}
		return nil
	}
}

func numbersEqual(g, w json.Number) bool {
	if isInteger(g) && isInteger(w) {
		gi, ok1 := new(big.Int).SetString(string(g), 10)
		wi, ok2 := new(big.Int).SetString(string(w), 10)
		return ok1 && ok2 && gi.Cmp(wi) == 0
	}
	gf, err1 := g.Float64()
	wf, err2 := w.Float64()
	if err1 != nil || err2 != nil {
		return false
	}
	if gf == wf {
		return true
	}
	return math.Abs(gf-wf) <= 1e-6*math.Max(math.Abs(gf), math.Abs(wf))
}

func isInteger(n json.Number) bool {
	return !strings.ContainsAny(string(n), ".eE")
}

func show(v any) string {
	switch t := v.(type) {
	case *object:
		return "an object"
	case []any:
		return "an array"
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", t)
	default:
		return fmt.Sprint(t)
	}
}
