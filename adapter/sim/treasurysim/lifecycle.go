package treasurysim

import (
	"fmt"
	"io/fs"
	"path"
	"sync"

	"github.com/kbnn/dvc/adapter/statusmap"
	"github.com/kbnn/dvc/mappings"
	"github.com/kbnn/dvc/schemas"
)

// lifecycles are the procedures' lifecycles (mappings/<procedure>/status.yaml), the same
// tables the adapter delivers by: the simulated treasury moves a document only as its
// procedure's lifecycle allows, so that its timed path never walks a refused or finished
// dossier on.
var lifecycles = sync.OnceValues(func() (map[string]*statusmap.Map, error) {
	raw, err := schemas.FS.ReadFile(eventSchemaFile)
	if err != nil {
		return nil, err
	}
	statuses, err := statusmap.SchemaStatuses(raw)
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(mappings.FS, "*/status.yaml")
	if err != nil {
		return nil, err
	}
	out := map[string]*statusmap.Map{}
	for _, f := range files {
		p := path.Dir(f)
		if out[p], err = statusmap.Load(mappings.FS, p, statuses); err != nil {
			return nil, fmt.Errorf("treasurysim: %w", err)
		}
	}
	return out, nil
})

// lifecycleOf returns the lifecycle of a procedure, or nil for a procedure without one (its
// documents move to any status).
func lifecycleOf(procedure string) *statusmap.Map {
	m, err := lifecycles()
	if err != nil {
		panic(err.Error()) // the embedded tables are checked by the package tests
	}
	return m[procedure]
}

// move returns the national code a document of procedure at code reaches with status, and
// whether its lifecycle allows the move.
func move(procedure string, code int, status string) (int, bool) {
	m := lifecycleOf(procedure)
	if m == nil {
		return code, true
	}
	tr, ok := m.Next(code, status)
	return tr.To, ok
}

// halted reports whether a document of procedure at code waits: at a final status (nothing
// moves it again) or at a correction request (the unit's resubmission is a new document,
// with its own path). Only an on-demand status the lifecycle allows moves it on.
func halted(procedure string, code int) bool {
	m := lifecycleOf(procedure)
	return m != nil && (m.Final(code) || code == statusmap.CodeCorrectionRequested)
}
