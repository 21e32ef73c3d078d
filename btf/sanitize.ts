/**
 * Rewrite BTF for a kernel that lacks some BTF features, the way libbpf
 * does before `BPF_BTF_LOAD`, and lay out the extern sections (`.ksyms`,
 * `.kconfig`) the way libbpf does when it opens an object.
 *
 * Each option says whether the kernel has a feature; `false` means it
 * lacks it and the types that need it are rewritten into ones it accepts.
 * Absent options count as supported, so `{}` changes nothing.
 *
 * ```ts
 * import { Btf } from "./btf.ts";
 * import { sanitizeBtf } from "./sanitize.ts";
 * import { marshalBtf } from "./marshal.ts";
 *
 * declare const btf: Btf;
 * const missing = { float: false, declTag: false, typeTag: false, enum64: false };
 * const forV5_12 = marshalBtf(sanitizeBtf(btf, missing));
 * ```
 *
 * @module
 */

import { BtfError } from "../errors/mod.ts";
import type { Btf } from "./btf.ts";
import { BtfBuilder } from "./builder.ts";
import {
  type BtfDatasec,
  BtfFuncLinkage,
  BtfKind,
  btfKindName,
  type BtfMember,
  type BtfType,
  BtfVarLinkage,
  type BtfVarSecinfo,
} from "./types.ts";

/**
 * Kernel BTF features, named after libbpf's `FEAT_BTF_*` probes; `false`
 * means the kernel lacks the feature.
 */
export interface SanitizeOptions {
  /** `FEAT_BTF_FUNC`: BTF_KIND_FUNC and BTF_KIND_FUNC_PROTO (5.0). */
  funcs?: boolean;
  /** `FEAT_BTF_GLOBAL_FUNC`: FUNC linkage other than static (5.6). */
  funcLinkage?: boolean;
  /** `FEAT_BTF_DATASEC`: BTF_KIND_VAR and BTF_KIND_DATASEC (5.2). */
  datasec?: boolean;
  /** `FEAT_BTF_QMARK_DATASEC`: DATASEC names starting with `?` (6.6). */
  qmarkDatasec?: boolean;
  /** `FEAT_BTF_FLOAT`: BTF_KIND_FLOAT (5.13). */
  float?: boolean;
  /** `FEAT_BTF_DECL_TAG`: BTF_KIND_DECL_TAG (5.16). */
  declTag?: boolean;
  /** `FEAT_BTF_TYPE_TAG`: BTF_KIND_TYPE_TAG (5.17). */
  typeTag?: boolean;
  /** `FEAT_BTF_ENUM64`: BTF_KIND_ENUM64 and the signed ENUM kind_flag (6.0). */
  enum64?: boolean;
  /** `FEAT_BTF_LAYOUT`: the layout section; without it `marshalBtf` leaves it out. */
  layout?: boolean;
}

/** Every {@link SanitizeOptions} feature, in the order libbpf lists its `FEAT_BTF_*` probes. */
export const SANITIZE_FEATURES: ReadonlyArray<keyof SanitizeOptions> = Object.freeze([
  "funcs",
  "funcLinkage",
  "datasec",
  "qmarkDatasec",
  "float",
  "declTag",
  "typeTag",
  "enum64",
  "layout",
]);

/** Whether any feature is missing, like libbpf's `btf_needs_sanitization`. */
export function needsSanitization(options: SanitizeOptions): boolean {
  return SANITIZE_FEATURES.some((f) => options[f] === false);
}

/** Name of the INT that stands in for every ENUM64 value. */
export const ENUM64_PLACEHOLDER = "enum64_placeholder";

/**
 * A copy of `source` rewritten for a kernel without the features marked
 * `false`; `source` is left unchanged. This follows libbpf's
 * `bpf_object__sanitize_btf` (src/libbpf.c) rewrite for rewrite:
 *
 * - no `datasec`: VAR → `INT` of 1 byte, 8 bits; DATASEC → STRUCT of the
 *   same size whose members are the variables (named after them, at their
 *   byte offset × 8), with `.` and `?` in the section name turned into `_`;
 * - no `qmarkDatasec`: a leading `?` of a DATASEC name becomes `_`;
 * - no `funcs`: FUNC_PROTO → ENUM of 4 bytes whose values are the parameters
 *   (name, type ID; a variadic `...` gives an unnamed value, which kernels
 *   reject, as with libbpf); FUNC → TYPEDEF of its prototype;
 * - no `funcLinkage`: every FUNC becomes static;
 * - no `float`: FLOAT → anonymous STRUCT of the same size, no members;
 * - no `declTag`: DECL_TAG → INT of 1 byte, 8 bits, keeping its name;
 * - no `typeTag`: TYPE_TAG → anonymous CONST of the same type;
 * - no `enum64`: ENUM loses its signed kind_flag (values read back
 *   unsigned); ENUM64 → UNION of the same size with one member per value,
 *   all of type `enum64_placeholder` (an INT of 1 byte added once, when the
 *   first ENUM64 is met) at offset 0.
 *
 * libbpf renames in place in the string table; here the new names are
 * appended instead, so the original strings (and every other offset) stay.
 */
