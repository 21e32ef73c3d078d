// Command cilium_parse measures how fast cilium/ebpf parses eBPF ELF objects.
//
// For each file it reads the bytes into memory once, then times
// ebpf.LoadCollectionSpecFromReader(bytes.NewReader(b)) in a loop: a
// warm-up, then rounds until the time budget is spent (or -n passes per
// round). It prints one JSON line per file with the median round, then a
// total line over the files cilium/ebpf could read.
//
// Build it in GOPATH mode against Debian's cilium/ebpf 0.9.1:
//
//	GO111MODULE=off GOPATH=$tmp:/usr/share/gocode go build -o cilium_parse ./bench/peers/cilium_parse
//
// Usage: cilium_parse [-n passes] [-t seconds] [-r rounds] file.o...
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/cilium/ebpf"
)

type fileResult struct {
	File       string   `json:"file"`
	Bytes      int      `json:"bytes"`
	Iterations int      `json:"iterations"`
	MsPerPass  *float64 `json:"msPerPass"`
	MbPerSec   *float64 `json:"mbPerSec"`
	Error      *string  `json:"error"`
}

type totalResult struct {
	File      string  `json:"file"`
	Files     int     `json:"files"`
	Excluded  int     `json:"excluded"`
	Bytes     int     `json:"bytes"`
	MsPerPass float64 `json:"msPerPass"`
	MbPerSec  float64 `json:"mbPerSec"`
	Note      string  `json:"note"`
}

func main() {
	passes := flag.Int("n", 0, "passes per round (default: fill the time budget)")
	seconds := flag.Float64("t", 1, "time budget per file in seconds, after warm-up")
	rounds := flag.Int("r", 5, "rounds; the median round is reported")
	flag.Parse()
	if flag.NArg() == 0 || *rounds <= 0 || *seconds <= 0 || *passes < 0 {
		fmt.Fprintln(os.Stderr, "usage: cilium_parse [-n passes] [-t seconds] [-r rounds] file.o...")
		os.Exit(2)
	}

	enc := json.NewEncoder(os.Stdout)
	total := totalResult{File: "total", Note: "all files included"}
	for _, path := range flag.Args() {
		res := benchFile(path, *passes, *seconds, *rounds)
		if res.Error != nil {
			total.Excluded++
			total.Note = "files cilium/ebpf could not read are excluded from the total"
		} else {
			total.Files++
			total.Bytes += res.Bytes
			total.MsPerPass += *res.MsPerPass
		}
		must(enc.Encode(res))
	}
	if total.MsPerPass > 0 {
		total.MbPerSec = float64(total.Bytes) / 1e6 / (total.MsPerPass / 1e3)
	}
	must(enc.Encode(total))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "cilium_parse:", err)
		os.Exit(1)
	}
}

func benchFile(path string, passes int, seconds float64, rounds int) fileResult {
	res := fileResult{File: path}
	b, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		res.Error = &msg
		return res
	}
	res.Bytes = len(b)

	// The first parse doubles as the error check.
	if err := parse(b); err != nil {
		msg := err.Error()
		res.Error = &msg
		return res
	}

	round(b, 0, seconds/5) // warm-up
	perPass := make([]float64, rounds)
	for i := range perPass {
		var n int
		perPass[i], n = round(b, passes, seconds/float64(rounds))
		res.Iterations += n
	}
	sort.Float64s(perPass)
	ms := perPass[rounds/2]
	mbs := float64(len(b)) / 1e6 / (ms / 1e3)
	res.MsPerPass, res.MbPerSec = &ms, &mbs
	return res
}

func parse(b []byte) error {
	_, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(b))
	return err
}

// round runs the fixed number of passes, or as many as fit in budget
// seconds, and returns milliseconds per pass and the pass count.
func round(b []byte, passes int, budget float64) (float64, int) {
	limit := time.Duration(budget * float64(time.Second))
	start := time.Now()
	n := 0
	var elapsed time.Duration
	for (passes > 0 && n < passes) || (passes == 0 && elapsed < limit) {
		if err := parse(b); err != nil {
			fmt.Fprintln(os.Stderr, "cilium_parse: parse failed after succeeding before:", err)
			os.Exit(1)
		}
		n++
		elapsed = time.Since(start)
	}
	return float64(elapsed) / float64(time.Millisecond) / float64(n), n
}
