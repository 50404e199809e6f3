package auditlog_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/auditlog"
)

// cpuTime is the process's user + system time so far: the kernel's share
// of writing files is most of what a body costs.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkArchiveBody: a record with its 9 KB body, 16 appenders at once,
// archived in the log's body pack (AppendBody, the adapter's way) against
// a file per body beside the record (temporary file, write, fsync, rename,
// fsync of the directory: the durable way to store a file of its own).
// cpu-µs/op is the process's user + system time per record.
func BenchmarkArchiveBody(b *testing.B) {
	const conc = 16
	body := func(i int64) []byte {
		p := make([]byte, 9<<10)
		copy(p, fmt.Sprint("<HoSo n=", i, ">"))
		return p
	}
	for _, mode := range []string{"pack", "file-per-body"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			l := open(b, dir, func(o *auditlog.Options) { o.Logger = slog.New(slog.DiscardHandler) })
			defer func() { _ = l.Close() }()
			files := filepath.Join(dir, "files")
			if err := os.Mkdir(files, 0o755); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			var wg sync.WaitGroup
			for range conc {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						var err error
						if mode == "pack" {
							_, err = l.AppendBody(ctx, rec(int(i)), body(i))
						} else {
							p := body(i)
							if err = writeFileDurably(files, auditlog.BodyHash(p), p); err == nil {
								r := rec(int(i))
								r.BodySHA256 = auditlog.BodyHash(p)
								_, err = l.Append(ctx, r)
							}
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			cpu := cpuTime(b) - cpu0
			b.StopTimer()
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func writeFileDurably(dir, name string, b []byte) error {
	f, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
