package picklegen

import (
	"encoding/binary"
	"io"
	"math"
	"time"
)

// WriteRecords writes src as pickle.dump(recruit_records(df), f,
// protocol=4) writes generate.py's list of dicts: one dict per row with the
// column names as keys (shared str objects), min_career_years an int,
// created_at a datetime.datetime, embedding a list of floats (the float32
// values as Python floats), location None where missing. It returns the
// bytes written and the first write error, or an error wrapping [ErrShape]
// for a source with no rows or a zero dimension.
func WriteRecords(w io.Writer, src Source) (int64, error) {
	if err := checkShape(src); err != nil {
		return 0, err
	}
	g := &recordsGraph{src: src, pool: newPoolSlots()}
	for i, c := range Columns {
		g.keys[i] = newStr(c)
	}
	// datetime.datetime's __module__ and __qualname__ are distinct str
	// objects, both "datetime".
	g.datetime = global(newStr("datetime"), "datetime")
	return dump(w, 4, &pyList{n: src.Rows(), item: g.record})
}

type recordsGraph struct {
	src      Source
	keys     [len(Columns)]*pyStr
	datetime *pyGlobal
	pool     []int
	row      Recruit
	state    [10]byte
}

// record saves row i's dict.
func (g *recordsGraph) record(p *pickler, i int) {
	r := &g.row
	g.src.Fill(i, AllFields, r)
	p.boundary()
	p.op(opEmptyDict)
	p.memoPut()
	p.batchDict(len(Columns), func(k int) {
		p.save(g.keys[k])
		switch k {
		case 0:
			p.saveNewStr(r.ID)
		case 1:
			saveStr(p, r.Title, g.pool)
		case 2:
			saveStr(p, r.Company, g.pool)
		case 3:
			p.saveNewStr(r.Description)
		case 4:
			if r.NoLocation {
				p.saveNone()
			} else {
				saveStr(p, r.Location, g.pool)
			}
		case 5:
			saveStrList(p, r.Skills, g.pool)
		case 6:
			p.saveInt(r.MinCareerYears)
		case 7:
			g.saveDatetime(p, r.CreatedAt)
		case 8:
			saveFloatList(p, r.Embedding)
		}
	})
}

// saveDatetime saves a naive datetime.datetime as its __reduce_ex__(4)
// gives it: datetime(bytes) with the 10-byte state (year big-endian,
// month, day, hour, minute, second, microsecond big-endian in 3 bytes).
func (g *recordsGraph) saveDatetime(p *pickler, us int64) {
	t := time.UnixMicro(us).UTC()
	micro := t.Nanosecond() / 1000
	g.state = [10]byte{byte(t.Year() >> 8), byte(t.Year()), byte(t.Month()), byte(t.Day()),
		byte(t.Hour()), byte(t.Minute()), byte(t.Second()), byte(micro >> 16), byte(micro >> 8), byte(micro)}
	p.boundary() // the datetime
	p.save(g.datetime)
	p.boundary() // its 1-tuple of arguments
	p.boundary() // the bytes
	p.writeLarge(p.bytesHeader(int64(len(g.state))), g.state[:])
	p.memoPut()
	p.op(opTuple1)
	p.memoPut()
	p.op(opReduce)
	p.memoPut()
}

// saveFloatList saves a new list of Python floats (the float32 values
// widened): batchList with saveFloat inlined, the hot loop of a records
// file.
func saveFloatList(p *pickler, v []float32) {
	p.boundary()
	p.op(opEmptyList)
	p.memoPut()
	if len(v) == 1 {
		p.saveFloat(float64(v[0]))
		p.op(opAppend)
		return
	}
	for i := 0; i < len(v); {
		p.op(opMark)
		for end := min(i+batchSize, len(v)); i < end; i++ {
			p.boundary()
			p.open()
			p.buf = append(p.buf, opBinFloat)
			p.buf = binary.BigEndian.AppendUint64(p.buf, math.Float64bits(float64(v[i])))
		}
		p.op(opAppends)
	}
}
