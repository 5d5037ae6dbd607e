//go:build !chaos

package main

// chaosBug is empty in an ordinary build: the -bug switch exists only when
// cmd/node is built with -tags chaos (see bug_chaos.go).
func chaosBug() string { return "" }
