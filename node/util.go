package node

import (
	"slices"
	"sort"
)

func sortU64(s []uint64) { slices.Sort(s) }

// sortFetches orders fetches by connection and correlation id, so that the
// order in which a batch of them is answered never depends on map order.
func sortFetches(s []*fetchWait) {
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].cn.id != s[j].cn.id {
			return s[i].cn.id < s[j].cn.id
		}
		return s[i].corr < s[j].corr
	})
}
