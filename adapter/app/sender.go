package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/treasury"
	"github.com/kbnn/dvc/adapter/upstream"
)

// treasurySender turns the mapped request into the contract's type, calls
// the treasury through one breaker and bulkhead per endpoint, and
// classifies its failures into public ones.
type treasurySender struct {
	client *treasury.Client
	send   *upstream.Endpoint
	status *upstream.Endpoint
}

func newTreasurySender(c config.Treasury, hc *http.Client, opts ...upstream.Option) (*treasurySender, error) {
	cl, err := treasury.New(treasury.Config{
		BaseURL: c.BaseURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret.Reveal(), Timeout: c.Timeout,
	}, hc)
	if err != nil {
		return nil, fmt.Errorf("treasury: %w", err)
	}
	g, err := upstream.NewGroup("treasury", c.Resilience.Settings(),
		append([]upstream.Option{upstream.WithClassifier(classifyOutcome)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("treasury.resilience: %w", err)
	}
	return &treasurySender{client: cl, send: g.Endpoint("send-document"), status: g.Endpoint("document-status")}, nil
}

// classifyOutcome tells the breaker what a treasury answer says about the
// treasury's health: a business answer is a healthy treasury; a request
// this side got wrong says nothing about it.
func classifyOutcome(err error) upstream.Outcome {
	var ref *treasury.Refusal
	switch {
	case errors.As(err, &ref), errors.Is(err, treasury.ErrNotFound):
		return upstream.Success
	case errors.Is(err, treasury.ErrInvalidRequest), errors.Is(err, treasury.ErrUnauthorized):
		return upstream.Excluded
	}
	return upstream.DefaultClassify(err)
}

// retryAfterSeconds is what a caller is told to wait after a transient failure.
const retryAfterSeconds = 30

func (s *treasurySender) Send(ctx context.Context, key string, request map[string]any) (intake.Receipt, error) {
	req, err := toRequest(request)
	if err != nil {
		return intake.Receipt{}, problem.Wrap(problem.Internal, err, "")
	}
	// Every send carries the downstream key, so retrying it is safe.
	var rc treasury.Receipt
	err = s.send.Do(ctx, true, func(ctx context.Context) error {
		var err error
		rc, err = s.client.SendDocument(ctx, key, req)
		return err
	})
	if err != nil {
		return intake.Receipt{}, classify(err)
	}
	return intake.Receipt{DocumentID: rc.DocumentID, Reference: rc.Reference}, nil
}

func (s *treasurySender) Find(ctx context.Context, key string) (intake.Receipt, bool, error) {
	var st treasury.Status
	err := s.status.Do(ctx, true, func(ctx context.Context) error {
		var err error
		st, err = s.client.FindByKey(ctx, key)
		return err
	})
	if errors.Is(err, treasury.ErrNotFound) {
		return intake.Receipt{}, false, nil
	}
	if err != nil {
		return intake.Receipt{}, false, classify(err)
	}
	return intake.Receipt{DocumentID: st.DocumentID, Reference: st.Reference}, true, nil
}

func toRequest(m map[string]any) (treasury.SendDocumentRequest, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return treasury.SendDocumentRequest{}, fmt.Errorf("mapped request: %w", err)
	}
	var req treasury.SendDocumentRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("mapped request does not fit the treasury contract: %w", err)
	}
	return req, nil
}

func classify(err error) error {
	var ref *treasury.Refusal
	var rej *upstream.Rejected
	switch {
	case errors.As(err, &rej):
		return &problem.Error{Kind: problem.TreasuryUnavailable, Cause: err,
			RetryAfter: max(1, int(rej.RetryAfter.Round(time.Second)/time.Second))}
	case errors.As(err, &ref):
		e := problem.Wrap(problem.TreasuryRefused, err, "The treasury refused the document: "+ref.ReasonCode+".")
		e.Extra = map[string]any{"treasuryReasonCode": ref.ReasonCode, "treasuryMessage": ref.Message}
		return e
	case errors.Is(err, treasury.ErrTimeout):
		return &problem.Error{Kind: problem.TreasuryTimeout, Cause: err, RetryAfter: retryAfterSeconds}
	case errors.Is(err, treasury.ErrUnavailable):
		return &problem.Error{Kind: problem.TreasuryUnavailable, Cause: err, RetryAfter: retryAfterSeconds}
	default:
		return problem.Wrap(problem.Internal, err, "")
	}
}
