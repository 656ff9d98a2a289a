// Command table turns `go test -bench -benchmem -count N` output into a
// markdown table of medians, each row with its ratio to its group's
// reference row: with -rounds (run.sh's output, in rounds), the median of
// the rounds' ratios; otherwise the ratio of the medians. run.sh uses it;
// it needs nothing but the standard library, so the table can be made
// without fetching benchstat.
//
//	go test -run '^$' -bench . -benchmem -count 5 | go run ./cmd/table
//
// A group is a benchmark name without its last element
// ("JWT/HS256/auth0-v2" is in group "JWT/HS256"). Its reference is the row
// whose last element is a reference name (minimal, golang-jwt-bare,
// hand-written, bare-net-http, redis_rate); in a group without one (the
// memory rate limiters) it is the fastest row that is not apiauth's.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// rounds says that the input is in rounds, each with one run of every
// benchmark (run.sh's): ratios are then paired by round.
var rounds = flag.Bool("rounds", false, "the input is in rounds of one run of every benchmark: pair ratios by round")

// referenceNames are the last name elements of reference rows.
var referenceNames = []string{"minimal", "golang-jwt-bare", "hand-written", "bare-net-http", "redis_rate"}

type row struct {
	name    string
	group   string
	last    string
	samples map[string][]float64 // unit → one value per run
	units   []string             // in order of first appearance
}

func (r *row) median(unit string) (float64, bool) { return median(r.samples[unit]) }

// median is the median of v, false if v is empty.
func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// spread is (max − min) / median of ns/op, in percent.
func (r *row) spread() float64 {
	v := r.samples["ns/op"]
	m, ok := r.median("ns/op")
	if !ok || m == 0 || len(v) < 2 {
		return 0
	}
	return (slices.Max(v) - slices.Min(v)) / m * 100
}

// parse reads benchmark result lines; it returns the rows in order of
// first appearance and the "cpu:" line's value.
func parse(in io.Reader) ([]*row, string, error) {
	var rows []*row
	byName := map[string]*row{}
	cpu := ""
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if c, ok := strings.CutPrefix(line, "cpu: "); ok {
			cpu = strings.TrimSpace(c)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue // a name alone: output of a benchmark, or a skip
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // the GOMAXPROCS suffix
			}
		}
		r := byName[name]
		if r == nil {
			r = &row{name: name, samples: map[string][]float64{}}
			if i := strings.LastIndexByte(name, '/'); i > 0 {
				r.group, r.last = name[:i], name[i+1:]
			} else {
				r.last = name
			}
			byName[name] = r
			rows = append(rows, r)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, "", fmt.Errorf("%q: %v", line, err)
			}
			u := f[i+1]
			if _, seen := r.samples[u]; !seen {
				r.units = append(r.units, u)
			}
			r.samples[u] = append(r.samples[u], v)
		}
	}
	return rows, cpu, sc.Err()
}

// reference returns the reference row of each group.
func reference(rows []*row) map[string]*row {
	ref := map[string]*row{}
	for _, r := range rows {
		if slices.Contains(referenceNames, r.last) {
			ref[r.group] = r
		}
	}
	for _, r := range rows {
		if _, ok := ref[r.group]; ok || r.group == "" || strings.HasPrefix(r.last, "apiauth") {
			continue
		}
		// No named reference: the fastest peer.
		best := r
		for _, o := range rows {
			if o.group != r.group || strings.HasPrefix(o.last, "apiauth") {
				continue
			}
			if m, _ := o.median("ns/op"); m < must(best.median("ns/op")) {
				best = o
			}
		}
		ref[r.group] = best
	}
	return ref
}

func must(v float64, _ bool) float64 { return v }

