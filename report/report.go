package report

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/sim"
)

// Options carry what the page cannot learn from the Result.
type Options struct {
	Bug   string // the planted bug, "" for none
	Repro string // the one-line command that reproduces the run
}

// Bounds on what the header lists: a failing run can have thousands of
// anomalies, and the page is for reading.
const (
	violationsShownMax = 50
	checkLinesShownMax = 100
)

// WriteFile writes the run's page to path.
func WriteFile(path string, r sim.Result, opt Options) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, r, opt); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Write writes the run's page to w.
func Write(w io.Writer, r sim.Result, opt Options) error {
	p := &page{w: bufio.NewWriterSize(w, 64<<10), r: &r, opt: opt}
	p.f = findFocus(p.r)
	p.end = int64(r.SimTime)
	if p.end <= 0 {
		p.end = 1
	}
	for _, k := range r.Knobs {
		if v, ok := strings.CutPrefix(k, "duration="); ok {
			if d, err := time.ParseDuration(v); err == nil {
				p.quiet = int64(d)
			}
		}
		if v, ok := strings.CutPrefix(k, "nodes="); ok {
			p.nodes, _ = strconv.Atoi(v)
		}
	}
	for _, s := range r.Roles {
		p.nodes = max(p.nodes, int(s.Node))
	}
	for _, n := range r.FaultNodes {
		p.nodes = max(p.nodes, int(n))
	}
	p.head()
	p.header()
	p.faults()
	p.roles()
	p.ops()
	p.porcupine()
	p.printf("</body>\n</html>\n")
	if p.err != nil {
		return p.err
	}
	return p.w.Flush()
}

type page struct {
	w     *bufio.Writer
	err   error
	r     *sim.Result
	opt   Options
	f     focus
	end   int64 // the run's simulated length, ns
	quiet int64 // when the faults stop and the quiet period begins (0: unknown)
	nodes int
}

func (p *page) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// esc escapes text for an element's content or a quoted attribute.
func esc(s string) string { return html.EscapeString(s) }

func secs(ns int64) string { return strconv.FormatFloat(float64(ns)/1e9, 'f', 3, 64) + "s" }

const css = `
body { font: 13px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
code, pre, td.mono { font-family: ui-monospace, monospace; font-size: 12px; }
pre { background: #f6f6f6; padding: .5em; overflow-x: auto; max-height: 30em; }
table { border-collapse: collapse; }
table.kv td { padding: 1px 10px 1px 0; vertical-align: top; }
table.ops td, table.ops th { border: 1px solid #ddd; padding: 1px 5px; text-align: left; white-space: nowrap; }
table.ops tr.bad td { background: #fdd; font-weight: bold; }
.fail { color: #b00; font-weight: bold; } .pass { color: #070; font-weight: bold; }
.legend span { display: inline-block; padding: 0 6px; margin-right: 4px; border: 1px solid #999; }
svg text { font: 11px system-ui, sans-serif; }
svg .lbl { fill: #333; } svg .in { fill: #fff; pointer-events: none; } svg .dark { fill: #000; pointer-events: none; }
iframe { width: 100%; height: 85vh; border: 1px solid #ccc; }
`

func (p *page) head() {
	title := fmt.Sprintf("ketch sim %s seed %d", p.r.Scenario, p.r.Seed)
	if p.opt.Bug != "" {
		title += " bug " + p.opt.Bug
	}
	p.printf("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n", esc(title), css)
}

func verdict(ok bool) string {
	if ok {
		return `<span class="pass">PASS</span>`
	}
	return `<span class="fail">FAIL</span>`
}

