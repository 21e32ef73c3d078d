/**
 * `tsbpf disasm FILE [--program NAME]`: the linked programs as BPF assembly.
 *
 * @module
 */

import { disassemble } from "../isa/mod.ts";
import { type Command, oneFile, readInput, UsageError } from "./command.ts";
import { CONFIG_OPTION, loaderFor } from "./command.ts";

/** `tsbpf disasm`. */
export const disasmCommand: Command = {
  name: "disasm",
  summary: "the relocated, linked programs as BPF assembly",
  help: `Usage: tsbpf disasm FILE [--program NAME] [--raw] [--config F]

Prints each program of FILE after relocation and linking, in LLVM's BPF
assembly syntax, with references resolved (call nested_outer,
r1 = map[counts] ll) and, when the object has .BTF.ext line info, the
source line before its first instruction. Subprograms follow their caller.

Options:
  --program NAME  only this program
  --raw           as llvm-objdump shows them: no resolved names, no source lines
  -c, --config F  plugins and pipeline settings from config file F
  --debug         print the stack of an error
  -h, --help      this text
`,
  options: {
    ...CONFIG_OPTION,
    program: { type: "string" },
    raw: { type: "boolean" },
  },
  async run(args, io) {
    const file = oneFile(args, "disasm");
    const spec = await (await loaderFor(args)).loadSpec(await readInput(file));
    const wanted = args.values.program as string | undefined;
    const names = wanted !== undefined ? [wanted] : [...spec.programs.keys()].sort();
    for (const name of names) {
      const prog = spec.programs.get(name);
      if (prog === undefined) {
        const known = [...spec.programs.keys()].sort().join(", ");
        throw new UsageError(`no program ${JSON.stringify(name)} in ${file} (programs: ${known})`);
      }
      io.out(`Program ${name} (section ${prog.sectionName}):\n`);
      const raw = args.values.raw === true;
      const text = disassemble(prog.instructions, { annotate: !raw, sourceLines: !raw });
      io.out(text.replace(/^\n/, "") + "\n");
    }
    return 0;
  },
};
