package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/kbnn/dvc/adapter/testkit/fixture"
)

// maxDocumentsBody bounds the treasury simulator's document list.
const maxDocumentsBody = 64 << 20

// Document is one treasury document as listed by the simulator's
// GET /sim/documents. Other fields of the listing are ignored.
type Document struct {
	Procedure   string `json:"procedure"`
	DossierCode string `json:"dossierCode"`
}

// FetchDocuments reads GET <treasuryURL>/sim/documents.
func FetchDocuments(ctx context.Context, client *http.Client, treasuryURL string) ([]Document, error) {
	base, err := url.Parse(treasuryURL)
	if err != nil {
		return nil, fmt.Errorf("replay: treasury url: %w", err)
	}
	target := base.JoinPath("sim", "documents").String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("replay: treasury documents: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("replay: treasury documents: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("replay: GET %s: status %d", target, resp.StatusCode)
	}
	var docs []Document
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDocumentsBody)).Decode(&docs); err != nil {
		return nil, fmt.Errorf("replay: GET %s: %w", target, err)
	}
	return docs, nil
}

type dossierKey struct{ procedure, code string }

// CheckTreasury compares the treasury's documents with the answers and adds
// a failure to each result that breaks a rule; it returns how many results
// it failed.
//
//   - A case answered 202 (on any attempt) must have exactly one document with
//     its (procedure, dossier code); a case whose dossier code cannot be read
//     fails.
//   - A case answered only 4xx must have no document, unless another case
//     with the same dossier was accepted (e.g. a duplicate-dossier fixture).
//     Cases whose dossier code cannot be read (malformed bodies) are skipped.
//   - Cases with a 5xx answer or no answer are not checked: the treasury
//     may or may not have the document.
func CheckTreasury(results []Result, docs []Document) int {
	count := map[dossierKey]int{}
	for _, d := range docs {
		count[dossierKey{d.Procedure, d.DossierCode}]++
	}
	type judged struct {
		key      dossierKey
		keyErr   error
		accepted bool
		rejected bool
	}
	cases := make([]judged, len(results))
	accepted := map[dossierKey]bool{}
	for i, r := range results {
		j := judged{accepted: answered(r, isAccepted), rejected: len(r.Attempts) > 0 && !answered(r, isNotRejected)}
		code, err := r.Case.DossierCode()
		j.key, j.keyErr = dossierKey{r.Case.Procedure, code}, err
		if j.accepted && err == nil {
			accepted[j.key] = true
		}
		cases[i] = j
	}

	failed := 0
	for i, j := range cases {
		var failure string
		switch {
		case j.accepted && j.keyErr != nil:
			failure = fmt.Sprintf("treasury: accepted but %v", j.keyErr)
		case j.accepted && count[j.key] != 1:
			failure = fmt.Sprintf("treasury: accepted dossier %s has %s, want exactly 1", j.key.code, documents(count[j.key]))
		case j.rejected && j.keyErr == nil && !accepted[j.key] && count[j.key] > 0:
			failure = fmt.Sprintf("treasury: rejected dossier %s has %s, want none", j.key.code, documents(count[j.key]))
		}
		if failure != "" {
			results[i].Failures = append(results[i].Failures, failure)
			failed++
		}
	}
	return failed
}

func isAccepted(a Attempt) bool    { return a.Status == http.StatusAccepted }
func isNotRejected(a Attempt) bool { return a.Status < 400 || a.Status > 499 }

// answered reports whether any attempt of r satisfies f.
func answered(r Result, f func(Attempt) bool) bool {
	for _, a := range r.Attempts {
		if f(a) {
			return true
		}
	}
	return false
}

func documents(n int) string {
	if n == 1 {
		return "1 document"
	}
	return fmt.Sprintf("%d documents", n)
}

// CheckAttachments fetches, for each case answered 202, every file it sent
// (parts and uploads) from the treasury simulator's GET
// <treasuryURL>/sim/attachments/{sha256} and adds a failure to each result
// whose file is missing there or not byte-identical; it returns how many
// results it failed. Files are named by their SHA-256 (fixture.File.ID).
func CheckAttachments(ctx context.Context, client *http.Client, treasuryURL string, results []Result) int {
	base, err := url.Parse(treasuryURL)
	if err != nil {
		return 0
	}
	failed := 0
	for i, r := range results {
		if !answered(r, isAccepted) {
			continue
		}
		var failures []string
		for _, f := range append(append([]fixture.File(nil), r.Case.Parts...), r.Case.Uploads...) {
			got, err := fetchAttachment(ctx, client, base.JoinPath("sim", "attachments", f.ID).String())
			switch {
			case err != nil:
				failures = append(failures, fmt.Sprintf("treasury: attachment %s: %v", f.ID, err))
			case !bytes.Equal(got, f.Data):
				failures = append(failures, fmt.Sprintf("treasury: attachment %s differs from the file sent (%d bytes, want %d)", f.ID, len(got), len(f.Data)))
			}
		}
		if len(failures) > 0 {
			results[i].Failures = append(results[i].Failures, failures...)
			failed++
		}
	}
	return failed
}

func fetchAttachment(ctx context.Context, client *http.Client, target string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", target, resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxDocumentsBody))
}