func (p *page) header() {
	r := p.r
	p.printf("<section id=\"header\">\n<h1>ketch simulation: scenario %s, seed %d", esc(r.Scenario), r.Seed)
	if p.opt.Bug != "" {
		p.printf(", bug %s", esc(p.opt.Bug))
	}
	p.printf(" — %s</h1>\n<table class=\"kv\">\n", verdict(r.OK))
	row := func(k, v string) { p.printf("<tr><td>%s</td><td>%s</td></tr>\n", esc(k), v) }
	row("scenario", esc(r.Scenario))
	row("seed", strconv.FormatInt(r.Seed, 10))
	bug := p.opt.Bug
	if bug == "" {
		bug = "none"
	}
	row("planted bug", esc(bug))
	row("verdict", verdict(r.OK))
	if fc := r.FirstCheck(); fc != "" {
		row("first check that fired", "<code>"+esc(fc)+"</code>")
	}
	row("run", esc(fmt.Sprintf("%d ops, %d events, %v simulated in %v (checks %v)", len(r.History), r.Events, r.SimTime,
		r.Wall.Round(time.Millisecond), r.CheckWall.Round(time.Millisecond))))
	row("trace hash", "<code>"+esc(r.TraceHash)+"</code>")
	row("ack gap", esc(r.AckGap.String()))
	if p.opt.Repro != "" {
		row("reproduce", "<code id=\"repro\">"+esc(p.opt.Repro)+"</code>")
	}
	p.printf("</table>\n")

	p.printf("<h2>Violations (%d)</h2>\n", len(r.Violations))
	if len(r.Violations) == 0 {
		p.printf("<p>None raised while the run went or at its end.</p>\n")
	} else {
		p.printf("<ol class=\"violations\">\n")
		for i, v := range r.Violations {
			if i == violationsShownMax {
				p.printf("<li>… %d more</li>\n", len(r.Violations)-i)
				break
			}
			p.printf("<li><code>%s</code></li>\n", esc(v))
		}
		p.printf("</ol>\n")
	}
	lines := strings.Split(r.Check.String(), "\n")
	if len(lines) > checkLinesShownMax {
		lines = append(lines[:checkLinesShownMax], fmt.Sprintf("… %d more lines", len(lines)-checkLinesShownMax))
	}
	p.printf("<h2>History checks</h2>\n<pre id=\"check\">%s</pre>\n", esc(strings.Join(lines, "\n")))
	p.printf("<details><summary>Knobs (%d)</summary>\n<pre id=\"knobs\">%s</pre>\n</details>\n", len(r.Knobs), esc(strings.Join(r.Knobs, "\n")))
	names := make([]string, 0, len(r.Stats))
	for k := range r.Stats {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "%s=%d\n", k, r.Stats[k])
	}
	p.printf("<details><summary>Stats (%d)</summary>\n<pre id=\"stats\">%s</pre>\n</details>\n</section>\n", len(names), esc(b.String()))
}

// The timelines share one geometry: a label column, then simulated time
// from 0 to the run's end across plotW pixels.
const (
	labelW = 190
	plotW  = 1000
	rowH   = 18
	axisH  = 20
)

func (p *page) x(t int64) float64 {
	t = min(max(t, 0), p.end)
	return labelW + float64(t)/float64(p.end)*plotW
}

// svgOpen starts a timeline of rows rows, with its time axis on top.
func (p *page) svgOpen(id string, rows int) (top int) {
	h := axisH + rows*rowH + 4
	w := labelW + plotW + 40 // room for the last tick's label
	p.printf("<svg id=\"%s\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", id, w, h, w, h)
	step := int64(time.Second)
	for _, s := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute} {
		step = int64(s)
		if p.end/step <= 20 {
			break
		}
	}
	for t := int64(0); t <= p.end; t += step {
		x := p.x(t)
		p.printf("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x, axisH-4, x, h)
		p.printf("<text class=\"lbl\" x=\"%.1f\" y=\"%d\">%s</text>\n", x+2, axisH-7, esc(time.Duration(t).String()))
	}
	return axisH
}

