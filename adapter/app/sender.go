package app

import (
	"fmt"
	"net/http"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/treasury"
	"github.com/kbnn/dvc/adapter/treasurysend"
	"github.com/kbnn/dvc/adapter/upstream"
)

// newTreasurySender builds the treasury client and its upstream group from configuration and
// hands both to the intake's sender; opts go to the group (logger, state hooks).
func newTreasurySender(c config.Treasury, hc *http.Client, opts ...upstream.Option) (*treasurysend.Sender, error) {
	cl, err := treasury.New(treasury.Config{
		BaseURL: c.BaseURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret.Reveal(), Timeout: c.Timeout,
	}, hc)
	if err != nil {
		return nil, fmt.Errorf("treasury: %w", err)
	}
	g, err := treasury.NewGroup(c.Resilience.Settings(), opts...)
	if err != nil {
		return nil, fmt.Errorf("treasury.resilience: %w", err)
	}
	return treasurysend.New(cl, g), nil
}
