/**
 * BTF: the type model, the parser, the builder and marshaller, `.BTF.ext`,
 * and dumps in bpftool's formats.
 *
 * ```ts
 * import { Btf, BtfKind } from "./mod.ts";
 *
 * const btf = Btf.parse(await Deno.readFile("/sys/kernel/btf/vmlinux"));
 * const task = btf.typeByName("task_struct", BtfKind.STRUCT);
 * console.log(task.id, btf.sizeOf(task.id));
 * ```
 *
 * @module
 */

export * from "./types.ts";
export { Btf, type BtfParseOptions, essentialName } from "./btf.ts";
export * from "./builder.ts";
export * from "./marshal.ts";
export * from "./sanitize.ts";
export * from "./ext.ts";
export * from "./ext_encode.ts";
export * from "./dump_raw.ts";
export * from "./dump_json.ts";
export * from "./dump_c.ts";
export * from "./value.ts";
export { BtfError } from "../errors/mod.ts";