// svgClose draws the markers over the rows and ends the timeline.
func (p *page) svgClose(rows int) {
	bottom := axisH + rows*rowH + 4
	if p.quiet > 0 && p.quiet < p.end {
		x := p.x(p.quiet)
		p.printf("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#555\" stroke-dasharray=\"4 3\"><title>faults stop, quiet period begins: %s</title></line>\n",
			x, axisH-4, x, bottom, secs(p.quiet))
	}
	if !p.r.OK && p.f.at >= 0 {
		x := p.x(p.f.at)
		p.printf("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#d00\" stroke-width=\"2\"><title>%s at %s</title></line>\n",
			x, axisH-4, x, bottom, esc(clip(p.f.what, 300)), secs(p.f.at))
	}
	p.printf("</svg>\n")
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// span draws one bar of a row: at least 2px wide so that an instant shows,
// with a tooltip, and a label inside when it fits.
func (p *page) span(y int, from, to int64, fill, label, tip string, darkText bool) {
	x0, x1 := p.x(from), p.x(to)
	w := max(x1-x0, 2)
	p.printf("<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s</title></rect>\n", x0, y+1, w, rowH-3, fill, esc(tip))
	if label != "" && w >= float64(7*len(label)+4) {
		class := "in"
		if darkText {
			class = "dark"
		}
		p.printf("<text class=\"%s\" x=\"%.1f\" y=\"%d\">%s</text>\n", class, x0+2, y+rowH-5, esc(label))
	}
}

func (p *page) rowLabel(y int, label string) {
	p.printf("<text class=\"lbl\" x=\"4\" y=\"%d\">%s</text>\n", y+rowH-5, esc(label))
}

// clusterFaults hit the whole network rather than one node.
var clusterFaults = map[string]bool{string(sim.Split): true, string(sim.NetChaos): true, string(sim.SnapCrash): true}

var faultColours = []string{"#e6194b", "#f58231", "#911eb4", "#4363d8", "#3cb44b", "#9a6324", "#f032e6", "#469990", "#808000", "#000075", "#800000", "#a9a9a9"}

func faultColour(kind string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(kind); i++ {
		h = (h ^ uint32(kind[i])) * 16777619
	}
	return faultColours[h%uint32(len(faultColours))]
}

func (p *page) faults() {
	r := p.r
	p.printf("<section id=\"faults\">\n<h2>Fault timeline (%d faults)</h2>\n", len(r.Faults))
	if len(r.Faults) == 0 {
		p.printf("<p>No fault was injected.</p>\n</section>\n")
		return
	}
	// Rows: the network, then each node; overlapping faults of one row go
	// on lanes of their own.
	type placed struct {
		i    int
		lane int
	}
	rowOf := func(i int) int {
		if clusterFaults[r.Faults[i].Tag] || i >= len(r.FaultNodes) {
			return 0
		}
		return int(r.FaultNodes[i])
	}
	lanes := make([][]int64, p.nodes+1) // per row, per lane: where its last fault ends
	var all []placed
	order := make([]int, len(r.Faults))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return r.Faults[order[a]].Start < r.Faults[order[b]].Start })
	for _, i := range order {
		row := min(rowOf(i), p.nodes)
		a := r.Faults[i]
		end := max(a.End, a.Start+p.end/200) // an instant still takes room
		lane := -1
		for l, last := range lanes[row] {
			if last <= a.Start {
				lane = l
				break
			}
		}
		if lane < 0 {
			lane = len(lanes[row])
			lanes[row] = append(lanes[row], 0)
		}
		lanes[row][lane] = end
		all = append(all, placed{i, lane})
	}
	rowTop := make([]int, p.nodes+2)
	rows := 0
	for row := 0; row <= p.nodes; row++ {
		rowTop[row] = rows
		rows += max(1, len(lanes[row]))
	}
	top := p.svgOpen("fault-timeline", rows)
	for row := 0; row <= p.nodes; row++ {
		label := fmt.Sprintf("node %d", row)
		if row == 0 {
			label = "network / cluster"
		}
		p.rowLabel(top+rowTop[row]*rowH, label)
	}
	for _, pl := range all {
		a := r.Faults[pl.i]
		row := min(rowOf(pl.i), p.nodes)
		y := top + (rowTop[row]+pl.lane)*rowH
		tip := fmt.Sprintf("%s: %s – %s", a.Description, secs(a.Start), secs(a.End))
		p.span(y, a.Start, a.End, faultColour(a.Tag), a.Tag, tip, false)
	}
	p.svgClose(rows)
	p.printf("<table class=\"ops\">\n<tr><th>fault</th><th>node</th><th>from</th><th>to</th></tr>\n")
	for _, i := range order {
		a := r.Faults[i]
		node := "-"
		if i < len(r.FaultNodes) && !clusterFaults[a.Tag] {
			node = strconv.FormatUint(r.FaultNodes[i], 10)
		}
		p.printf("<tr><td class=\"mono\">%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", esc(a.Description), node, secs(a.Start), secs(a.End))
	}
	p.printf("</table>\n</section>\n")
}

