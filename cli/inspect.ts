/**
 * `tsbpf inspect FILE`: the sections, maps and programs of an object, like
 * readelf and bpftool side by side.
 *
 * @module
 */

import { attachTypeName, mapTypeName, programTypeName } from "../collection/types.ts";
import type { LoadContext } from "../stages/mod.ts";
import { specFromContext } from "../stages/mod.ts";
import { hex, table } from "./_format.ts";
import { type Command, configOrFileInput, readInput } from "./command.ts";
import { CONFIG_OPTION, loaderFor } from "./command.ts";
import { formatCoreResult } from "../btf/core/result.ts";
import { CORE_STAGE, coreStage } from "../stages/core.ts";

/** `tsbpf inspect`. */
export const inspectCommand: Command = {
  name: "inspect",
  summary: "sections, maps and programs of an object",
  help: `Usage: tsbpf inspect FILE [--json] [--config F] [--core [--btf PATH]]
       tsbpf inspect FILE FILE... --link [--json] [--config F]
       tsbpf inspect --config F [--json]

Loads FILE through the pipeline and prints every section with the kind the
loader gave it, then the maps and the programs, like readelf and bpftool
side by side. Without FILE, loads the objects of --config F: one, or
several linked into one collection when the config says "link": true.

Options:
  --link          link the FILEs statically into one collection first, as
                  bpftool gen object would (static-link stage)
  --json          print the same as one JSON document
  --core          also print every CO-RE relocation: local spec, target, values
  --btf PATH      resolve CO-RE relocations against PATH (raw BTF or an ELF
                  with .BTF) instead of /sys/kernel/btf/vmlinux
  -c, --config F  plugins and pipeline settings from config file F
  --debug         print the stack of an error
  -h, --help      this text
`,
  options: {
    ...CONFIG_OPTION,
    json: { type: "boolean" },
    link: { type: "boolean" },
    core: { type: "boolean" },
    btf: { type: "string" },
  },
  async run(args, io) {
    const linking = args.values.link === true && args.positionals.length > 1;
    const { label: file, input } = linking
      ? {
        label: args.positionals.join(" + "),
        input: await Promise.all(
          args.positionals.map(async (name) => ({ name, bytes: await readInput(name) })),
        ),
      }
      : await configOrFileInput(args, "inspect");
    let loader = await loaderFor(args);
    const btf = args.values.btf;
    if (typeof btf === "string") {
      loader = loader.withPipeline(
        loader.pipeline.edit({ replace: CORE_STAGE, stage: coreStage({ btf }) }),
      );
    }
    const ctx = await loader.loadContext(input);
    const core = args.values.core === true;
    io.out(
      args.values.json
        ? JSON.stringify(
          core ? { ...inspectJson(file, ctx), core: coreJson(ctx) } : inspectJson(file, ctx),
          null,
          2,
        ) + "\n"
        : inspectReport(file, ctx) + (core ? coreReport(ctx) : ""),
    );
    return 0;
  },
};

/** The report of {@link inspectReport} as plain data, for `--json`. */
export function inspectJson(file: string, ctx: LoadContext): Record<string, unknown> {
  const spec = specFromContext(ctx);
  const byName = <T extends { name: string }>(xs: Iterable<T>) =>
    [...xs].sort((a, b) => a.name.localeCompare(b.name));
  return {
    file,
    byteOrder: ctx.byteOrder,
    license: ctx.license,
    kernelVersion: ctx.kernelVersion,
    sections: [...ctx.sections.values()].map((s) => ({
      index: s.section.index,
      name: s.section.name,
      kind: s.kind,
      ...(s.claimedBy ? { claimedBy: s.claimedBy } : {}),
      type: SECTION_TYPES[s.section.type] ?? hex(s.section.type),
      size: s.section.size,
      symbols: s.symbols.size,
      relocations: s.relocations.size,
      references: s.references,
    })),
    maps: byName(spec.maps.values()).map((m) => ({
      name: m.name,
      type: mapTypeName(m.type),
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: m.maxEntries,
      flags: m.flags,
      freeze: m.freeze,
    })),
    programs: byName(spec.programs.values()).map((p) => ({
      name: p.name,
      sectionName: p.sectionName,
      type: programTypeName(p.type),
      attachType: p.expectedAttachType() === undefined ? null : attachTypeName(p.attachType),
      attachTo: p.attachTo,
      autoload: p.autoload,
      instructions: p.instructions.length,
      functions: p.functions(),
      references: p.references(),
    })),
    metadata: spec.metadata,
    diagnostics: ctx.diagnostics,
  };
}

