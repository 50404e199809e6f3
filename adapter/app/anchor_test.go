package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/redisstore"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

func anchorConfig(dir string) config.Evidence {
	return config.Evidence{Enabled: true, Dir: dir, Instance: "test",
		KeyFile: filepath.Join(repo, "testdata/pki/adapter-log.key"), CheckpointInterval: 10 * time.Millisecond}
}

func quietOptions() Options { return Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))} }

// anchoredSize is the tree size of the checkpoint anchored for origin (0
// when none).
func anchoredSize(t *testing.T, a *redisstore.Anchors, origin string) uint64 {
	t.Helper()
	cp, err := a.Latest(t.Context(), origin)
	if err != nil {
		t.Fatal(err)
	}
	if cp == nil {
		return 0
	}
	lines := strings.SplitN(string(cp), "\n", 3)
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("anchored checkpoint %q: %v", cp, err)
	}
	return n
}

// grow appends n records to the open evidence log and waits (at most a
// minute) until the anchor holds its tree.
func grow(t *testing.T, ev *evidence, a *redisstore.Anchors, n int) {
	t.Helper()
	for i := range n {
		r := auditlog.Record{Time: time.Now(), Caller: "portal", Route: "test", MaHoSo: "HS-" + strconv.Itoa(i), Status: 202}
		if _, err := ev.recorder.Append(context.Background(), r, []byte("body")); err != nil {
			t.Fatal(err)
		}
	}
	want := ev.log.Size()
	for deadline := time.Now().Add(time.Minute); anchoredSize(t, a, ev.log.Origin()) < want; {
		if time.Now().After(deadline) {
			t.Fatalf("the anchor did not reach %d records", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAnchorRefusesAnOlderDirectory: with Redis, an instance's log
// anchors its checkpoints there, and the instance refuses to start on a
// copy of its directory taken before the anchored checkpoint, on an empty
// directory, and on another directory with other records under its key;
// it starts on its own directory. An anchor ahead of a running log is
// counted as a conflict.
func TestAnchorRefusesAnOlderDirectory(t *testing.T) {
	a := redisstore.NewAnchors(redistest.Client(t), redistest.Prefix(t))
	origin := auditlog.OriginFor("test")
	dir := t.TempDir()
	open := func(dir string) (*evidence, error) {
		return openEvidence(anchorConfig(dir), quietOptions(), a, newAnchorProblems())
	}
	ev, err := open(dir)
	if err != nil {
		t.Fatal(err)
	}
	grow(t, ev, a, 3)
	if err := ev.close(); err != nil {
		t.Fatal(err)
	}
	older := t.TempDir()
	copyTree(t, dir, older)

	ev, err = open(dir)
	if err != nil {
		t.Fatalf("reopened on its own directory: %v", err)
	}
	grow(t, ev, a, 2)
	if err := ev.close(); err != nil {
		t.Fatal(err)
	}

	if _, err := open(older); err == nil || !strings.Contains(err.Error(), "older copy") || !strings.Contains(err.Error(), a.Key(origin)) {
		t.Errorf("started on an older copy of its directory: %v", err)
	}
	if _, err := open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "older copy") {
		t.Errorf("started on an empty directory: %v", err)
	}
	// Another directory, other records, the same key: a second process
	// under this instance's name.
	other := t.TempDir()
	ev2, err := openEvidence(anchorConfig(other), quietOptions(), nil, newAnchorProblems())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		r := auditlog.Record{Time: time.Now(), Caller: "portal", Route: "other", MaHoSo: "X-" + strconv.Itoa(i), Status: 202}
		if _, err := ev2.recorder.Append(context.Background(), r, []byte("other")); err != nil {
			t.Fatal(err)
		}
	}
	if err := ev2.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := open(other); err == nil || !strings.Contains(err.Error(), "not the ones") {
		t.Errorf("started on another directory under the same key: %v", err)
	}

	// Its own directory starts; an anchor that runs ahead of it (another
	// process anchoring under the same origin) is a conflict.
	problems := newAnchorProblems()
	ev, err = openEvidence(anchorConfig(dir), quietOptions(), a, problems)
	if err != nil {
		t.Fatalf("its own directory: %v", err)
	}
	defer func() { _ = ev.close() }()
	if _, err := a.Advance(t.Context(), origin, 1000, []byte("a longer tree")); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.recorder.Append(context.Background(), auditlog.Record{Time: time.Now(), Caller: "portal", Route: "test", Status: 202}, []byte("b")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); counted(t, problems.WithLabelValues("conflict")) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("an anchor ahead of the log was not counted as a conflict")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counted reads a counter.
func counted(t *testing.T, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// copyTree copies the regular files under src into dst, keeping the layout.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
