package redisoutbox

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/testkit/outboxtest"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

// migration moves one hash slot of a Cluster from one primary to another
// the way redis-cli --cluster reshard does: IMPORTING on the target,
// MIGRATING on the source, MIGRATE key by key, then the slot's new node on
// every node.
type migration struct {
	t        *testing.T
	c        *redistest.Cluster
	slot     int
	src, dst *redistest.Node
	srcID    string
	dstID    string
	primary  []*redistest.Node
}

func startMigration(t *testing.T, c *redistest.Cluster, key string) *migration {
	t.Helper()
	m := &migration{t: t, c: c, slot: c.Slot(t, key), src: c.PrimaryOf(t, key), primary: c.Primaries(t)}
	for _, p := range m.primary {
		if p != m.src {
			m.dst = p
			break
		}
	}
	m.srcID, m.dstID = m.id(m.src), m.id(m.dst)
	m.do(m.dst, "CLUSTER", "SETSLOT", m.slot, "IMPORTING", m.srcID)
	m.do(m.src, "CLUSTER", "SETSLOT", m.slot, "MIGRATING", m.dstID)
	return m
}

func (m *migration) id(n *redistest.Node) string {
	id, err := n.Client(m.t).Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		m.t.Fatal(err)
	}
	return id
}

func (m *migration) do(n *redistest.Node, args ...any) {
	m.t.Helper()
	if err := n.Client(m.t).Do(ctx, args...).Err(); err != nil {
		m.t.Fatalf("%v on %s: %v", args, n.Addr, err)
	}
}

// move migrates the keys of the slot that match.
func (m *migration) move(match func(key string) bool) {
	m.t.Helper()
	keys, err := m.src.Client(m.t).ClusterGetKeysInSlot(ctx, m.slot, 10000).Result()
	if err != nil {
		m.t.Fatal(err)
	}
	host, port, _ := strings.Cut(m.dst.Addr, ":")
	for _, k := range keys {
		if match(k) {
			m.do(m.src, "MIGRATE", host, port, k, 0, 5000)
		}
	}
}

// finish moves the rest and gives the slot to the target, on the target
// first and then on the other primaries.
func (m *migration) finish() {
	m.t.Helper()
	m.move(func(string) bool { return true })
	m.do(m.dst, "CLUSTER", "SETSLOT", m.slot, "NODE", m.dstID)
	for _, n := range m.primary {
		if n != m.dst {
			m.do(n, "CLUSTER", "SETSLOT", m.slot, "NODE", m.dstID)
		}
	}
}

// A shard's slot moved to another primary while the outbox runs: while it
// is in migration every script of that shard is answered TRYAGAIN and
// writes nothing, even when the keys it names are all still on the source,
// so no claim is cut part way (a turn read from the stream but its dossier
// not leased would never be delivered), and a claim still takes the other
// shard's work; once moved, every event is delivered.
func TestSlotMigration(t *testing.T) {
	c := redistest.StartCluster(t)
	clock := outboxtest.NewClock()
	client := c.Client(t)
	s := New(client, c.Prefix(t), clock.Now, WithShards(2))
	sh := &s.shards[0]
	// d[0…5] are dossiers of the shard that migrates, other one of the
	// other shard.
	var d []string
	other := ""
	for i := 0; len(d) < 6 || other == ""; i++ {
		n := "dossier-" + strconv.Itoa(i)
		if s.shardOf(n) == sh {
			d = append(d, n)
		} else if other == "" {
			other = n
		}
	}
	// Every key the scripts name exists, so the Cluster's own check of
	// them lets the scripts run: a lease (d0, held), a dossier waiting for
	// its retry (d4), a dead letter (d5), and two new turns (d1, d2).
	mustAppend(t, s, d[0], "e1")
	held := claim(t, s, "w", 1)[0]
	mustAppend(t, s, d[4], "e1")
	if err := s.Retry(ctx, claim(t, s, "w", 1)[0], clock.Now().Add(time.Hour), "later"); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, d[5], "e1")
	if err := s.DeadLetter(ctx, claim(t, s, "w", 1)[0], "refused"); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, d[1], "e1")
	mustAppend(t, s, d[2], "e1")
	mustAppend(t, s, other, "e1")
	for _, k := range sh.keys {
		if n, err := client.Exists(ctx, k).Result(); err != nil || n != 1 {
			t.Fatalf("%s: %d %v", k, n, err)
		}
	}

	m := startMigration(t, c, sh.keys[0])
	m.move(func(k string) bool { return strings.HasSuffix(k, ":"+d[2]) }) // d2's keys leave first
	tryAgain := func(op string, err error) {
		t.Helper()
		if err == nil || !redis.HasErrorPrefix(err, "TRYAGAIN") {
			t.Errorf("%s during the migration: %v, want TRYAGAIN", op, err)
		}
	}
	ds, err := s.Claim(ctx, "w", lease, 10)
	tryAgain("claim", err)
	if len(ds) != 1 || ds[0].Dossier != other {
		t.Errorf("claimed %+v during the migration, want the other shard's event", ds)
	}
	// Asked again at once, the shard is left alone for a moment: no
	// error, no retries.
	if more, err := s.Claim(ctx, "w", lease, 10); err != nil || len(more) != 0 {
		t.Errorf("claim again during the migration: %+v %v, want nothing and no error", more, err)
	}
	_, err = s.Append(ctx, d[3], "e1", []byte("e1"))
	tryAgain("append", err)
	tryAgain("ack", s.Ack(ctx, held))
	m.finish()
	clock.Advance(migratingPause)

	// d0's lease is still held: its ack goes through on the new primary.
	if err := s.Ack(ctx, held); err != nil {
		t.Fatalf("ack after the migration: %v", err)
	}
	mustAppend(t, s, d[3], "e1")
	var got []string
	for _, x := range append(ds, claim(t, s, "w", 3)...) {
		got = append(got, x.Dossier)
		if err := s.Ack(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{d[1], d[2], d[3], other}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Pending != 2 || st.Waiting != 1 || st.Dead != 1 || st.InFlight != 0 {
		t.Fatalf("stats %+v %v, want d4 waiting and d5 dead", st, err)
	}
}
