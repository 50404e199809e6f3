package attachment_test

import (
	"testing"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/testkit/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.RunAttachments(t, func(_ *testing.T, l attachment.Limits) attachment.Store {
		return attachment.NewMemory(l, nil)
	})
}