const SECTION_TYPES: Record<number, string> = {
  0: "NULL",
  1: "PROGBITS",
  2: "SYMTAB",
  3: "STRTAB",
  4: "RELA",
  8: "NOBITS",
  9: "REL",
  0x6fff4c03: "LLVM_ADDRSIG",
};

/** A readable report of a finished load. */
export function inspectReport(file: string, ctx: LoadContext): string {
  const spec = specFromContext(ctx);
  const out: string[] = [];
  const license = ctx.license === "" ? "no license" : `license ${JSON.stringify(ctx.license)}`;
  out.push(
    `${file}: ELF64 BPF object, ${ctx.byteOrder}-endian, ${license}` +
      (ctx.kernelVersion ? `, kernel version ${hex(ctx.kernelVersion)}` : ""),
  );

  out.push("", "Sections:");
  const sections = [["idx", "name", "kind", "type", "size", "symbols", "relocs", "refs"]];
  for (const s of ctx.sections.values()) {
    if (s.kind === "ignored") continue;
    sections.push([
      String(s.section.index),
      s.section.name,
      s.claimedBy ? `${s.kind} (${s.claimedBy})` : s.kind,
      SECTION_TYPES[s.section.type] ?? hex(s.section.type),
      String(s.section.size),
      String(s.symbols.size),
      String(s.relocations.size),
      String(s.references),
    ]);
  }
  out.push(indent(table(sections)));
  const ignored = [...ctx.sections.values()].filter((s) => s.kind === "ignored").length;
  if (ignored > 0) out.push(`  (${ignored} debug and bookkeeping sections not shown)`);

  out.push("", `Maps (${spec.maps.size}):`);
  if (spec.maps.size > 0) {
    const maps = [["name", "type", "key", "value", "max", "flags", "notes"]];
    for (const m of [...spec.maps.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const notes = [
        m.freeze ? "frozen" : "",
        m.extra ? `${m.extra.length} extra bytes` : "",
        m.contents.length ? "contents" : "",
      ]
        .filter(Boolean).join(", ");
      maps.push([
        m.name,
        mapTypeName(m.type),
        String(m.keySize),
        String(m.valueSize),
        String(m.maxEntries),
        hex(m.flags),
        notes,
      ]);
    }
    out.push(indent(table(maps)));
  }

  out.push("", `Programs (${spec.programs.size}):`);
  if (spec.programs.size > 0) {
    const progs = [["name", "section", "type", "attach", "insns", "functions", "references"]];
    for (const p of [...spec.programs.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      progs.push([
        p.autoload ? p.name : `${p.name} (no autoload)`,
        p.sectionName,
        programTypeName(p.type),
        p.expectedAttachType() === undefined ? "-" : attachTypeName(p.attachType),
        String(p.instructions.length),
        String(p.functions().length),
        p.references().join(", ") || "-",
      ]);
    }
    out.push(indent(table(progs)));
  }
  const metadata = Object.keys(spec.metadata).sort();
  if (metadata.length > 0) {
    out.push("", "Metadata:");
    for (const key of metadata) out.push(`  ${key}: ${JSON.stringify(spec.metadata[key])}`);
  }
  for (const d of ctx.diagnostics) out.push(`${d.level}: ${d.stage}: ${d.message}`);
  return out.join("\n") + "\n";
}

/** `--core`: one line per CO-RE relocation, by program, libbpf-like. */
export function coreReport(ctx: LoadContext): string {
  const progs = [...ctx.programs.values()].filter((p) => (p.coreRelocations?.length ?? 0) > 0)
    .sort((a, b) => a.name.localeCompare(b.name));
  const total = progs.reduce((n, p) => n + p.coreRelocations!.length, 0);
  const out = ["", `CO-RE relocations (${total}):`];
  for (const p of progs) {
    out.push(`  program ${p.name}:`);
    for (const r of p.coreRelocations!) out.push(`    ${formatCoreResult(r)}`);
  }
  return out.join("\n") + "\n";
}

/** `--core --json`: the relocations by program, values as decimal strings. */
function coreJson(ctx: LoadContext): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const p of ctx.programs.values()) {
    if (p.coreRelocations === undefined) continue;
    out[p.name] = p.coreRelocations.map((r) => ({
      ...r,
      origValue: String(r.origValue),
      newValue: String(r.newValue),
    }));
  }
  return out;
}

function indent(text: string): string {
  return text.split("\n").map((l) => `  ${l}`).join("\n");
}
