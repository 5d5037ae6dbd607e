package host

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/wal"
	"github.com/ketch-dev/ketch/wal/osfs"
	"github.com/ketch-dev/ketch/wire"
)

const (
	// inputsQueuedMax bounds the loop's input queue; readers block when it is
	// full, which pushes back on clients through TCP.
	inputsQueuedMax = 4096
	// inputsPerProcessMax bounds how many inputs one loop iteration takes in
	// before calling Process, so a flood of requests cannot starve the
	// responses (and the ticks) that Process produces.
	inputsPerProcessMax = 4096
	// requestsInFlightMax bounds the requests of one connection that the node
	// holds (queued, waiting on commit or long-polling) or whose responses
	// are not written yet, acks=0 produces included (their silent answer is
	// the append). Kafka clients pipeline about 5.
	requestsInFlightMax = 64
	// connHeldBytesDefault bounds what one connection makes the host hold:
	// its requests in flight and their answers until written (a Fetch
	// counts its MaxBytes until answered). Past it the reader stops reading
	// the socket, as Kafka mutes a channel, so a client that does not read
	// its answers or floods acks=0 batches is slowed by TCP, not buffered.
	// Below raft's uncommitted-bytes limit, so one connection's acks=0
	// flood is never dropped for it.
	connHeldBytesDefault = 32 << 20
	// fetchAnswerBytesMax is the node's cap on one fetch answer's records
	// (Kafka's fetch.max.bytes default, 55 MiB).
	fetchAnswerBytesMax = 55 << 20
	// answerBytesSmall is what any answer is assumed to need before it exists.
	answerBytesSmall = 4 << 10
	// requestsUnsizedMax bounds a connection's unanswered requests whose
	// answer size the host cannot yet estimate (see reserveFor).
	requestsUnsizedMax = 4
	// produceKey is Produce's API key: its answer is small and its request
	// is what it holds.
	produceKey = 0
	// apiKeysTracked is how many API keys' largest answers are remembered.
	apiKeysTracked = 128
	// connectionsDefault bounds the open client connections (Kafka's
	// max.connections); past it a new connection is closed at once.
	connectionsDefault = 4096
	// readBufferBytes is one socket read; a frame larger than this is read
	// straight into its own buffer (conn.go readFrame).
	readBufferBytes = 64 << 10
	// acceptRetryInterval is the pause after a failed Accept (e.g. EMFILE).
	acceptRetryInterval = 100 * time.Millisecond
)

// Config describes one real node.
type Config struct {
	// Listen is the TCP address Kafka clients dial; "127.0.0.1:0" picks a
	// free port (see Host.Addr).
	Listen string
	// Advertise is the host:port Metadata tells clients to dial. Default: the
	// listen host with the bound port ("localhost" when the listen host is
	// empty or unspecified, e.g. ":9092"). A port of 0 means the bound port.
	Advertise string
	// DataDir holds this node's data; the write-ahead log is DataDir/wal.
	DataDir string
	// FS is the disk; default osfs.New().
	FS wal.FS
	// WAL is passed to wal.Open.
	WAL wal.Options
	// Node configures the core. Start fills in Log, AdvertisedHost,
	// AdvertisedPort, and Logger (when nil); ID must be set.
	Node node.Config
	// TickInterval, if set, is the longest the loop waits before handing
	// the node the OS time again. By default it waits for Node.NextTick
	// (the next raft tick or deadline of something held), so an idle node
	// wakes once per raft tick, not on a fine cadence.
	TickInterval time.Duration
	// Raft is the address peers dial (the -raft flag); Peers maps every
	// voter's id to the address this node dials for it, this node's own
	// included (the -peers flag). Empty Peers is a one-node cluster.
	Raft  string
	Peers map[uint64]string
	// ShutdownTransfer bounds how long Close keeps serving while it hands
	// the leadership of its groups to other voters; default 5s.
	ShutdownTransfer time.Duration
	// Logger receives one line per notable event; default slog.Default().
	Logger *slog.Logger
	// ConnectionsMax bounds the open client connections; default 4096.
	ConnectionsMax int
	// ConnHeldBytes bounds one connection's requests in flight and unwritten
	// answers, in bytes, before its socket is no longer read; default 32 MiB.
	ConnHeldBytes int
}

