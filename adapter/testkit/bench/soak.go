package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kbnn/dvc/adapter/testkit/fixturegen"
	"github.com/kbnn/dvc/adapter/testkit/replay"
)

// soak is make soak: XML submissions at a fixed rate (-soak-rate, or half
// the XML rate measured first) for -soak-duration, the adapter's VmRSS
// sampled every -soak-sample; it prints the samples and the growth from
// the end of -soak-warmup to the end. A burst of -soak-burst at every
// client's full speed comes first: the adapter's memory grows with the
// requests it holds at once (each holds its body, its trees and its
// treasury document), and at a fixed rate that number follows the
// machine's slow spells, up to the clients' count; after the burst the
// warm-up's RSS has seen it, and growth from there is growth over time.
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
	// The burst runs at about twice the soak's rate (the rate measured
	// first), with room; a pool used up ends it early.
	burst := 0
	if b.cfg.soakBurst > 0 {
		burst = int(math.Ceil(3*rate*b.cfg.soakBurst.Seconds())) + b.cfg.concurrency
	}
	pool, files, err := b.pool(fixturegen.FormXML, nil, first, burst+n, 0)
	if err != nil {
		return err
	}
	burstPool, pool := pool[:burst], pool[burst:]
	adapter, base, err := b.startAdapter("soak")
	if err != nil {
		return err
	}
	defer adapter.stop()

	type sample struct {
		at time.Duration
		mb float64
		rt runtimeFigures
	}
	var (
		samples []sample
		mu      sync.Mutex
		stop    = make(chan struct{})
		done    = make(chan struct{})
	)
	start := time.Now()
	warm := false
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
				rt, _ := b.runtimeFigures(ctx, base)
				mu.Lock()
				samples = append(samples, sample{time.Since(start), float64(kb) * 1024 / 1e6, rt})
				mu.Unlock()
			}
			if !warm && time.Since(start) >= b.cfg.soakBurst+b.cfg.soakWarmup {
				warm = true
				b.heapProfile(ctx, base, "heap-soak-warm.pprof")
			}
		}
	}()
	client := replay.NewClient(b.cfg.concurrency)
	load := func(dossiers []fixturegen.LoadDossier, perSecond float64, d time.Duration) (replay.LoadReport, error) {
		return replay.Load(ctx, replay.LoadOptions{BaseURL: base, Client: client, Dossiers: dossiers, Files: files,
			Concurrency: b.cfg.concurrency, Rate: perSecond, Duration: d, Timeout: 30 * time.Second, Progress: b.log,
			ProgressEvery: b.cfg.soakSample})
	}
	var burstRep replay.LoadReport
	if burst > 0 {
		_, _ = fmt.Fprintf(b.log, "dvc-bench: burst of %s at full speed, %d clients, before the soak\n", b.cfg.soakBurst, b.cfg.concurrency)
		if burstRep, err = load(burstPool, 0, b.cfg.soakBurst); err != nil {
			close(stop)
			<-done
			return err
		}
		b.unexpected += burstRep.Unexpected
	}
	rep, err := load(pool, rate, b.cfg.soakDuration)
	close(stop)
	<-done
	if err != nil {
		return err
	}
	b.heapProfile(ctx, base, "heap-soak-end.pprof")
	b.unexpected += rep.Unexpected

	var s strings.Builder
	if burst > 0 {
		fmt.Fprintf(&s, "\nburst: %s at full speed, %d clients: %d sent, %.1f/s answered, p99 %.1f ms, %d unexpected%s\n",
			b.cfg.soakBurst, b.cfg.concurrency, burstRep.Sent, burstRep.Throughput, burstRep.P99, burstRep.Unexpected, unexpectedDetail(burstRep))
	}
	fmt.Fprintf(&s, "\nsoak: %.0f XML submissions/s for %s, %d clients: %d sent, %.1f/s answered, p99 %.1f ms, %d unexpected%s\n",
		rate, b.cfg.soakDuration, b.cfg.concurrency, rep.Sent, rep.Throughput, rep.P99, rep.Unexpected, unexpectedDetail(rep))
	s.WriteString("| time s | adapter RSS MB | Go heap in use MB | heap idle, not returned MB | stacks MB | Go runtime total MB | goroutines |\n|---|---|---|---|---|---|---|\n")
	var base0, last, peak float64
	for _, sm := range samples {
		fmt.Fprintf(&s, "| %.0f | %.1f | %s |\n", sm.at.Seconds(), sm.mb, sm.rt)
		if sm.at >= b.cfg.soakBurst+b.cfg.soakWarmup {
			if base0 == 0 {
				base0 = sm.mb
			}
			last, peak = sm.mb, max(peak, sm.mb)
		}
	}
	if base0 > 0 {
		fmt.Fprintf(&s, "\nRSS after the %s burst and the soak's %s warm-up %.1f MB, at the end %.1f MB (%+.1f%%), peak after warm-up %.1f MB (%+.1f%%); target < 10%% growth\n",
			b.cfg.soakBurst, b.cfg.soakWarmup, base0, last, 100*(last-base0)/base0, peak, 100*(peak-base0)/base0)
	}
	_, err = io.WriteString(stdout, s.String())
	return err
}

