package portal

import (
	"errors"
	"fmt"
	"strings"
)

// ErrorClass is what an error_code means for the call that received it.
type ErrorClass int

// The classes of error codes. The zero value is ClassPermanent.
const (
	// ClassPermanent: the portal refused the call and the same call will be refused again
	// (Permanent reports true; an outbox parks the message at once).
	ClassPermanent ErrorClass = iota
	// ClassTransient: the portal could not take the call now; the same call may succeed later.
	ClassTransient
	// ClassSessionExpired: the session (or token) is no longer valid. The transport drops it,
	// logs in again once and repeats the call once.
	ClassSessionExpired
)

// String returns the name used in configuration: "permanent", "transient", "sessionExpired".
func (c ErrorClass) String() string {
	switch c {
	case ClassPermanent:
		return "permanent"
	case ClassTransient:
		return "transient"
	case ClassSessionExpired:
		return "sessionExpired"
	}
	return fmt.Sprintf("ErrorClass(%d)", int(c))
}

// ParseErrorClass reads a class name as String writes it.
func ParseErrorClass(s string) (ErrorClass, error) {
	for _, c := range []ErrorClass{ClassPermanent, ClassTransient, ClassSessionExpired} {
		if s == c.String() {
			return c, nil
		}
	}
	return 0, fmt.Errorf("portal: %q is not an error class (permanent, transient, sessionExpired)", s)
}

// DefaultSessionExpiredCode is the error_code by which the portal (and portalsim) says that a
// session is unknown or expired, when ErrorCodes.SessionExpired is empty.
const DefaultSessionExpiredCode = "-1"

// ErrorCodes sorts the error codes a portal answers into classes. The portal's codes are not
// published, so which code means what is configuration; a code listed in no class takes
// Default.
type ErrorCodes struct {
	// Transient codes: retrying later may succeed.
	Transient []string
	// SessionExpired codes: log in again (or get a new token) and repeat the call once.
	// Zero: ["-1"].
	SessionExpired []string
	// Permanent codes: the call will never succeed as it is.
	Permanent []string
	// Default is the class of every code listed nowhere: ClassPermanent (the zero value) or
	// ClassTransient.
	Default ErrorClass
}

// codeTable is ErrorCodes checked and indexed by code.
type codeTable struct {
	class map[string]ErrorClass
	def   ErrorClass
}

// table checks c and indexes it: a code that is empty, a success code ("0", "00") or listed in
// two classes, or a Default other than permanent or transient, is an error.
func (c ErrorCodes) table() (codeTable, error) {
	if c.Default != ClassPermanent && c.Default != ClassTransient {
		return codeTable{}, fmt.Errorf("portal: config: ErrorCodes.Default must be %s or %s, not %s",
			ClassPermanent, ClassTransient, c.Default)
	}
	expired := c.SessionExpired
	if len(expired) == 0 {
		expired = []string{DefaultSessionExpiredCode}
	}
	t := codeTable{class: map[string]ErrorClass{}, def: c.Default}
	var errs []error
	for _, list := range []struct {
		class ErrorClass
		codes []string
	}{{ClassTransient, c.Transient}, {ClassSessionExpired, expired}, {ClassPermanent, c.Permanent}} {
		for _, raw := range list.codes {
			code := strings.TrimSpace(raw)
			first, dup := t.class[code]
			switch {
			case code == "":
				errs = append(errs, fmt.Errorf("portal: config: ErrorCodes.%s holds an empty code", list.class))
			case code == "0" || code == "00":
				errs = append(errs, fmt.Errorf("portal: config: ErrorCodes.%s: %q is a success code", list.class, code))
			case dup && first != list.class:
				errs = append(errs, fmt.Errorf("portal: config: ErrorCodes.%s: %q is already %s", list.class, code, first))
			default:
				t.class[code] = list.class
			}
		}
	}
	return t, errors.Join(errs...)
}

// of returns the class of code.
func (t codeTable) of(code string) ErrorClass {
	if c, ok := t.class[code]; ok {
		return c
	}
	return t.def
}
