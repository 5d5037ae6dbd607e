package checker

import (
	"fmt"
	"strings"

	"github.com/anishathalye/porcupine"
)

// logNode is the porcupine state: the partition log as a persistent linked
// list, newest entry first. Porcupine keeps every state it has visited in its
// cache and backtracks constantly, so appends must share the prefix instead of
// copying it, and Equal/Hash must not walk the whole log: each node carries
// the hash of its prefix, and equal-hash logs share a tail pointer early.
//
// jump is a Myers jump pointer, so the entry at any offset is found in
// O(log n) steps rather than by walking back from the tail: a fetch from an old
// offset would otherwise cost O(length) steps every time porcupine tries it.
type logNode struct {
	parent *logNode
	jump   *logNode
	value  string
	// unread marks the entry of an ambiguous produce no read saw. No fetch
	// can show it, so which such value sits where cannot matter; leaving the
	// value out makes logs differing only there equal, and porcupine's cache
	// then holds 2^k states for k such produces instead of k!.
	unread bool
	len    int64 // entries in the log ending here; the node's offset is len-1
	hash   uint64
}

// emptyLog is the shared, immutable root of every log.
var emptyLog = func() *logNode {
	n := &logNode{hash: 0x9e3779b97f4a7c15}
	n.jump = n
	return n
}()

func (n *logNode) append(value string, unread bool) *logNode {
	h := fnv64(value)
	if unread {
		value, h = "", unreadHash
	}
	c := &logNode{parent: n, value: value, unread: unread, len: n.len + 1, hash: mix64(n.hash ^ h)}
	// Myers' rule: jump twice as far whenever the two jumps below are equal.
	if j := n.jump; n.len-j.len == j.len-j.jump.len {
		c.jump = j.jump
	} else {
		c.jump = n
	}
	return c
}

// at returns the node whose entry is at offset (the log must be longer).
func (n *logNode) at(offset int64) *logNode {
	want := offset + 1
	for n.len != want {
		if n.jump.len >= want {
			n = n.jump
		} else {
			n = n.parent
		}
	}
	return n
}

func logsEqual(a, b *logNode) bool {
	if a.len != b.len || a.hash != b.hash {
		return false
	}
	for a != b { // same length: both reach emptyLog together
		if a.value != b.value || a.unread != b.unread {
			return false
		}
		a, b = a.parent, b.parent
	}
	return true
}

// unreadHash stands for an unread entry: any constant unlikely as an fnv64.
const unreadHash = 0x5bd1e9955bd1e995

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is splitmix64's finaliser: it spreads the xor of prefix hash and
// value hash so that logs differing only in order hash differently.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// modelInput and modelOutput are what porcupine stores per operation.
type modelInput struct {
	kind   Kind
	value  string // produce
	unread bool   // produce: ambiguous, and no read saw the value
	offset int64  // fetch
}

type modelOutput struct {
	known   bool  // false: ambiguous produce, any offset (or none) is fine
	offset  int64 // produce
	records []Record
	hw      int64
}

// stateShownMax bounds how many entries DescribeState prints: the tail is
// what differs between candidate linearizations.
const stateShownMax = 8

// partitionModel is the sequential specification of one Kafka partition with
// acks=all: produce appends at the end and returns the offset; fetch returns
// a slice of the committed log and the high watermark, which is the log
// length at the linearization point.
var partitionModel = porcupine.Model{
	Init: func() any { return emptyLog },
	Step: func(state, input, output any) (bool, any) {
		log := state.(*logNode)
		in := input.(*modelInput)
		out := output.(*modelOutput)
		switch in.kind {
		case Produce:
			if out.known && out.offset != log.len {
				return false, log
			}
			return true, log.append(in.value, in.unread)
		case Fetch:
			n := int64(len(out.records))
			if out.hw != log.len || in.offset < 0 || in.offset+n > log.len {
				return false, log
			}
			if n == 0 {
				return true, log
			}
			e := log.at(in.offset + n - 1)
			for k := n - 1; k >= 0; k-- {
				if rec := out.records[k]; rec.Offset != in.offset+k || rec.Value != e.value || e.unread {
					return false, log
				}
				e = e.parent
			}
			return true, log
		}
		return false, log
	},
	Equal: func(a, b any) bool { return logsEqual(a.(*logNode), b.(*logNode)) },
	Hash:  func(s any) uint64 { return s.(*logNode).hash },
	DescribeOperation: func(input, output any) string {
		in := input.(*modelInput)
		out := output.(*modelOutput)
		switch in.kind {
		case Produce:
			if !out.known {
				return fmt.Sprintf("produce(%q) → ?", in.value)
			}
			return fmt.Sprintf("produce(%q) → %d", in.value, out.offset)
		case Fetch:
			var b strings.Builder
			fmt.Fprintf(&b, "fetch(%d) → [", in.offset)
			for k, r := range out.records {
				if k > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(&b, "%d:%q", r.Offset, r.Value)
			}
			fmt.Fprintf(&b, "] hw=%d", out.hw)
			return b.String()
		}
		return "?"
	},
	DescribeState: func(state any) string {
		log := state.(*logNode)
		var shown []string
		for n := log; n.len > 0 && len(shown) < stateShownMax; n = n.parent {
			if n.unread {
				shown = append(shown, fmt.Sprintf("%d:?", n.len-1))
				continue
			}
			shown = append(shown, fmt.Sprintf("%d:%q", n.len-1, n.value))
		}
		for i, j := 0, len(shown)-1; i < j; i, j = i+1, j-1 {
			shown[i], shown[j] = shown[j], shown[i]
		}
		prefix := ""
		if log.len > stateShownMax {
			prefix = "… "
		}
		return fmt.Sprintf("len=%d [%s%s]", log.len, prefix, strings.Join(shown, " "))
	},
	DescribeOperationMetadata: func(info any) string {
		if r, ok := info.(*opRef); ok {
			return describeOp(r.i, r.op)
		}
		return ""
	},
}
