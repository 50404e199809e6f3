package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/dossier"
)

// Dossiers is the Redis dossier.Store: one JSON record per dossier under
// <prefix>view:{sha256hex(procedure|maHoSo)}, updated with WATCH/MULTI on
// that one key (optimistic, retried on a concurrent write), and the
// listing indexes of dossierlist.go, written before the record.
type Dossiers struct {
	c         redis.UniversalClient
	prefix    string
	retention time.Duration
}

var _ dossier.Store = (*Dossiers)(nil)

// NewDossiers returns the store; each record is kept retention after its
// last change.
func NewDossiers(client redis.UniversalClient, prefix string, retention time.Duration) *Dossiers {
	return &Dossiers{c: client, prefix: prefix, retention: retention}
}

func (d *Dossiers) key(procedure, maHoSo string) string {
	return (&Store{prefix: d.prefix}).name("view:{", procedure+"|"+maHoSo)
}

// Get implements dossier.Store.
func (d *Dossiers) Get(ctx context.Context, procedure, maHoSo string) (dossier.Record, bool, error) {
	raw, err := d.c.Get(ctx, d.key(procedure, maHoSo)).Bytes()
	if errors.Is(err, redis.Nil) {
		return dossier.Record{}, false, nil
	}
	if err != nil {
		return dossier.Record{}, false, fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
	}
	var r dossier.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return dossier.Record{}, false, fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
	}
	return r, true, nil
}

// maxUpdateTries bounds the optimistic retries of one Update.
const maxUpdateTries = 100

// Update implements dossier.Store.
func (d *Dossiers) Update(ctx context.Context, procedure, maHoSo string, fn func(*dossier.Record, bool) bool) error {
	key := d.key(procedure, maHoSo)
	for range maxUpdateTries {
		err := d.c.Watch(ctx, func(tx *redis.Tx) error {
			var r dossier.Record
			raw, err := tx.Get(ctx, key).Bytes()
			exists := err == nil
			switch {
			case errors.Is(err, redis.Nil):
			case err != nil:
				return err
			default:
				if err := json.Unmarshal(raw, &r); err != nil {
					return err
				}
			}
			old := r // fn may change r; the index compares before and after
			if !fn(&r, exists) {
				return nil
			}
			if err := d.index(ctx, old, exists, r); err != nil {
				return err
			}
			out, err := json.Marshal(r)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, out, d.retention)
				return nil
			})
			return err
		}, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			return fmt.Errorf("redisstore: dossier %s: %w", maHoSo, err)
		}
		return nil
	}
	return fmt.Errorf("redisstore: dossier %s: too many concurrent updates", maHoSo)
}
