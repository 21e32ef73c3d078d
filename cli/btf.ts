/**
 * `tsbpf btf dump FILE [--format raw|c|json] [--base BASE]`: the BTF of an
 * object (its `.BTF` section) or a raw BTF file such as
 * `/sys/kernel/btf/vmlinux`, as bpftool prints it.
 *
 * @module
 */

import { Btf, dumpC, dumpJson, dumpRaw } from "../btf/mod.ts";
import { readElf } from "../elf/mod.ts";
import { BtfError } from "../errors/mod.ts";
import { type Command, readInput, UsageError } from "./command.ts";

const FORMATS = ["raw", "c", "json"] as const;

/** `tsbpf btf`. */
export const btfCommand: Command = {
  name: "btf",
  summary: "dump the BTF of an object or of the kernel (raw, C, JSON)",
  help: `Usage: tsbpf btf dump FILE [--format raw|c|json] [--base BASE]

Prints the BTF of FILE: an ELF object's .BTF section, or a raw BTF blob such
as /sys/kernel/btf/vmlinux.

  raw   the lines of 'bpftool btf dump file FILE format raw'
  c     compilable C declarations in dependency order, like bpftool's
        'format c' (vmlinux.h: include guard and preserve_access_index)
  json  one object per type, with bpftool -j's field names

Options:
  --format F   raw (default), c or json
  --base BASE  FILE is split BTF (a kernel module's) on top of BASE
  --debug      print the stack of an error
  -h, --help   this text
`,
  options: { format: { type: "string" }, base: { type: "string" } },
  async run(args, io) {
    const [verb, file, ...rest] = args.positionals;
    if (verb !== "dump") {
      throw new UsageError(
        verb === undefined ? "btf needs a verb: dump" : `unknown btf verb ${JSON.stringify(verb)}`,
      );
    }
    if (file === undefined) throw new UsageError("btf dump needs a FILE");
    if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(" ")}`);
    const format = (args.values.format as string | undefined) ?? "raw";
    if (!(FORMATS as readonly string[]).includes(format)) {
      throw new UsageError(`--format: expected raw, c or json, got ${JSON.stringify(format)}`);
    }
    const base = typeof args.values.base === "string" ? await readBtf(args.values.base) : undefined;
    const btf = await readBtf(file, base);
    if (format === "raw") io.out(dumpRaw(btf));
    else if (format === "c") io.out(dumpC(btf));
    else io.out(JSON.stringify(dumpJson(btf)) + "\n");
    return 0;
  },
};

/** The BTF of `path`: an ELF object's `.BTF` section, or the file itself. */
async function readBtf(path: string, base?: Btf): Promise<Btf> {
  const bytes = await readInput(path);
  const isElf = bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c &&
    bytes[3] === 0x46;
  if (!isElf) return Btf.parse(bytes, { base });
  const elf = readElf(bytes);
  const section = elf.sectionByName(".BTF");
  if (section === undefined) throw new BtfError("BTF_NOT_FOUND", `${path} has no .BTF section`);
  return Btf.parse(elf.sectionData(section), { base });
}
