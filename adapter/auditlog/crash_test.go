//go:build unix

package auditlog_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kbnn/dvc/adapter/auditlog"
)

const crashChildEnv = "AUDITLOG_CRASH_CHILD_DIR"

// TestSIGKILL runs a process that appends from 8 goroutines and prints the
// index of every Append that returned, kills it with SIGKILL mid-stream,
// reopens the log and finds every acknowledged record, then appends on.
func TestSIGKILL(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	t.Parallel()
	_, v := keys(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILL$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	acked := map[uint64]bool{}
	sc := bufio.NewScanner(out)
	for len(acked) < 400 && sc.Scan() {
		idx, ok := strings.CutPrefix(sc.Text(), "acked ")
		if !ok {
			continue
		}
		i, err := strconv.ParseUint(idx, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		acked[i] = true
	}
	if len(acked) < 400 {
		t.Fatalf("child stopped after %d acknowledged appends: %v", len(acked), sc.Err())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	l := open(t, dir)
	bodies, err := auditlog.IndexBodies(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range acked {
		if i >= l.Size() {
			t.Fatalf("acknowledged record %d lost: the log holds %d", i, l.Size())
		}
		leaf, err := l.Entry(i)
		if err != nil {
			t.Fatalf("acknowledged record %d: %v", i, err)
		}
		r, err := auditlog.ParseLeaf(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := bodies[r.BodySHA256]; !ok {
			t.Fatalf("acknowledged record %d: its body %s is not archived", i, r.BodySHA256)
		}
	}
	next := l.Size()
	rc, err := l.Append(context.Background(), rec(1))
	if err != nil || rc.LogIndex != next {
		t.Fatalf("append after the crash: %+v %v (want index %d)", rc, err, next)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := auditlog.Verify(dir, v); err != nil {
		t.Fatal(err)
	}
}

func crashChild(t *testing.T, dir string) {
	l := open(t, dir)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20000 {
				n := g*20000 + i
				rc, err := l.AppendBody(context.Background(), rec(n), fmt.Append(nil, "body of ", n))
				if err != nil {
					t.Error(err)
					return
				}
				if rc.LogIndex%50 == 0 {
					if err := l.PublishCheckpoint(context.Background()); err != nil {
						t.Error(err)
						return
					}
				}
				mu.Lock()
				_, _ = fmt.Fprintf(os.Stdout, "acked %d\n", rc.LogIndex)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
