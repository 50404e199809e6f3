// Package portal owns the adapter's client of the National Public Service Portal's integration
// protocol, as OpenCPS's DVCQGIntegrationActionImpl uses it (github.com/VietOpenCPS/opencps-v2,
// modules/backend-dossiermgt): the typed calls TraCuuHoSo (Lookup), DongBoHoSoMC
// (SyncDossier) and CapNhatTienDoHoSoMC (UpdateProgress), their item types, the portal's date
// format, and the two transports that carry them.
//
// A Transport sends one service call and classifies the answer. SessionTransport speaks the
// session JSON protocol (one URL, "service" field, a login on that URL or on a separate
// authentication URL, an optional dstcode header on every request, re-login once when the
// session is refused); BearerTransport speaks the integration platform's variant (OAuth2
// client-credentials token, one path per service). Both read error_code 0, "0" and "00" as
// success; any other code is a *PortalError whose Class comes from the configured ErrorCodes
// (transient, session expired, permanent; a code listed nowhere takes ErrorCodes.Default).
// HTTP 429 and 5xx and transport failures wrap ErrUnavailable (RetryAfter tells the
// Retry-After); deadlines and 504 wrap ErrTimeout; refused credentials (and a 401 or
// session-expired code that a fresh session or token does not cure, or a 403) wrap
// ErrUnauthorized; answers outside the protocol ErrProtocol.
//
// Client runs each call through an adapter/upstream endpoint per service
// ("portal/DongBoHoSoMC"): circuit breaker, bulkhead and, for the idempotent Lookup only,
// retries. The two writes get one attempt each; the caller's outbox retries them, using
// Permanent and RetryAfter to decide when.
package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kbnn/dvc/adapter/upstream"
)

// Transport sends one service call and classifies the answer: the decoded Answer when its
// error_code is a success code, else an error (see the package doc). Implementations are safe
// for concurrent use.
type Transport interface {
	Call(ctx context.Context, service string, payload map[string]any) (Answer, error)
}

// NewGroup returns the upstream group "portal" with Classify as its classifier, then opts
// (state hooks, logger, clock...). Pass it to NewClient. Settings that upstream.Settings.Validate
// rejects are an error.
func NewGroup(s upstream.Settings, opts ...upstream.Option) (*upstream.Group, error) {
	return upstream.NewGroup("portal", s, append([]upstream.Option{upstream.WithClassifier(Classify)}, opts...)...)
}

// Client makes the portal's typed calls over a Transport. It is safe for concurrent use.
type Client struct {
	t        Transport
	lookup   *upstream.Endpoint
	sync     *upstream.Endpoint
	progress *upstream.Endpoint
}

// NewClient returns a Client that calls through t, each service through its endpoint of g
// (made by NewGroup, so that portal answers are classified; nil: NewGroup with default
// settings).
func NewClient(t Transport, g *upstream.Group) *Client {
	if g == nil {
		g, _ = NewGroup(upstream.Settings{}) // zero settings are the defaults, always valid
	}
	return &Client{
		t:        t,
		lookup:   g.Endpoint(ServiceLookup),
		sync:     g.Endpoint(ServiceSyncDossier),
		progress: g.Endpoint(ServiceUpdateProgress),
	}
}

// Lookup asks the portal what it holds of a dossier (TraCuuHoSo {"mahoso"}). found is false
// when the answer's data is empty. Repeating a look-up cannot act twice, so failed attempts
// are retried within ctx.
func (c *Client) Lookup(ctx context.Context, maHoSo string) (d Dossier, found bool, err error) {
	if strings.TrimSpace(maHoSo) == "" {
		return Dossier{}, false, fmt.Errorf("portal: %s: %w: empty dossier code", ServiceLookup, ErrInvalidRequest)
	}
	err = c.lookup.Do(ctx, true, func(ctx context.Context) error {
		a, err := c.t.Call(ctx, ServiceLookup, map[string]any{"mahoso": maHoSo})
		if err != nil {
			return err
		}
		d, found, err = findDossier(a.Data, maHoSo)
		if err != nil {
			return &callError{op: ServiceLookup, kind: ErrProtocol, detail: err.Error()}
		}
		return nil
	})
	if err != nil {
		return Dossier{}, false, err
	}
	return d, found, nil
}

// SyncDossier sends the full dossier (DongBoHoSoMC {"isUpdating": "True"/"False", "data":
// [item]}): isUpdating false the first time, true afterwards. One attempt: a write is retried
// by the caller.
func (c *Client) SyncDossier(ctx context.Context, isUpdating bool, item DossierItem) error {
	item, err := item.check()
	if err != nil {
		return fmt.Errorf("portal: %s: %w", ServiceSyncDossier, err)
	}
	flag := "False"
	if isUpdating {
		flag = "True"
	}
	payload := map[string]any{"isUpdating": flag, "data": []DossierItem{item}}
	return c.sync.Do(ctx, false, func(ctx context.Context) error {
		_, err := c.t.Call(ctx, ServiceSyncDossier, payload)
		return err
	})
}

// UpdateProgress sends one processing step (CapNhatTienDoHoSoMC {"data": [item]}). One
// attempt: a write is retried by the caller.
func (c *Client) UpdateProgress(ctx context.Context, item ProgressItem) error {
	if err := item.check(); err != nil {
		return fmt.Errorf("portal: %s: %w", ServiceUpdateProgress, err)
	}
	payload := map[string]any{"data": []ProgressItem{item}}
	return c.progress.Do(ctx, false, func(ctx context.Context) error {
		_, err := c.t.Call(ctx, ServiceUpdateProgress, payload)
		return err
	})
}

// findDossier picks the dossier maHoSo from a TraCuuHoSo data member: an array of items (or a
// single item). Empty or absent data is "not found"; items that are all other dossiers, or
// that cannot be read, are an error.
func findDossier(data json.RawMessage, maHoSo string) (Dossier, bool, error) {
	if len(data) == 0 {
		return Dossier{}, false, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		var one map[string]json.RawMessage
		if json.Unmarshal(data, &one) != nil {
			return Dossier{}, false, fmt.Errorf("data is neither an array nor an object")
		}
		items = []json.RawMessage{data}
	}
	if len(items) == 0 {
		return Dossier{}, false, nil
	}
	for _, raw := range items {
		var it struct {
			MaHoSo        string `json:"MaHoSo"`
			TrangThaiHoSo Status `json:"TrangThaiHoSo"`
		}
		if err := json.Unmarshal(raw, &it); err != nil {
			return Dossier{}, false, fmt.Errorf("data item: %w", err)
		}
		if strings.EqualFold(strings.TrimSpace(it.MaHoSo), strings.TrimSpace(maHoSo)) {
			return Dossier{MaHoSo: it.MaHoSo, TrangThaiHoSo: it.TrangThaiHoSo, Item: raw}, true, nil
		}
	}
	return Dossier{}, false, fmt.Errorf("no data item is dossier %q", maHoSo)
}
