// Package chaos runs the simulator's kind of workload and checks against real
// cmd/node processes on loopback, with real faults: SIGKILL, SIGTERM, SIGSTOP
// and cut peer links.
//
// A run (Run) builds cmd/node (with -tags chaos when a planted bug is asked
// for), starts three nodes, and routes every peer link through a Proxy, one
// per directed link (node i dials node j through proxy i→j), so that a node
// can be isolated by cutting the proxies into and out of it while its Kafka
// listener stays reachable by clients, the way a partitioned broker is.
// Idempotent franz-go producers write unique values; consumers issue raw
// Fetch requests to the partition leader so that each read's call and return
// times and high watermark are exactly what the broker answered. A seeded
// fault schedule kills, stops, restarts and isolates nodes, then everything
// heals, the workload runs on, and a full read of the partition ends the
// history, which checker.Check judges with the same models the simulator
// uses.
//
// Real processes are not deterministic: the seed fixes the schedule (which
// kind of fault, when, for how long), not the interleaving. A failure prints
// the command that reruns the same schedule, the node logs and porcupine's
// visualisation.
//
//	res, err := chaos.Run(ctx, chaos.Config{Duration: 2 * time.Minute, Seed: 1})
//
// cmd/chaos is the command-line front end; TestChaosShort runs a short
// version when KETCH_CHAOS=1.
package chaos