export function sanitizeBtf(source: Btf | BtfBuilder, options: SanitizeOptions): BtfBuilder {
  const b = source instanceof BtfBuilder ? source.clone() : BtfBuilder.from(source);
  const has = (f: keyof SanitizeOptions) => options[f] !== false;
  const datasec = has("datasec");
  const qmarkDatasec = has("qmarkDatasec");
  const funcs = has("funcs");
  const funcLinkage = has("funcLinkage");
  const float = has("float");
  const declTag = has("declTag");
  const typeTag = has("typeTag");
  const enum64 = has("enum64");
  let placeholder = 0;
  // lastId is read on every round: libbpf's loop also visits the placeholder it adds.
  for (let id = b.firstId; id <= b.lastId; id++) {
    const t = b.type(id);
    let r: BtfType | undefined;
    if ((!datasec && t.kind === BtfKind.VAR) || (!declTag && t.kind === BtfKind.DECL_TAG)) {
      // Size 1: a bigger INT could be larger than the variable it replaces.
      r = { id, kind: BtfKind.INT, name: t.name, size: 1, encoding: 0, bitOffset: 0, bits: 8 };
    } else if (!datasec && t.kind === BtfKind.DATASEC) {
      const members: BtfMember[] = t.vars.map((v) => ({
        name: b.nameOf(v.type),
        type: v.type,
        bitOffset: (v.offset * 8) >>> 0,
        bitfieldSize: 0,
      }));
      r = {
        id,
        kind: BtfKind.STRUCT,
        // libbpf replaces '.' and '?'; any other non-identifier character
        // ("maps/aux") would make the kernel refuse the STRUCT's name too.
        name: t.name.replace(/[^A-Za-z0-9_]/g, "_"),
        size: t.size,
        members,
        kindFlag: false,
      };
    } else if (!qmarkDatasec && t.kind === BtfKind.DATASEC && t.name.startsWith("?")) {
      r = { ...t, name: `_${t.name.slice(1)}` };
    } else if (!funcs && t.kind === BtfKind.FUNC_PROTO) {
      r = {
        id,
        kind: BtfKind.ENUM,
        name: t.name,
        size: 4, // the kernel insists on 4 for ENUM
        signed: false,
        values: t.params.map((p) => ({ name: p.name, value: p.type })),
      };
    } else if (!funcs && t.kind === BtfKind.FUNC) {
      r = { id, kind: BtfKind.TYPEDEF, name: t.name, type: t.type };
    } else if (!funcLinkage && t.kind === BtfKind.FUNC) {
      r = { ...t, linkage: BtfFuncLinkage.STATIC };
    } else if (!float && t.kind === BtfKind.FLOAT) {
      // Anonymous: "float" and friends are not valid struct names in C.
      r = { id, kind: BtfKind.STRUCT, name: "", size: t.size, members: [], kindFlag: false };
    } else if (!typeTag && t.kind === BtfKind.TYPE_TAG) {
      r = { id, kind: BtfKind.CONST, name: "", type: t.type };
    } else if (!enum64 && t.kind === BtfKind.ENUM) {
      r = {
        ...t,
        signed: false,
        values: t.values.map((v) => ({ name: v.name, value: v.value >>> 0 })),
      };
    } else if (!enum64 && t.kind === BtfKind.ENUM64) {
      if (placeholder === 0) placeholder = b.int(ENUM64_PLACEHOLDER, 1);
      r = {
        id,
        kind: BtfKind.UNION,
        name: t.name,
        size: t.size,
        members: t.values.map((v) => ({
          name: v.name,
          type: placeholder,
          bitOffset: 0,
          bitfieldSize: 0,
        })),
        kindFlag: false,
      };
    }
    if (r !== undefined) b.replaceType(id, r);
  }
  return b;
}

/** `KSYMS_SEC` and `KCONFIG_SEC`. */
const KSYMS_SEC = ".ksyms";
const KCONFIG_SEC = ".kconfig";
/** The VAR libbpf adds for `.ksyms` functions (`add_dummy_ksym_var`). */
export const DUMMY_KSYM = "dummy_ksym";

/**
 * A copy of `source` with the extern sections laid out as libbpf lays them
 * out when it collects externs (`bpf_object__collect_externs` and
 * `add_dummy_ksym_var` in src/libbpf.c, then the sort of
 * `btf_fixup_datasec`), so the kernel accepts them:
 *
 * - `.ksyms`: every variable becomes a global allocated `int` (the first
 *   32-bit INT, or void when there is none) of 4 bytes at offset 4 × its
 *   index; every function entry is replaced by one added VAR
 *   `dummy_ksym`, its FUNC made global, and its prototype's unnamed
 *   parameters named `dummy_ksym`; the section size is 4 × entries.
 * - `.kconfig`: variables become global allocated and are packed in order
 *   of descending alignment, ascending size, then name; the section size
 *   is the end of the last one. A function there is an error, as in libbpf.
 *
 * Entries are sorted by offset. libbpf only counts BTF entries backed by an
 * ELF extern symbol; here every entry of the section counts.
 */
