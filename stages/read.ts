/**
 * The `read` stage: bytes to the ELF view and its symbol table.
 *
 * @module
 */

import { readElf } from "../elf/mod.ts";
import type { LoadContext } from "./context.ts";
import type { Stage } from "./pipeline.ts";

/** Parse the ELF file and its symbol table into the context. */
export function readStage(): Stage {
  return {
    name: "read",
    run(ctx: LoadContext) {
      const elf = readElf(ctx.bytes);
      ctx.elf = elf;
      ctx.byteOrder = elf.littleEndian ? "little" : "big";
      ctx.symbols = elf.symbols();
    },
  };
}
