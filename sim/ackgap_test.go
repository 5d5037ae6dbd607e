package sim

import (
	"testing"
	"time"

	"github.com/ketch-dev/ketch/checker"
)

func TestLongestAckGap(t *testing.T) {
	ms := func(n int64) int64 { return n * int64(time.Millisecond) }
	var h checker.History
	// One producer acknowledged every 10ms from 0 to 20s, except: nothing
	// between 5s and 7s (a fault covers it, with its grace), nothing between
	// 12s and 16s while a produce was outstanding, and nothing between 17s
	// and 19s while nobody asked.
	for at := int64(0); at < 20_000; at += 10 {
		switch {
		case at > 5_000 && at < 7_000, at > 12_000 && at < 16_000, at > 17_000 && at < 19_000:
			continue
		}
		h = append(h, checker.Op{Kind: checker.Produce, Partition: "t/0", Call: ms(at) - ms(5), Return: ms(at), OK: true})
	}
	h = append(h, checker.Op{Kind: checker.Produce, Partition: "t/0", Call: ms(12_001), Return: ms(15_999), Ambiguous: true})
	faults := []checker.Annotation{{Start: ms(4_900), End: ms(6_000)}}
	g := longestAckGap(h, faults, ms(20_000))
	if g.Partition != "t/0" || g.From != ms(12_001) || g.To != ms(16_000) {
		t.Fatalf("gap %s, want 3.999s on t/0 from 12.001s to the next ack at 16s", g)
	}
	if g.Len() <= ackGapMax {
		t.Fatalf("a 4s silence is within the bound %v", ackGapMax)
	}
	// The same silence under a fault is not counted.
	faults = append(faults, checker.Annotation{Start: ms(11_000), End: ms(15_000)})
	if g := longestAckGap(h, faults, ms(20_000)); g.Len() > 100*time.Millisecond {
		t.Fatalf("a silence under a fault and its grace counted: %s", g)
	}
}