export function fixupExterns(source: Btf | BtfBuilder): BtfBuilder {
  const b = source instanceof BtfBuilder ? source.clone() : BtfBuilder.from(source);
  const ksyms = findDatasec(b, KSYMS_SEC);
  const kconfig = findDatasec(b, KCONFIG_SEC);

  let dummyVar = 0;
  let intId = 0;
  if (ksyms !== undefined) {
    const sec = b.type(ksyms) as BtfDatasec;
    intId = firstInt32(b);
    if (sec.vars.some((v) => b.kindOf(v.type) === BtfKind.FUNC)) {
      dummyVar = b.variable(DUMMY_KSYM, intId, BtfVarLinkage.GLOBAL_ALLOCATED);
    }
  }

  if (kconfig !== undefined) {
    const sec = b.type(kconfig) as BtfDatasec;
    const externs = sec.vars.map((v) => {
      const t = b.type(v.type);
      if (t.kind === BtfKind.FUNC) {
        throw new BtfError(
          "BTF_EXTERN_UNSUPPORTED",
          `extern function ${t.name} is unsupported under ${KCONFIG_SEC} section`,
        );
      }
      if (t.kind !== BtfKind.VAR) {
        throw new BtfError(
          "BTF_BAD_TYPE",
          `${KCONFIG_SEC} entry [${t.id}] is a ${btfKindName(t.kind)}, not a VAR`,
        );
      }
      return { id: t.id, name: t.name, size: b.sizeOf(t.type), align: b.alignOf(t.type) };
    });
    const order = externs.slice().sort((x, y) =>
      y.align - x.align || x.size - y.size || compareBytes(x.name, y.name)
    );
    const offsets = new Map<number, number>();
    let off = 0;
    for (const e of order) {
      const dataOff = Math.ceil(off / e.align) * e.align;
      offsets.set(e.id, dataOff);
      off = dataOff + e.size;
    }
    for (const e of externs) {
      const v = b.type(e.id);
      if (v.kind === BtfKind.VAR) {
        b.replaceType(e.id, { ...v, linkage: BtfVarLinkage.GLOBAL_ALLOCATED });
      }
    }
    const vars = sec.vars.map((v) => ({ ...v, offset: offsets.get(v.type) ?? v.offset }));
    b.replaceType(kconfig, { ...sec, size: off, vars: sortByOffset(vars) });
  }

  if (ksyms !== undefined) {
    const sec = b.type(ksyms) as BtfDatasec;
    const vars = sec.vars.map((vs, i) => {
      const t = b.type(vs.type);
      let type = vs.type;
      if (t.kind === BtfKind.FUNC) {
        const proto = b.type(t.type);
        if (proto.kind === BtfKind.FUNC_PROTO) {
          const params = proto.params.map((p) =>
            p.type !== 0 && p.name === "" ? { ...p, name: DUMMY_KSYM } : p
          );
          b.replaceType(proto.id, { ...proto, params });
        }
        b.replaceType(t.id, { ...t, linkage: BtfFuncLinkage.GLOBAL });
        type = dummyVar;
      } else if (t.kind === BtfKind.VAR) {
        b.replaceType(t.id, { ...t, linkage: BtfVarLinkage.GLOBAL_ALLOCATED, type: intId });
      }
      return { type, offset: 4 * i, size: 4 };
    });
    b.replaceType(ksyms, { ...sec, size: 4 * vars.length, vars: sortByOffset(vars) });
  }
  return b;
}

/** libbpf's `btf__find_by_name_kind`: the lowest ID with this name and kind. */
function findDatasec(b: BtfBuilder, name: string): number | undefined {
  return b.idsByName(name).find((id) => b.kindOf(id) === BtfKind.DATASEC);
}

/** libbpf's `find_int_btf_id`: the first INT of 32 bits, 0 when there is none. */
function firstInt32(b: BtfBuilder): number {
  for (let id = 1; id <= b.lastId; id++) {
    const t = b.type(id);
    if (t.kind === BtfKind.INT && t.bits === 32) return id;
  }
  return 0;
}

/** `strcmp` order: by UTF-8 bytes, which for the ASCII of C names is code-unit order. */
function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A stable sort by offset (libbpf's `compare_vsi_off`). */
function sortByOffset(vars: BtfVarSecinfo[]): BtfVarSecinfo[] {
  return vars.slice().sort((x, y) => x.offset - y.offset);
}