// Host serves one node.Node over TCP with the OS clock and disk.
type Host struct {
	cfg             Config
	log             *slog.Logger
	ln              net.Listener
	wal             *wal.Log
	n               *node.Node
	frameBytesMax   int
	messageBytesMax int
	// answerBytes is, per API key, the largest single answer written (see
	// reserveFor).
	answerBytes [apiKeysTracked]atomic.Int64

	inputs chan input
	// peerQueued is the peer messages in inputs, at most inputsQueuedMax
	// (a delivery carries up to peerDeliverMax): peer readers wait on
	// peerCond for room, so the queue in front of the loop stays as short
	// as when each message was an input of its own, and an Alive behind it
	// waits no longer.
	peerMu     sync.Mutex
	peerCond   *sync.Cond
	peerQueued int
	peerWaits  int           // readers waiting for room (tests look)
	quit       chan struct{} // closed to stop the loop, the acceptor and the readers
	stopOnce   sync.Once

	mu      sync.Mutex
	live    map[*conn]struct{} // every connection not yet forgotten, for the teardown
	closing bool               // set by the teardown: accept no more connections
	nextID  node.ConnID

	transport *Transport    // nil for a one-node cluster
	lock      *os.File      // the data directory's lock, held until the WAL is closed
	drain     chan struct{} // closed by Close: hand over leadership, then stop
	drainOnce sync.Once

	wg   sync.WaitGroup // acceptor, readers, writers
	done chan struct{}  // closed when everything has stopped and the WAL is closed
	err  error          // why the host stopped; read after done
}

type inputKind int

const (
	inOpen inputKind = iota
	inFrame
	inClosed
	inPeer        // messages from a peer
	inUnreachable // the transport dropped messages to a peer
)

// input is one thing the loop must hand to the node.
type input struct {
	kind  inputKind
	c     *conn
	frame []byte
	msgs  []node.PeerMessage // inPeer: in the order the peer sent them
	peer  uint64
}

