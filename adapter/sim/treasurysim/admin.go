package treasurysim

import (
	"io"
	"net/http"
)

// maxAdminBody bounds a PUT /sim/admin/faults body.
const maxAdminBody = 64 << 10

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
	mux.HandleFunc("GET /sim/admin/faults", s.getFaults)
	mux.HandleFunc("PUT /sim/admin/faults", s.putFaults)
	mux.HandleFunc("DELETE /sim/admin/faults", s.deleteFaults)
	mux.HandleFunc("/sim/admin/faults", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD, PUT, DELETE")
		writeRefusal(w, &refusal{status: http.StatusMethodNotAllowed, ReasonCode: ReasonInvalidRequest,
			Message: "method " + r.Method + " not allowed"})
	})
}

func (s *Sim) getFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Sim) putFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		writeRefusal(w, invalid("cannot read body"))
		return
	}
	var f Faults
	if err := f.UnmarshalJSON(body); err != nil {
		writeRefusal(w, invalid(err.Error()))
		return
	}
	if err := f.Validate(); err != nil {
		writeRefusal(w, invalid(err.Error()))
		return
	}
	s.SetFaults(f)
	s.log.Info("treasury-sim: faults set", "faults", f)
	writeJSON(w, http.StatusOK, f)
}

func (s *Sim) deleteFaults(w http.ResponseWriter, _ *http.Request) {
	s.SetFaults(Faults{})
	s.log.Info("treasury-sim: faults cleared")
	writeJSON(w, http.StatusOK, Faults{})
}
