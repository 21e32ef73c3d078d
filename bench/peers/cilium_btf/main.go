// Command cilium_btf measures how fast cilium/ebpf parses a raw BTF blob
// (such as /sys/kernel/btf/vmlinux) and how much Go heap the parsed Spec
// keeps alive.
//
// For each file it reads the bytes into memory once, then:
//
//   - parses once; an error is reported for the file and nothing else is done;
//   - measures the heap retained by one parsed Spec: HeapAlloc after a GC
//     with the Spec alive, minus HeapAlloc after a GC before parsing (the
//     median of three samples), and the bytes allocated by one parse
//     (TotalAlloc delta);
//   - times btf.LoadSpecFromReader(bytes.NewReader(b)) in a loop: a warm-up,
//     then rounds until the time budget is spent (or -n passes per round).
//
// It prints one JSON line per file with the median round. With -c it only
// parses each file once and reports the type count or the error, which is
// how the benchmark checks what cilium/ebpf can read.
//
// Build it in GOPATH mode against Debian's cilium/ebpf 0.9.1:
//
//	GO111MODULE=off GOPATH=$tmp:/usr/share/gocode go build -o cilium_btf ./bench/peers/cilium_btf
//
// Usage: cilium_btf [-c] [-n passes] [-t seconds] [-r rounds] file...
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/cilium/ebpf/btf"
)

type fileResult struct {
	File       string   `json:"file"`
	Bytes      int      `json:"bytes"`
	Types      int      `json:"types"`
	Iterations int      `json:"iterations"`
	MsPerPass  *float64 `json:"msPerPass"`
	HeapBytes  *uint64  `json:"heapBytes"`
	AllocBytes *uint64  `json:"allocBytes"`
	Error      *string  `json:"error"`
}

func main() {
	passes := flag.Int("n", 0, "passes per round (default: fill the time budget)")
	seconds := flag.Float64("t", 1, "time budget per file in seconds, after warm-up")
	rounds := flag.Int("r", 5, "rounds; the median round is reported")
	checkOnly := flag.Bool("c", false, "only parse each file once: type count or error")
	flag.Parse()
	if flag.NArg() == 0 || *rounds <= 0 || *seconds <= 0 || *passes < 0 {
		fmt.Fprintln(os.Stderr, "usage: cilium_btf [-c] [-n passes] [-t seconds] [-r rounds] file...")
		os.Exit(2)
	}

	enc := json.NewEncoder(os.Stdout)
	for _, path := range flag.Args() {
		var res fileResult
		if *checkOnly {
			res = checkFile(path)
		} else {
			res = benchFile(path, *passes, *seconds, *rounds)
		}
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, "cilium_btf:", err)
			os.Exit(1)
		}
	}
}

// checkFile parses the file once: its type count, or why it can't be read.
func checkFile(path string) fileResult {
	res := fileResult{File: path}
	b, err := os.ReadFile(path)
	if err == nil {
		res.Bytes = len(b)
		var spec *btf.Spec
		if spec, err = parse(b); err == nil {
			// Iterate yields void (ID 0) too: the count left is the last type ID.
			for it := spec.Iterate(); it.Next(); {
				res.Types++
			}
			res.Types--
		}
	}
	if err != nil {
		msg := err.Error()
		res.Error = &msg
	}
	return res
}

func benchFile(path string, passes int, seconds float64, rounds int) fileResult {
	// The first parse doubles as the error check.
	res := checkFile(path)
	if res.Error != nil {
		return res
	}
	b, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		res.Error = &msg
		return res
	}

	heap, alloc := measureHeap(b)
	res.HeapBytes, res.AllocBytes = &heap, &alloc

	round(b, 0, seconds/5) // warm-up
	perPass := make([]float64, rounds)
	for i := range perPass {
		var n int
		perPass[i], n = round(b, passes, seconds/float64(rounds))
		res.Iterations += n
	}
	sort.Float64s(perPass)
	ms := perPass[rounds/2]
	res.MsPerPass = &ms
	return res
}

func parse(b []byte) (*btf.Spec, error) {
	return btf.LoadSpecFromReader(bytes.NewReader(b))
}

// measureHeap returns the median over three samples of the live heap one
// parsed Spec adds, and of the bytes one parse allocates.
func measureHeap(b []byte) (uint64, uint64) {
	var heap, alloc [3]uint64
	for i := range heap {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		spec, err := parse(b)
		if err != nil {
			fmt.Fprintln(os.Stderr, "cilium_btf: parse failed after succeeding before:", err)
			os.Exit(1)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(spec)
		if after.HeapAlloc > before.HeapAlloc {
			heap[i] = after.HeapAlloc - before.HeapAlloc
		}
		alloc[i] = after.TotalAlloc - before.TotalAlloc
	}
	sort.Slice(heap[:], func(i, j int) bool { return heap[i] < heap[j] })
	sort.Slice(alloc[:], func(i, j int) bool { return alloc[i] < alloc[j] })
	return heap[1], alloc[1]
}

// round runs the fixed number of passes, or as many as fit in budget
// seconds, and returns milliseconds per pass and the pass count.
func round(b []byte, passes int, budget float64) (float64, int) {
	limit := time.Duration(budget * float64(time.Second))
	start := time.Now()
	n := 0
	var elapsed time.Duration
	for (passes > 0 && n < passes) || (passes == 0 && elapsed < limit) {
		if _, err := parse(b); err != nil {
			fmt.Fprintln(os.Stderr, "cilium_btf: parse failed after succeeding before:", err)
			os.Exit(1)
		}
		n++
		elapsed = time.Since(start)
	}
	return float64(elapsed) / float64(time.Millisecond) / float64(n), n
}
