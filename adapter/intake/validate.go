package intake

import (
	"context"
	"errors"
	"strings"

	"github.com/kbnn/dvc/adapter/mapping"
	"github.com/kbnn/dvc/adapter/problem"
)

// Report is the answer to a validation (POST
// /v1/procedures/{procedure}/dossiers:validate): whether the dossier would
// pass every check a submission runs before anything is stored or sent, and
// every reason it would not, each as the problem body a submission would get
// (in the request's language).
type Report struct {
	Valid     bool   `json:"valid"`
	Procedure string `json:"procedure"`
	// MaHoSo and SoBoSung are the dossier's code and supplement number,
	// when its signed content could be read.
	MaHoSo   string         `json:"maHoSo,omitempty"`
	SoBoSung *int           `json:"soBoSung,omitempty"`
	Problems []problem.Body `json:"problems"`
}

// Validate runs the whole check of a submission without storing or sending
// anything: the form and signatures, then the signer roles, the definition,
// the dossier code, the procedure code, the business rules, the registered
// signers and the listed files (in the request's parts or uploaded
// beforehand, as for a submission), collecting every reason. A failed signature ends the
// check (nothing unsigned is read), and so does a dossier that does not
// match its definition (the later checks read its fields). The idempotency
// key, the supplement state and the treasury are not consulted. An error is
// returned only when the check itself cannot run: an unknown procedure, or
// the signer registry or every source of a signer certificate's revocation
// status unavailable.
func (s *Service) Validate(ctx context.Context, sub Submission) (*Report, error) {
	p := s.procedures[sub.Procedure]
	if p == nil {
		return nil, unknownProcedure(sub.Procedure)
	}
	rep := &Report{Procedure: p.ID, Problems: []problem.Body{}}
	reason := func(err error) {
		rep.Problems = append(rep.Problems, problem.From(err).BodyIn(sub.Lang, sub.RequestID))
	}
	signers, read, err := s.verifySignatures(sub)
	if err != nil {
		if notCheckedNow(err) {
			return nil, err
		}
		reason(err)
		return rep, nil
	}
	if err := checkRoles(p.RequiredRoles, signers); err != nil {
		reason(err)
	}
	obj, err := read(p.Definition)
	if err != nil {
		reason(err)
		return rep, nil
	}
	v := newVerified(p, obj, signers)
	rep.MaHoSo, rep.SoBoSung = v.MaHoSo, &v.SoBoSung
	if !UnitAllowed(sub.Units, v.Unit()) {
		reason(unitNotAllowed(v.Unit(), "/"+unitPath(p)))
	}
	content := s.checkContent(v)
	for _, e := range content {
		reason(e)
	}
	if len(content) == 0 {
		// What the definition and the rules take, the mapping may still
		// refuse (an integer written 5.5e7, a leap second): a submission
		// would be refused then, so the report says so too.
		if _, err := p.Mapper.Apply(v.Value, mapping.Context{Procedure: p.ID, ProcedureCode: p.Code}); err != nil {
			reason(mappingRefused(err))
		}
	}
	if err := s.checkRegistered(ctx, v); err != nil {
		var pe *problem.Error
		if errors.As(err, &pe) && pe.Kind == problem.StoreUnavailable {
			return nil, err
		}
		reason(err)
	}
	if _, err := s.gatherFiles(ctx, sub, v, false, prefetched{}); err != nil {
		var pe *problem.Error
		if errors.As(err, &pe) && pe.Kind == problem.StoreUnavailable {
			return nil, err
		}
		reason(err)
	}
	rep.Valid = len(rep.Problems) == 0
	return rep, nil
}

// mappingRefused is the refusal of a dossier that the definition and the
// rules took but the mapping cannot turn into a treasury document (422
// schema-violation), naming the field.
func mappingRefused(err error) error {
	e := problem.Wrap(problem.SchemaViolation, err, "The dossier cannot be mapped to a treasury document.")
	var ae *mapping.ApplyError
	if errors.As(err, &ae) {
		e.Detail = "The dossier cannot be mapped to a treasury document: " + ae.From + ": " + ae.Err.Error()
		e.Fields = []problem.FieldError{{Path: mappingPointer(ae.From), Message: ae.Err.Error()}}
	}
	return e
}

// mappingPointer writes a mapping's dossier location ("taiLieu[0]/soTien")
// as the JSON pointer the problem's errors[] use ("/taiLieu/0/soTien").
func mappingPointer(from string) string {
	from = strings.ReplaceAll(from, "[]", "")
	return "/" + indexBrackets.Replace(from)
}

var indexBrackets = strings.NewReplacer("[", "/", "]", "")

// notCheckedNow reports a verification error that says nothing of the
// dossier: the check could not be made now (revocation unknown, no slot
// for the slower signature path). Validation answers it as submission
// does, 503 with Retry-After, rather than as a finding.
func notCheckedNow(err error) bool {
	var pe *problem.Error
	return errors.As(err, &pe) && (pe.Kind == problem.RevocationUnavailable || pe.Kind == problem.ServerBusy)
}