// pairedRatio is, for input in rounds (-rounds: each round ran every
// benchmark once, as run.sh does), the median over rounds of r's ns/op over
// ref's in the same round: a row and its reference were measured seconds
// apart, and the ratio of each pair cancels the machine's drift from round
// to round. Otherwise (go test -count N runs a row N times before the next)
// it is the ratio of the medians.
func pairedRatio(r, ref *row) (float64, bool) {
	a, b := r.samples["ns/op"], ref.samples["ns/op"]
	if *rounds && len(a) == len(b) && len(a) > 0 {
		ratios := make([]float64, len(a))
		for i := range a {
			if b[i] <= 0 {
				return 0, false
			}
			ratios[i] = a[i] / b[i]
		}
		return median(ratios)
	}
	rn, _ := ref.median("ns/op")
	if rn <= 0 {
		return 0, false
	}
	n, _ := r.median("ns/op")
	return n / rn, true
}

// num formats a value with about three significant digits.
func num(v float64) string {
	switch a := math.Abs(v); {
	case v == math.Trunc(v) && a < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func main() {
	count := flag.String("count", "", "the -count of the run, for the header")
	benchtime := flag.String("benchtime", "", "the -benchtime of the run, for the header")
	goVersion := flag.String("go", runtime.Version(), "Go version, for the header")
	note := flag.String("note", "", "a line about the machine's state (load), for the header")
	flag.Parse()

	rows, cpu, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "table:", err)
		os.Exit(1)
	}
	if len(rows) == 0 {
		fmt.Fprintln(os.Stderr, "table: no benchmark results on standard input")
		os.Exit(1)
	}
	if m := cpuModel(); m != "" {
		cpu = m
	}
	ref := reference(rows)

	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintf(w, "# apiauth side-by-side benchmarks\n\n")
	fmt.Fprintf(w, "%s · %s %s/%s · CPU: %s, %d cores", time.Now().UTC().Format("2006-01-02 15:04 MST"),
		*goVersion, runtime.GOOS, runtime.GOARCH, cpu, runtime.NumCPU())
	if *count != "" || *benchtime != "" {
		fmt.Fprintf(w, " · -count %s -benchtime %s", *count, *benchtime)
	}
	fmt.Fprintf(w, "\n\n")
	if *note != "" {
		fmt.Fprintf(w, "%s\n\n", *note)
	}
	fmt.Fprintf(w, "Medians of the runs. **× ref** is ns/op over the reference row of the group (marked *ref*; lower is better)")
	if *rounds {
		fmt.Fprintf(w, ", the median of the rounds' ratios, each round's row over the same round's reference")
	} else {
		fmt.Fprintf(w, ", the ratio of the medians")
	}
	fmt.Fprintf(w, ": ")
	fmt.Fprintf(w, "the hand-written minimal middleware for API keys, bare golang-jwt for JWT, the fastest peer for the memory rate limiters, ")
	fmt.Fprintf(w, "redis_rate for Redis, the hand-written chain in process and bare net/http over loopback. ")
	fmt.Fprintf(w, "**±%%** is the spread of ns/op, (max − min) / median. Other metrics are in the last column: ")
	fmt.Fprintf(w, "B/key is heap per key at 1M keys, req/s and x-bare are from the loopback rows: x-bare is requests per second over bare net/http's, measured in alternating rounds of the same requests to both servers, each first in every other pair (higher is better; the control row, a second bare server measured so, shows the method's error; × ref there compares separate runs and drifts with the machine).\n\n")
	fmt.Fprintf(w, "| benchmark | ns/op | ±%% | B/op | allocs/op | × ref | other |\n")
	fmt.Fprintf(w, "|---|--:|--:|--:|--:|--:|---|\n")
	for _, r := range rows {
		ns, _ := r.median("ns/op")
		bop, _ := r.median("B/op")
		allocs, _ := r.median("allocs/op")
		ratio := ""
		if rf := ref[r.group]; rf == r {
			ratio = "*ref*"
		} else if rf != nil {
			if x, ok := pairedRatio(r, rf); ok {
				ratio = num(x) + "×"
			}
		}
		var other []string
		for _, u := range r.units {
			switch u {
			case "ns/op", "B/op", "allocs/op":
				continue
			}
			m, _ := r.median(u)
			other = append(other, num(m)+" "+u)
		}
		name := r.name
		if ref[r.group] == r {
			name = "**" + name + "**"
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %s | %s |\n", name, num(ns), r.spread(), num(bop), num(allocs), ratio, strings.Join(other, ", "))
	}
}
