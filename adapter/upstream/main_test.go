package upstream

import (
	"testing"

	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }
