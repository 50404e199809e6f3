package intake

import (
	"context"
	"fmt"
	"strings"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/trust"
)

// SignerPaths say where an accepted dossier of a procedure lists the
// signers it registers for its unit (procedures.<id>.signers): List is the
// list of entries, Role, Serial and Issuer paths inside one entry (Issuer
// optional).
type SignerPaths struct {
	List, Role, Serial, Issuer string
}

// entriesAt returns the objects of the list at path ("a/b") of a value; a
// name ending in "[]" on the way ("taiLieu[]/mauChuKy") stands for every
// element of that list, in order.
func entriesAt(v any, path string) []map[string]any {
	vals := []any{v}
	for name := range strings.SplitSeq(path, "/") {
		each := strings.HasSuffix(name, "[]")
		name = strings.TrimSuffix(name, "[]")
		var next []any
		for _, x := range vals {
			obj, ok := x.(map[string]any)
			if !ok {
				continue
			}
			if !each {
				next = append(next, obj[name])
				continue
			}
			items, _ := obj[name].([]any)
			next = append(next, items...)
		}
		vals = next
	}
	var out []map[string]any
	for _, x := range vals {
		items, _ := x.([]any)
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

func stringAt(v map[string]any, path string) string {
	if path == "" {
		return ""
	}
	var cur any = v
	for name := range strings.SplitSeq(path, "/") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = obj[name]
	}
	s, _ := cur.(string)
	return strings.TrimSpace(s)
}

// checkRegistered refuses a dossier of a procedure that needs registered
// signers when one of its signers (with a role) is not registered for the
// dossier's unit in that role, with that serial and issuer. It runs for a
// new document, under the reservation and the claim and before anything is
// sent (send), unless a store that can made the check the first step of
// the reservation's own round trip and found every registration
// (foldingStart); a store failure fails closed. /validate runs it too.
func (s *Service) checkRegistered(ctx context.Context, v *Verified) error {
	return s.checkRegistrations(ctx, v.Unit(), s.wantRegistered(v))
}

// checkRegistrations refuses when unit lacks one of want (none: nothing
// to check, nothing read).
func (s *Service) checkRegistrations(ctx context.Context, unit string, want []signers.Registration) error {
	if len(want) == 0 {
		return nil
	}
	i, err := s.signers.FirstMissing(ctx, unit, want...)
	if err != nil {
		return storeDown(err)
	}
	if i < 0 {
		return nil
	}
	return notRegistered(unit, want[i])
}

// wantRegistered lists the registrations checkRegistered asks of the
// dossier's signers: none when the check is off or the procedure does not
// need it.
func (s *Service) wantRegistered(v *Verified) []signers.Registration {
	if !s.requireRegistered || !v.Procedure.RegisteredSigners {
		return nil
	}
	unit := v.Unit()
	var want []signers.Registration
	for _, sg := range v.Signers {
		if sg.Role == "" {
			continue
		}
		want = append(want, signers.Registration{Unit: unit, Role: sg.Role,
			Serial: signers.SerialOf(sg.Cert.SerialNumber), Issuer: signers.IssuerOf(sg.Cert)})
	}
	return want
}

// notRegistered is the refusal of a dossier whose signer w is not
// registered for unit.
func notRegistered(unit string, w signers.Registration) error {
	return problem.New(problem.SignerNotRegistered, fmt.Sprintf(
		"The certificate with serial %s (issuer %s) is not registered for budget unit %s as %s.", w.Serial, w.Issuer, unit, w.Role)).
		VI(fmt.Sprintf("Chứng thư số số hiệu %s (tổ chức cấp %s) chưa được đăng ký cho đơn vị %s với vai trò %s.", w.Serial, w.Issuer, unit, w.Role))
}

// specimen reads the signers an account-registration dossier asks to
// register for its unit (a procedure with signer paths; nil for others).
// An entry's issuer is its issuer value when that is a distinguished name;
// else the issuer of the dossier's own signer certificate with the entry's
// serial; an entry with neither, an unknown role or a malformed serial is
// left out and logged. The dossier's record keeps them; they are
// registered when the treasury reports the account opened
// (statusflow, procedures.<id>.signers.on), never on the treasury's 202
// alone: anyone with a trusted certificate could otherwise register
// signers for any unit.
func (s *Service) specimen(sub Submission, v *Verified) []dossier.SpecimenSigner {
	sp := v.Procedure.Signers
	if sp == nil {
		return nil
	}
	log := s.log.With("request_id", sub.RequestID, "procedure", v.Procedure.ID, "maHoSo", v.MaHoSo, "unit", v.Unit())
	var out []dossier.SpecimenSigner
	for i, e := range entriesAt(v.Value, sp.List) {
		role, raw := stringAt(e, sp.Role), stringAt(e, sp.Serial)
		skip := func(why string) {
			log.Warn("specimen signer left out", "entry", i, "role", role, "serial", raw, "reason", why)
		}
		if !s.roles[role] {
			skip("role is not a signature role (signatures.roles)")
			continue
		}
		serial, err := signers.CanonicalSerial(raw)
		if err != nil {
			skip(err.Error())
			continue
		}
		issuer, err := signers.CanonicalDN(stringAt(e, sp.Issuer))
		if err != nil {
			issuer = issuerOfSigner(v.Signers, serial)
		}
		if issuer == "" {
			skip("issuer unknown: no issuer in the entry and no signer of the dossier has this serial")
			continue
		}
		out = append(out, dossier.SpecimenSigner{Role: role, Serial: serial, Issuer: issuer})
	}
	if len(out) == 0 {
		log.Warn("accepted account registration lists no signer to register")
	}
	return out
}

// issuerOfSigner is the canonical issuer of the signer certificate with
// this canonical serial, "" when none has it.
func issuerOfSigner(ss []trust.Signer, serial string) string {
	for _, sg := range ss {
		if signers.SerialOf(sg.Cert.SerialNumber) == serial {
			return signers.IssuerOf(sg.Cert)
		}
	}
	return ""
}
