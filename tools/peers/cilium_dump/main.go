// Command cilium_dump prints what cilium/ebpf makes of eBPF ELF objects, as
// one JSON document per line and per file, so tsbpf's loader can be compared
// against it field by field (tools/compare_cilium.ts).
//
// Build it in GOPATH mode against Debian's cilium/ebpf 0.9.1:
//
//	GO111MODULE=off GOPATH=$tmp:/usr/share/gocode go build -o cilium_dump ./tools/peers/cilium_dump
//
// Usage: cilium_dump file.o [file.o ...]
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/cilium/ebpf"
)

type mapDump struct {
	Type       uint32 `json:"type"`
	KeySize    uint32 `json:"keySize"`
	ValueSize  uint32 `json:"valueSize"`
	MaxEntries uint32 `json:"maxEntries"`
	Flags      uint32 `json:"flags"`
}

type programDump struct {
	SectionName         string   `json:"sectionName"`
	Type                uint32   `json:"type"`
	AttachType          uint32   `json:"attachType"`
	AttachTo            string   `json:"attachTo"`
	License             string   `json:"license"`
	KernelVersion       uint32   `json:"kernelVersion"`
	InstructionCount    int      `json:"instructionCount"`
	RawInstructionSlots uint64   `json:"rawInstructionSlots"`
	References          []string `json:"references"`
	Functions           []string `json:"functions"`
}

type fileDump struct {
	File     string                 `json:"file"`
	Error    *string                `json:"error"`
	Maps     map[string]mapDump     `json:"maps"`
	Programs map[string]programDump `json:"programs"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cilium_dump file.o [file.o ...]")
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, path := range os.Args[1:] {
		if err := enc.Encode(dump(path)); err != nil {
			fmt.Fprintln(os.Stderr, "cilium_dump:", err)
			os.Exit(1)
		}
	}
}

// dump never fails: a file cilium/ebpf can't read is reported in Error, so
// the caller sees every file.
func dump(path string) fileDump {
	out := fileDump{
		File:     path,
		Maps:     map[string]mapDump{},
		Programs: map[string]programDump{},
	}
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		msg := err.Error()
		out.Error = &msg
		return out
	}
	// Keys are the names the collection uses (data sections keep their
	// dot, ".rodata"), not MapSpec.Name, which 0.9.1 sanitizes.
	for name, m := range spec.Maps {
		out.Maps[name] = mapDump{
			Type:       uint32(m.Type),
			KeySize:    m.KeySize,
			ValueSize:  m.ValueSize,
			MaxEntries: m.MaxEntries,
			Flags:      m.Flags,
		}
	}
	for name, p := range spec.Programs {
		out.Programs[name] = dumpProgram(p)
	}
	return out
}

func dumpProgram(p *ebpf.ProgramSpec) programDump {
	refs := map[string]bool{}
	functions := []string{}
	for _, ins := range p.Instructions {
		if ref := ins.Reference(); ref != "" {
			refs[ref] = true
		}
		if sym := ins.Symbol(); sym != "" {
			functions = append(functions, sym)
		}
	}
	references := make([]string, 0, len(refs))
	for ref := range refs {
		references = append(references, ref)
	}
	sort.Strings(references)
	return programDump{
		SectionName:         p.SectionName,
		Type:                uint32(p.Type),
		AttachType:          uint32(p.AttachType),
		AttachTo:            p.AttachTo,
		License:             p.License,
		KernelVersion:       p.KernelVersion,
		InstructionCount:    len(p.Instructions),
		RawInstructionSlots: p.Instructions.Size() / 8,
		References:          references,
		Functions:           functions,
	}
}