// runtimeFigures are the Go runtime's memory figures of the adapter, read
// from its admin listener's /metrics: they tell the heap the program holds
// from the heap the runtime keeps and from the rest of the RSS.
type runtimeFigures struct {
	ok                                   bool
	heapInuse, heapIdle, released, stack float64 // bytes
	sys, goroutines                      float64
}

func (r runtimeFigures) String() string {
	if !r.ok {
		return "- | - | - | - | -"
	}
	return fmt.Sprintf("%.1f | %.1f | %.1f | %.1f | %.0f",
		r.heapInuse/1e6, (r.heapIdle-r.released)/1e6, r.stack/1e6, r.sys/1e6, r.goroutines)
}

// runtimeFigures scrapes the adapter's /metrics for the Go collector's
// memory figures.
func (b *bench) runtimeFigures(ctx context.Context, base string) (runtimeFigures, error) {
	var r runtimeFigures
	admin, ok := b.admins[base]
	if !ok {
		return r, fmt.Errorf("no admin listener for %s", base)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	if err != nil {
		return r, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("/metrics answered %s", resp.Status)
	}
	want := map[string]*float64{
		"go_memstats_heap_inuse_bytes":    &r.heapInuse,
		"go_memstats_heap_idle_bytes":     &r.heapIdle,
		"go_memstats_heap_released_bytes": &r.released,
		"go_memstats_stack_inuse_bytes":   &r.stack,
		"go_memstats_sys_bytes":           &r.sys,
		"go_goroutines":                   &r.goroutines,
	}
	sc := bufio.NewScanner(resp.Body)
	found := 0
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if p, hit := want[name]; ok && hit {
			if v, err := strconv.ParseFloat(value, 64); err == nil {
				*p = v
				found++
			}
		}
	}
	if err := sc.Err(); err != nil {
		return r, err
	}
	r.ok = found == len(want)
	return r, nil
}

// heapProfile writes, with -heapprofile, the adapter's heap profile (live
// objects after a GC) into the directory under name; a failure is logged,
// not fatal: the soak's figures stand without it.
func (b *bench) heapProfile(ctx context.Context, base, name string) {
	if b.cfg.heapProfile == "" {
		return
	}
	err := func() error {
		admin, ok := b.admins[base]
		if !ok {
			return fmt.Errorf("no admin listener for %s", base)
		}
		file := filepath.Join(b.cfg.heapProfile, name)
		if err := fetchProfile(ctx, admin, "/debug/pprof/heap?gc=1", file); err != nil {
			return err
		}
		_, _ = fmt.Fprintf(b.log, "dvc-bench: heap profile in %s\n", file)
		return nil
	}()
	if err != nil {
		_, _ = fmt.Fprintf(b.log, "dvc-bench: heap profile %s: %v\n", name, err)
	}
}
