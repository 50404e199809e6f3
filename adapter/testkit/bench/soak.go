package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/fixturegen"
	"github.com/kbnn/dvc/adapter/testkit/replay"
)

// soak is make soak: XML submissions at a fixed rate (-soak-rate, or half
// the XML rate measured first) for -soak-duration, the adapter's VmRSS
// sampled every -soak-sample; it prints the samples and the growth from
// the end of -soak-warmup to the end.
func (b *bench) soak(ctx context.Context, stdout io.Writer) error {
	rate := b.cfg.soakRate
	first := 1
	if rate <= 0 {
		adapter, base, err := b.startAdapter("rate")
		if err != nil {
			return err
		}
		pool, files, err := b.sized(ctx, fixturegen.FormXML, b.cfg.xmlPool, base, &first)
		if err != nil {
			adapter.stop()
			return err
		}
		r, err := b.measure(ctx, "XML rate before the soak", base, adapter.pid(), replay.LoadOptions{Dossiers: pool, Files: files})
		adapter.stop()
		if err != nil {
			return err
		}
		rate = math.Floor(r.rep.Throughput / 2)
		_, _ = fmt.Fprintf(stdout, "measured XML rate %.0f/s (%d clients); soaking at %.0f/s\n", r.rep.Throughput, b.cfg.concurrency, rate)
		if rate < 1 {
			return fmt.Errorf("measured XML rate %.1f/s is too low to soak at half of it", r.rep.Throughput)
		}
	}
	n := int(math.Ceil(rate*b.cfg.soakDuration.Seconds())) + b.cfg.concurrency
	pool, files, err := b.pool(fixturegen.FormXML, nil, first, n, 0)
	if err != nil {
		return err
	}
	adapter, base, err := b.startAdapter("soak")
	if err != nil {
		return err
	}
	defer adapter.stop()

	type sample struct {
		at time.Duration
		mb float64
	}
	var (
		samples []sample
		mu      sync.Mutex
		stop    = make(chan struct{})
		done    = make(chan struct{})
	)
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(b.cfg.soakSample)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if kb, err := statusKB(adapter.pid(), "VmRSS"); err == nil {
				mu.Lock()
				samples = append(samples, sample{time.Since(start), float64(kb) * 1024 / 1e6})
				mu.Unlock()
			}
		}
	}()
	rep, err := replay.Load(ctx, replay.LoadOptions{BaseURL: base, Client: replay.NewClient(b.cfg.concurrency), Dossiers: pool, Files: files,
		Concurrency: b.cfg.concurrency, Rate: rate, Duration: b.cfg.soakDuration, Timeout: 30 * time.Second, Progress: b.log,
		ProgressEvery: b.cfg.soakSample})
	close(stop)
	<-done
	if err != nil {
		return err
	}
	b.unexpected += rep.Unexpected

	var s strings.Builder
	fmt.Fprintf(&s, "\nsoak: %.0f XML submissions/s for %s, %d clients: %d sent, %.1f/s answered, p99 %.1f ms, %d unexpected%s\n",
		rate, b.cfg.soakDuration, b.cfg.concurrency, rep.Sent, rep.Throughput, rep.P99, rep.Unexpected, unexpectedDetail(rep))
	s.WriteString("| time s | adapter RSS MB |\n|---|---|\n")
	var base0, last, peak float64
	for _, sm := range samples {
		fmt.Fprintf(&s, "| %.0f | %.1f |\n", sm.at.Seconds(), sm.mb)
		if sm.at >= b.cfg.soakWarmup {
			if base0 == 0 {
				base0 = sm.mb
			}
			last, peak = sm.mb, max(peak, sm.mb)
		}
	}
	if base0 > 0 {
		fmt.Fprintf(&s, "\nRSS after the %s warm-up %.1f MB, at the end %.1f MB (%+.1f%%), peak after warm-up %.1f MB (%+.1f%%); target < 10%% growth\n",
			b.cfg.soakWarmup, base0, last, 100*(last-base0)/base0, peak, 100*(peak-base0)/base0)
	}
	_, err = io.WriteString(stdout, s.String())
	return err
}