var roleColours = map[sim.Role]string{
	sim.RoleLeader:    "#1b7f2a",
	sim.RoleNewLeader: "#7cc47f",
	sim.RoleFollower:  "#a9cbe8",
	sim.RoleNoLeader:  "#e4e4e4",
	sim.RoleCandidate: "#f5a623",
	sim.RoleDown:      "#d9534f",
	sim.RolePaused:    "#9b59b6",
	sim.RoleStopped:   "#333333",
}

var roleOrder = []sim.Role{sim.RoleLeader, sim.RoleNewLeader, sim.RoleCandidate, sim.RoleFollower, sim.RoleNoLeader, sim.RolePaused, sim.RoleDown, sim.RoleStopped}

var roleAbout = map[sim.Role]string{
	sim.RoleLeader:    "leader (serving)",
	sim.RoleNewLeader: "leader, not serving yet",
	sim.RoleCandidate: "candidate",
	sim.RoleFollower:  "follower",
	sim.RoleNoLeader:  "follower, no leader known",
	sim.RolePaused:    "paused",
	sim.RoleDown:      "down (crashed)",
	sim.RoleStopped:   "stopped on a disk error",
}

func groupLabel(s sim.RoleSpan) string {
	if s.Topic == "" {
		return fmt.Sprintf("metadata (group %d)", s.Group)
	}
	return fmt.Sprintf("%s/%d (group %d)", s.Topic, s.Partition, s.Group)
}

// samePartition: a role span's group serves the history partition name
// ("t/0", or "t#2/0" for the topic's second incarnation; every incarnation's
// groups match, the spans do not tell them apart).
func samePartition(s sim.RoleSpan, name string) bool {
	i := strings.LastIndexByte(name, '/')
	if i < 0 || s.Topic == "" {
		return false
	}
	topic, _, _ := strings.Cut(name[:i], "#")
	return topic == s.Topic && name[i+1:] == strconv.Itoa(int(s.Partition))
}

