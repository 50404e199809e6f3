package treasurysim

import (
	"net/http"

	"github.com/kbnn/dvc/adapter/sim/simkit"
)

// adminRoutes adds the fault administration routes. They are not part of the treasury
// contract and are never subject to faults:
//
//	GET    /sim/admin/faults   the current faults (200, JSON as Faults.MarshalJSON writes)
//	PUT    /sim/admin/faults   replace them; missing fields are zero; unknown fields, malformed
//	                           durations and invalid values: 400 INVALID_REQUEST (200, the new faults)
//	DELETE /sim/admin/faults   clear them, i.e. recovery (200, the zero faults)
//
// Documents, allotments and tokens are left alone.
func (s *Sim) adminRoutes(mux *http.ServeMux) {
	s.faults.Routes(mux, simkit.Admin[Faults]{Name: "treasury-sim", Log: s.log, Write: writeJSON,
		Decode: func(b []byte) (f Faults, err error) { return f, f.UnmarshalJSON(b) },
		Refuse: func(w http.ResponseWriter, msg string) { writeRefusal(w, invalid(msg)) }})
	mux.HandleFunc("/sim/admin/faults", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD, PUT, DELETE")
		writeRefusal(w, &refusal{status: http.StatusMethodNotAllowed, ReasonCode: ReasonInvalidRequest,
			Message: "method " + r.Method + " not allowed"})
	})
}

// maxAdminBody bounds the body of an admin request.
const maxAdminBody = 64 << 10
