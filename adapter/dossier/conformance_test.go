package dossier_test

import (
	"testing"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/testkit/storetest"
)

func TestMemoryListConformance(t *testing.T) {
	storetest.RunDossiers(t, func(*testing.T) dossier.Store { return dossier.NewMemory() })
}