func (p *page) roles() {
	r := p.r
	p.printf("<section id=\"roles\">\n<h2>Each node's role per raft group</h2>\n<p class=\"legend\">")
	for _, role := range roleOrder {
		fg := "#000"
		if role == sim.RoleLeader || role == sim.RoleDown || role == sim.RoleStopped || role == sim.RolePaused {
			fg = "#fff"
		}
		p.printf("<span style=\"background:%s;color:%s\">%s</span>", roleColours[role], fg, esc(roleAbout[role]))
	}
	p.printf(" leader spans are labelled with their term (t3).</p>\n")
	if len(r.Roles) == 0 {
		p.printf("<p>No roles were recorded.</p>\n</section>\n")
		return
	}
	// Rows: per group (in group order), a heading, then one per node.
	type rowKey struct{ group, node uint64 }
	var groups []uint64
	label := map[uint64]string{}
	focused := map[uint64]bool{}
	nodes := map[uint64][]uint64{}
	seen := map[rowKey]bool{}
	for _, s := range r.Roles {
		if _, ok := label[s.Group]; !ok {
			groups = append(groups, s.Group)
			label[s.Group] = groupLabel(s)
			focused[s.Group] = p.f.partition != "" && samePartition(s, p.f.partition)
		}
		if k := (rowKey{s.Group, s.Node}); !seen[k] {
			seen[k] = true
			nodes[s.Group] = append(nodes[s.Group], s.Node)
		}
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i] < groups[j] })
	rowY := map[rowKey]int{}
	rows := 0
	for _, g := range groups {
		rows++ // the group's heading
		sort.Slice(nodes[g], func(i, j int) bool { return nodes[g][i] < nodes[g][j] })
		for _, n := range nodes[g] {
			rowY[rowKey{g, n}] = rows
			rows++
		}
	}
	top := p.svgOpen("role-timeline", rows)
	y := 0
	for _, g := range groups {
		p.printf("<text class=\"lbl\" x=\"4\" y=\"%d\" font-weight=\"bold\">%s</text>\n", top+y*rowH+rowH-5, esc(label[g]))
		if focused[g] {
			p.printf("<text x=\"%d\" y=\"%d\" fill=\"#d00\">the finding&#39;s partition</text>\n", labelW+4, top+y*rowH+rowH-5)
		}
		y++
		for _, n := range nodes[g] {
			p.rowLabel(top+y*rowH, fmt.Sprintf("   node %d", n))
			y++
		}
	}
	for _, s := range r.Roles {
		yy := top + rowY[rowKey{s.Group, s.Node}]*rowH
		tip := fmt.Sprintf("node %d, %s: %s", s.Node, label[s.Group], roleAbout[s.Role])
		text := ""
		switch s.Role {
		case sim.RoleLeader, sim.RoleNewLeader, sim.RoleCandidate, sim.RoleFollower, sim.RoleNoLeader:
			tip += fmt.Sprintf(", term %d", s.Term)
			if s.Lead != 0 && s.Role != sim.RoleLeader && s.Role != sim.RoleNewLeader {
				tip += fmt.Sprintf(", leader %d", s.Lead)
			}
		}
		if s.Role == sim.RoleLeader || s.Role == sim.RoleNewLeader {
			text = fmt.Sprintf("t%d", s.Term)
		}
		tip += fmt.Sprintf(", %s – %s", secs(s.Start), secs(s.End))
		p.span(yy, s.Start, s.End, roleColours[s.Role], text, tip, s.Role == sim.RoleNewLeader)
	}
	p.svgClose(rows)
	p.printf("</section>\n")
}

func (p *page) ops() {
	r := p.r
	p.printf("<section id=\"ops\">\n<h2>Operations around the violation</h2>\n")
	if r.OK {
		p.printf("<p>The run passed.</p>\n</section>\n")
		return
	}
	rows := window(r.History, p.f)
	where := "all partitions"
	if p.f.partition != "" {
		where = "partition " + p.f.partition
	}
	p.printf("<p>Around <b>%s</b>: <code>%s</code></p>\n", secs(p.f.at), esc(clip(p.f.what, 1000)))
	p.printf("<p>%d operations of %s within %v either side (at most %d, the nearest; an operation a check named is marked ✗, and those of the finding above are shown whatever their time). Times are simulated seconds; an ambiguous operation has no return.</p>\n",
		len(rows), esc(where), windowEach, rowsMax)
	p.printf("<table class=\"ops\" id=\"ops-table\">\n<tr><th></th><th>op</th><th>client</th><th>kind</th><th>partition</th><th>call</th><th>return</th><th>asked</th><th>answer</th><th>outcome</th></tr>\n")
	for _, i := range rows {
		op := &r.History[i]
		class, mark := "", ""
		if p.f.marked[i] {
			class, mark = " class=\"bad\"", "✗"
		}
		ret := secs(op.Return)
		if op.Ambiguous {
			ret = "—"
		}
		asked, answer := describe(op)
		outcome := "ok"
		switch {
		case op.Ambiguous:
			outcome = "ambiguous"
		case !op.OK:
			outcome = "failed"
		}
		if op.Err != "" {
			outcome += " " + op.Err
		}
		p.printf("<tr%s><td>%s</td><td>op#%d</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"mono\">%s</td><td class=\"mono\">%s</td><td>%s</td></tr>\n",
			class, mark, i, op.Client, op.Kind, esc(op.Partition), secs(op.Call), ret, esc(asked), esc(answer), esc(outcome))
	}
	p.printf("</table>\n</section>\n")
}

