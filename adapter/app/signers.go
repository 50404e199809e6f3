package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/redisstore"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/configs"
)

// openSigners returns the registered-signer store on the configured store
// (Redis when client is set) with signatures.registeredSeed loaded into it.
func openSigners(cfg *config.Config, client redis.UniversalClient, now func() time.Time, log *slog.Logger) (signers.Store, error) {
	var store signers.Store = signers.NewMemory()
	if client != nil {
		store = redisstore.NewSigners(client, cfg.Store.Redis.KeyPrefix)
	}
	seed := cfg.Signatures.RegisteredSeed
	if seed == "" {
		return store, nil
	}
	raw, name := configs.Signers, "configs/signers.yaml"
	if seed != "embedded" {
		var err error
		if raw, err = os.ReadFile(seed); err != nil {
			return nil, fmt.Errorf("signatures.registeredSeed: %w", err)
		}
		name = seed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := signers.Seed(ctx, store, name, raw, now())
	if err != nil {
		return nil, fmt.Errorf("signatures.registeredSeed: %w", err)
	}
	log.Info("registered signers seeded", "seed", name, "new", n)
	return store, nil
}

// roleNames are the signature roles signatures.roles defines.
func roleNames(c config.Signatures) []string {
	out := make([]string, 0, len(c.Roles))
	for _, r := range c.Roles {
		out = append(out, r)
	}
	return out
}