// Start opens the WAL, creates the node, listens, and starts serving. On
// error nothing is left running.
func Start(cfg Config) (*Host, error) {
	if cfg.Node.ID == 0 {
		return nil, errors.New("host: Node.ID must be set")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("host: DataDir must be set")
	}
	if cfg.ShutdownTransfer <= 0 {
		cfg.ShutdownTransfer = 5 * time.Second
	}
	if cfg.ConnectionsMax <= 0 {
		cfg.ConnectionsMax = connectionsDefault
	}
	if cfg.ConnHeldBytes <= 0 {
		cfg.ConnHeldBytes = connHeldBytesDefault
	}
	if len(cfg.Peers) > 0 {
		if _, ok := cfg.Peers[cfg.Node.ID]; !ok {
			return nil, fmt.Errorf("host: node %d is not in the peer list", cfg.Node.ID)
		}
		if cfg.Raft == "" {
			cfg.Raft = cfg.Peers[cfg.Node.ID]
		}
		cfg.Node.Peers = cfg.Node.Peers[:0]
		for id := range cfg.Peers {
			cfg.Node.Peers = append(cfg.Node.Peers, id)
		}
	}
	if cfg.Node.Incarnation == 0 {
		// Tells this run's proposals from an earlier run's (see node.Config).
		cfg.Node.Incarnation = uint64(time.Now().UnixNano())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Node.Logger == nil {
		cfg.Node.Logger = cfg.Logger
	}
	frameBytesMax := cfg.Node.FrameBytesMax
	if frameBytesMax <= 0 {
		frameBytesMax = wire.FrameBytesMaxDefault
	}

	messageBytesMax := cfg.Node.MessageMaxBytes
	if messageBytesMax <= 0 {
		messageBytesMax = 1048588 // the node's default, Kafka's message.max.bytes
	}

	walDir := filepath.Join(cfg.DataDir, "wal")
	onDisk := cfg.FS == nil
	if onDisk {
		cfg.FS = osfs.New()
	}
	// A fresh -data directory should just work.
	if err := cfg.FS.MkdirAll(walDir); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	// Two processes on one data directory would interleave writes to one
	// log: the second one is refused.
	var lock *os.File
	if onDisk {
		var err error
		if lock, err = lockDir(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("host: %w", err)
		}
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		unlock(lock)
		return nil, fmt.Errorf("host: listen: %w", err)
	}
	advHost, advPort, err := advertised(cfg.Listen, cfg.Advertise, ln.Addr())
	if err != nil {
		ln.Close()
		unlock(lock)
		return nil, err
	}
	cfg.Node.AdvertisedHost, cfg.Node.AdvertisedPort = advHost, advPort

	if b := cfg.Node.Bug; wal.PlantsBug(b) {
		cfg.WAL.Bug = b // planted in the log (chaos build only)
	}
	walLog, err := wal.Open(cfg.FS, walDir, cfg.WAL)
	if err != nil {
		ln.Close()
		unlock(lock)
		return nil, fmt.Errorf("host: open wal %s: %w", walDir, err)
	}
	cfg.Node.Log = walLog
	n, err := node.New(cfg.Node)
	if err != nil {
		ln.Close()
		walLog.Close()
		unlock(lock)
		return nil, fmt.Errorf("host: %w", err)
	}

	h := &Host{
		cfg:             cfg,
		log:             cfg.Logger,
		ln:              ln,
		wal:             walLog,
		n:               n,
		frameBytesMax:   frameBytesMax,
		messageBytesMax: messageBytesMax,
		inputs:          make(chan input, inputsQueuedMax),
		quit:            make(chan struct{}),
		live:            make(map[*conn]struct{}),
		done:            make(chan struct{}),
		drain:           make(chan struct{}),
		lock:            lock,
	}
	h.peerCond = sync.NewCond(&h.peerMu)
	if len(cfg.Peers) > 0 {
		t, err := NewTransport(cfg.Node.ID, cfg.Raft, cfg.Peers, cfg.Logger,
			h.deliverPeer,
			func(peer uint64) {
				select { // a lost report only delays raft's probing
				case h.inputs <- input{kind: inUnreachable, peer: peer}:
				default:
				}
			})
		if err != nil {
			ln.Close()
			walLog.Close()
			unlock(lock)
			return nil, fmt.Errorf("host: %w", err)
		}
		h.transport = t
		h.log.Info("peers", "node", cfg.Node.ID, "raft", t.Addr(), "voters", len(cfg.Peers))
	}
	h.log.Info("listening", "node", cfg.Node.ID, "addr", ln.Addr().String(),
		"advertise", net.JoinHostPort(advHost, strconv.Itoa(int(advPort))), "wal", walDir)
	h.wg.Add(1)
	go h.accept()
	go h.run()
	return h, nil
}

// advertised picks the address Metadata reports for this node.
func advertised(listen, advertise string, bound net.Addr) (string, int32, error) {
	boundPort := bound.(*net.TCPAddr).Port
	hostPart, portPart := "", "0"
	if advertise != "" {
		var err error
		hostPart, portPart, err = net.SplitHostPort(advertise)
		if err != nil {
			return "", 0, fmt.Errorf("host: advertise %q: %w", advertise, err)
		}
	} else if h, _, err := net.SplitHostPort(listen); err == nil {
		hostPart = h
	}
	if ip := net.ParseIP(hostPart); hostPart == "" || (ip != nil && ip.IsUnspecified()) {
		hostPart = "localhost"
	}
	port, err := strconv.Atoi(portPart)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("host: advertise %q: bad port", advertise)
	}
	if port == 0 {
		port = boundPort
	}
	return hostPart, int32(port), nil
}

// Addr is the address the listener is bound to.
func (h *Host) Addr() string { return h.ln.Addr().String() }

// Done is closed when the host has stopped, by Close or because the loop
// failed (then Err is not nil).
func (h *Host) Done() <-chan struct{} { return h.done }