// describe renders what an operation asked and what it was answered.
func describe(op *checker.Op) (asked, answer string) {
	epoch := ""
	if op.CurrentEpoch > 0 {
		epoch = fmt.Sprintf(" current-epoch %d", op.CurrentEpoch)
	}
	switch op.Kind {
	case checker.Produce:
		asked = strconv.Quote(op.Value)
		if op.OK {
			answer = fmt.Sprintf("offset %d", op.Offset)
		}
	case checker.Fetch:
		asked = fmt.Sprintf("from %d%s", op.Offset, epoch)
		if op.OK {
			n := len(op.Records)
			switch {
			case n == 0:
				answer = fmt.Sprintf("no records, hw %d", op.HighWatermark)
			default:
				first, last := op.Records[0], op.Records[n-1]
				answer = fmt.Sprintf("%d records %d:%q … %d:%q (epochs %d..%d), hw %d", n, first.Offset, first.Value, last.Offset, last.Value, first.Epoch, last.Epoch, op.HighWatermark)
			}
		}
	case checker.ListOffsets:
		switch op.Query {
		case checker.ListLatest:
			asked = "latest"
		case checker.ListEarliest:
			asked = "earliest"
		case checker.ListMaxTimestamp:
			asked = "max-timestamp"
		default:
			asked = fmt.Sprintf("timestamp %d", op.Query)
		}
		asked += epoch
		if op.OK {
			answer = fmt.Sprintf("offset %d ts %d epoch %d", op.Offset, op.Timestamp, op.LeaderEpoch)
		}
	case checker.OffsetForEpoch:
		asked = fmt.Sprintf("epoch %d", op.Epoch)
		if op.Position >= 0 {
			asked += fmt.Sprintf(" at position %d", op.Position)
		}
		asked += epoch
		if op.OK {
			answer = fmt.Sprintf("epoch %d ends at %d", op.LeaderEpoch, op.Offset)
		}
	}
	return asked, answer
}

func (p *page) porcupine() {
	r := p.r
	p.printf("<section id=\"porcupine\">\n<h2>Porcupine's linearizability visualisation</h2>\n")
	defer p.printf("</section>\n")
	part := p.f.linPartition
	if part == "" {
		switch {
		case r.Check.Linearizable == nil:
			p.printf("<p>No linearizability failure: the linearizability check did not run.</p>\n")
		case len(r.Check.TimedOut) > 0:
			p.printf("<p>No linearizability failure; porcupine gave up on %s (a failure of its own, listed above).</p>\n", esc(strings.Join(r.Check.TimedOut, ", ")))
		default:
			p.printf("<p>No linearizability failure: porcupine found all %d partitions linearizable.</p>\n", len(r.Check.Linearizable))
		}
		return
	}
	var others []string
	for q, ok := range r.Check.Linearizable {
		if !ok && q != part {
			others = append(others, q)
		}
	}
	sort.Strings(others)
	p.printf("<p>Partition <b>%s</b> is not linearizable", esc(part))
	if len(others) > 0 {
		p.printf(" (nor %s", esc(strings.Join(others, ", ")))
		for _, q := range others {
			if v := r.Check.VizPaths[q]; v != "" {
				p.printf("; %s drawn in <code>%s</code>", esc(q), esc(v))
			}
		}
		p.printf(")")
	}
	p.printf(". Porcupine draws each client's operations, the longest orders it could find (click an operation), and the faults.</p>\n")
	path := r.Check.VizPaths[part]
	if path == "" {
		p.printf("<p>No visualisation was written: the run had no VizPath (cmd/sim -viz or -report sets one).</p>\n")
		return
	}
	viz, err := os.ReadFile(path)
	if err != nil {
		p.printf("<p>The visualisation could not be read: %s</p>\n", esc(err.Error()))
		return
	}
	p.printf("<iframe id=\"porcupine-viz\" title=\"porcupine visualisation of %s\" srcdoc=\"%s\"></iframe>\n", esc(part), esc(string(viz)))
}
