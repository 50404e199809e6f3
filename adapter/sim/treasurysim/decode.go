package treasurysim

import (
	"encoding/json"
	"fmt"
)

// The keyed requests are read from the generic value their schema was
// checked on (maps, slices, strings, json.Number), so each body is decoded
// once. The schema declares every field and its type, so a field of another
// type than the struct's cannot arrive here; numbers that do not fit are
// refused as encoding/json would refuse them.

// fromValue fills r from the validated body v.
func (r *sendRequest) fromValue(v any) error {
	o, _ := v.(map[string]any)
	d := fields{o: o}
	r.DocumentType = d.str("documentType")
	r.Procedure = d.str("procedure")
	r.DossierCode = d.str("dossierCode")
	r.SupplementNo = d.int("supplementNo")
	r.BudgetUnitCode = d.str("budgetUnitCode")
	r.TreasuryOfficeCode = d.str("treasuryOfficeCode")
	r.BudgetYear = d.int("budgetYear")
	r.TotalAmount = d.int64("totalAmount")
	r.Lines = d.lines("lines")
	if l, ok := o["documents"].([]any); ok {
		r.Documents = make([]requestDocument, 0, len(l))
	}
	for _, e := range d.list("documents") {
		dd := d.sub(e)
		r.Documents = append(r.Documents, requestDocument{Kind: dd.str("kind"), Lines: dd.lines("lines")})
		d.err = dd.err
	}
	if l, ok := o["attachments"].([]any); ok {
		r.Attachments = make([]requestAttachment, 0, len(l))
	}
	for _, e := range d.list("attachments") {
		a := d.sub(e)
		r.Attachments = append(r.Attachments, requestAttachment{SHA256: a.str("sha256"), MediaType: a.str("mediaType"),
			Size: a.int64("size"), Content: a.str("content")})
		d.err = a.err
	}
	if ev, ok := o["evidence"].(map[string]any); ok {
		e := fields{o: ev}
		r.Evidence = &evidence{ContentType: e.str("contentType"), SHA256: e.str("sha256"), Original: e.str("original")}
	}
	return d.err
}

// fromValue fills r from the validated body v.
func (r *withdrawRequest) fromValue(v any) error {
	o, _ := v.(map[string]any)
	d := fields{o: o}
	*r = withdrawRequest{Procedure: d.str("procedure"), DossierCode: d.str("dossierCode"),
		SupplementNo: d.int("supplementNo"), BudgetUnitCode: d.str("budgetUnitCode"),
		RequestDate: d.str("requestDate"), Reason: d.str("reason")}
	return d.err
}

// fields reads the members of one object, keeping the first number that
// does not fit its field.
type fields struct {
	o   map[string]any
	err error
}

func (d *fields) sub(v any) fields {
	o, _ := v.(map[string]any)
	return fields{o: o, err: d.err}
}

func (d *fields) str(k string) string {
	s, _ := d.o[k].(string)
	return s
}

func (d *fields) list(k string) []any {
	l, _ := d.o[k].([]any)
	return l
}

func (d *fields) int64(k string) int64 {
	n, ok := d.o[k].(json.Number)
	if !ok {
		return 0
	}
	i, err := n.Int64()
	if err != nil && d.err == nil {
		d.err = fmt.Errorf("%s: %s does not fit a 64-bit integer", k, n)
	}
	return i
}

func (d *fields) int(k string) int {
	i := d.int64(k)
	if int64(int(i)) != i && d.err == nil {
		d.err = fmt.Errorf("%s: %d does not fit an int", k, i)
	}
	return int(i)
}

// lines reads an array of lines: nil when absent or null, empty when
// empty, as json.Unmarshal reads it.
func (d *fields) lines(k string) []requestLine {
	l, ok := d.o[k].([]any)
	if !ok {
		return nil
	}
	out := make([]requestLine, 0, len(l))
	for _, e := range l {
		l := d.sub(e)
		bl := l.sub(l.o["budgetLine"])
		var rl requestLine
		rl.BudgetLine.Chapter, rl.BudgetLine.Item = bl.str("chapter"), bl.str("item")
		rl.Amount = l.int64("amount")
		out = append(out, rl)
		d.err = l.err
	}
	return out
}