// Err is why the host stopped: nil before Done is closed and after a clean
// Close; otherwise the disk error that killed the loop (or the WAL's close
// error).
func (h *Host) Err() error {
	select {
	case <-h.done:
		return h.err
	default:
		return nil
	}
}

// Close hands the leadership of every group this node leads to another
// voter (serving meanwhile, for at most ShutdownTransfer), then stops
// accepting, closes every connection, stops the loop and closes the WAL. It
// waits for all of it and returns Err.
func (h *Host) Close() error {
	h.drainOnce.Do(func() { close(h.drain) })
	<-h.done
	return h.err
}

func (h *Host) stop() {
	h.stopOnce.Do(func() {
		close(h.quit)
		h.wakePeerWaiters()
		h.ln.Close()
	})
}

// deliverPeer hands a peer's messages to the loop, once the messages
// already queued leave room for them (see peerQueued).
func (h *Host) deliverPeer(ms []node.PeerMessage) {
	h.peerMu.Lock()
	for h.peerQueued > 0 && h.peerQueued+len(ms) > inputsQueuedMax {
		select {
		case <-h.quit:
			h.peerMu.Unlock()
			return
		default:
		}
		h.peerWaits++
		h.peerCond.Wait()
		h.peerWaits--
	}
	h.peerQueued += len(ms)
	h.peerMu.Unlock()
	h.send(input{kind: inPeer, msgs: ms})
}

// peerTaken gives back the room of n peer messages the loop took.
func (h *Host) peerTaken(n int) {
	h.peerMu.Lock()
	h.peerQueued -= n
	h.peerCond.Broadcast()
	h.peerMu.Unlock()
}

// wakePeerWaiters lets readers waiting for room see that the host stops.
func (h *Host) wakePeerWaiters() {
	h.peerMu.Lock()
	h.peerCond.Broadcast()
	h.peerMu.Unlock()
}

// run is the host's lifetime: the loop, then the teardown in order.
func (h *Host) run() {
	err := h.loop()
	if err != nil {
		h.log.Error("node stopped", "err", err)
	}
	h.stop()
	if h.transport != nil {
		h.transport.Close()
	}
	h.mu.Lock()
	h.closing = true
	for c := range h.live {
		c.shutdown()
	}
	h.mu.Unlock()
	h.wg.Wait()
	// After a disk failure the WAL's close error is that same failure again.
	cerr := h.wal.Close()
	unlock(h.lock)
	if cerr != nil && err == nil {
		h.log.Error("closing wal", "err", cerr)
		err = cerr
	}
	h.err = err
	close(h.done)
}

// loop is the only goroutine that touches h.n. Each iteration takes at least
// one input, drains whatever else is already queued, then calls Process once:
// that single call is one fsync for everything taken in (group commit).
func (h *Host) loop() error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	conns := make(map[node.ConnID]*conn)
	drain := h.drain
	var drainUntil time.Time
	for {
		taken := 0 // inputs handed to the node since the last Process, a peer's messages one each
		select {
		case <-h.quit:
			return nil
		case <-drain:
			drain = nil // seen; keep going until handed over
			drainUntil = time.Now().Add(h.cfg.ShutdownTransfer)
			h.log.Info("handing over leadership before stopping", "node", h.cfg.Node.ID)
		case in := <-h.inputs:
			taken += h.handle(conns, in)
		case <-timer.C:
		}
		if !drainUntil.IsZero() {
			if left := h.n.TransferLeadership(); left == 0 || time.Now().After(drainUntil) {
				if left > 0 {
					h.log.Warn("stopping while still leading", "groups", left)
				}
				return nil
			}
		}
	drain:
		for taken < inputsPerProcessMax {
			select {
			case in := <-h.inputs:
				taken += h.handle(conns, in)
			default:
				break drain
			}
		}
		// Fresh time before Process so deadlines set by the requests just
		// handed over start from now, not from the last tick.
		h.n.Tick(time.Now())
		out, err := h.n.Process()
		if err != nil {
			return fmt.Errorf("process: %w", err)
		}
		for _, r := range out.Responses {
			if c, ok := conns[r.Conn]; ok {
				c.enqueue(r)
			}
		}
		if len(out.Messages) > 0 && h.transport != nil {
			h.transport.Send(out.Messages)
		}
		// NextTick after Process: what it did may bring it closer.
		wait := max(0, time.Until(h.n.NextTick()))
		if h.cfg.TickInterval > 0 {
			wait = min(wait, h.cfg.TickInterval)
		}
		timer.Reset(wait)
	}
}

// handle hands one input to the node and says how many inputs it counts
// for (a delivery of a peer's messages counts each).
func (h *Host) handle(conns map[node.ConnID]*conn, in input) int {
	switch in.kind {
	case inOpen:
		conns[in.c.id] = in.c
	case inFrame:
		if _, ok := conns[in.c.id]; ok {
			h.n.HandleFrame(in.c.id, in.frame)
		}
	case inClosed:
		if _, ok := conns[in.c.id]; ok {
			delete(conns, in.c.id)
			h.n.CloseConn(in.c.id)
		}
	case inPeer:
		h.peerTaken(len(in.msgs))
		for _, m := range in.msgs {
			h.n.Step(m)
		}
		return len(in.msgs)
	case inUnreachable:
		h.n.ReportUnreachable(in.peer)
	}
	return 1
}

// send hands an input to the loop; false if the host is stopping.
func (h *Host) send(in input) bool {
	select {
	case h.inputs <- in:
		return true
	case <-h.quit:
		return false
	}
}

func (h *Host) accept() {
	defer h.wg.Done()
	for {
		nc, err := h.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Typically out of file descriptors: back off and retry rather
			// than stop serving for good.
			h.log.Warn("accept failed", "err", err, "retry_in", acceptRetryInterval)
			select {
			case <-time.After(acceptRetryInterval):
				continue
			case <-h.quit:
				return
			}
		}
		h.mu.Lock()
		if h.closing {
			h.mu.Unlock()
			nc.Close()
			return
		}
		if len(h.live) >= h.cfg.ConnectionsMax {
			h.mu.Unlock()
			h.log.Warn("connection refused: too many connections", "max", h.cfg.ConnectionsMax, "remote", nc.RemoteAddr().String())
			nc.Close()
			continue
		}
		h.nextID++
		c := newConn(h, h.nextID, nc)
		h.live[c] = struct{}{}
		h.mu.Unlock()
		h.log.Debug("connection opened", "conn", c.id, "remote", nc.RemoteAddr().String())
		// inOpen goes first on the same channel the reader uses, so the loop
		// knows the connection before its first frame.
		if !h.send(input{kind: inOpen, c: c}) {
			c.shutdown()
			h.forget(c)
			return
		}
		h.wg.Add(2)
		go c.read()
		go c.write()
	}
}

// Held reports what the client connections make the host hold right now:
// the open connections, their requests in flight (admitted, answer not yet
// written) and the bytes counted against their ConnHeldBytes budgets.
func (h *Host) Held() (conns, requests, bytes int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.live {
		c.mu.Lock()
		requests += c.requests
		bytes += c.reserved + c.unwritten
		c.mu.Unlock()
		conns++
	}
	return conns, requests, bytes
}

// HeldMost is the most requests and the most bytes any one connection holds
// now: the per-connection figures Config.ConnHeldBytes bounds, which Held's
// sums over every connection hide.
func (h *Host) HeldMost() (requests, bytes int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.live {
		c.mu.Lock()
		requests = max(requests, c.requests)
		bytes = max(bytes, c.reserved+c.unwritten)
		c.mu.Unlock()
	}
	return requests, bytes
}

func (h *Host) forget(c *conn) {
	h.mu.Lock()
	delete(h.live, c)
	h.mu.Unlock()
}

// lockDir takes an exclusive lock on dir/LOCK, held while the host runs (the
// kernel drops it if the process dies, so a crash never leaves it stale).
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another process (%v)", dir, err)
	}
	return f, nil
}

func unlock(f *os.File) {
	if f != nil {
		f.Close() // closing releases the flock
	}
}
