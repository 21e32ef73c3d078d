/**
 * BTF as compilable C: `bpftool btf dump … format c`, the way `vmlinux.h`
 * is made. A port of libbpf's BTF-to-C converter (`btf_dump.c`):
 *
 * - types come out in dependency order (a topological sort where a struct
 *   embedded by value must be defined first, while one reached through a
 *   pointer only needs a forward declaration), with forward declarations
 *   where a cycle or a pointer needs them;
 * - anonymous structs, unions and enums are defined inline where they are
 *   used; an anonymous enum nothing refers to is a top-level `enum { … };`;
 * - struct layouts are reproduced: bitfields, explicit `long: 0;`-style
 *   padding where the compiler would not put a member where BTF says,
 *   `__attribute__((packed))` when a member is misaligned or the size is
 *   not a multiple of the alignment (libbpf's packed detection);
 * - enums keep their size: a 1-byte enum gets `__attribute__((mode(byte)))`,
 *   an 8-byte one whose values fit in 32 bits `__attribute__((mode(word)))`
 *   (libbpf ≥ 1.2 does this; bpftool v7.1's libbpf 1.1 does not, so its
 *   header gets such structs' layouts wrong);
 * - names that clash get libbpf's `___2`, `___3` … suffixes (structs,
 *   unions and enums in one namespace; typedefs and enumerators in
 *   another), in the order the definitions are emitted;
 * - function pointers, arrays of them, `const`/`volatile`/`restrict`
 *   placement, variadic and `(void)` prototypes, `btf_type_tag`
 *   attributes;
 * - FUNC, VAR, DATASEC and DECL_TAG are not types in C and are skipped.
 *
 * The output of {@link dumpC} for `/sys/kernel/btf/vmlinux` is line for
 * line bpftool v7.1's, apart from the enum size attributes above.
 *
 * ```ts
 * import { Btf } from "./btf.ts";
 * import { dumpC } from "./dump_c.ts";
 * import { readFileSync, writeFileSync } from "node:fs";
 *
 * const btf = Btf.parse(readFileSync("/sys/kernel/btf/vmlinux"));
 * writeFileSync("vmlinux.h", dumpC(btf));
 * ```
 *
 * @module
 */

import { BtfError } from "../errors/mod.ts";
import type { Btf } from "./btf.ts";
import {
  type BtfComposite,
  type BtfEnum,
  type BtfEnum64,
  type BtfFuncProto,
  BtfKind,
  type BtfType,
} from "./types.ts";

/** Options for {@link dumpC}. */
export interface DumpCOptions {
  /**
   * Wrap the declarations in bpftool's `vmlinux.h` prologue and epilogue:
   * the `__VMLINUX_H__` include guard and the
   * `#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)`
   * block (skipped when `BPF_NO_PRESERVE_ACCESS_INDEX` is defined).
   * Default `true`.
   */
  header?: boolean;
  /**
   * Type IDs to dump, with everything they need, in this order; default:
   * every type from ID 1 (the base's too, for split BTF), as bpftool does.
   */
  ids?: Iterable<number>;
  /** Target pointer size in bytes (4 or 8); default: the BTF's (`long`'s size, else 8). */
  pointerSize?: number;
  /**
   * Most characters of C to produce before giving up with
   * `BTF_DUMP_TOO_LARGE` (anonymous types are spelled out at every use, so
   * crafted BTF could otherwise ask for more text than a string holds).
   * Default 2^27 (`vmlinux.h` is about 2^22).
   */
  maxLength?: number;
  /**
   * Give 1- and 8-byte enums their size with `mode(byte)` / `mode(word)`
   * attributes, as libbpf ≥ 1.2 does (default `true`). `false` prints
   * what bpftool v7.1 (libbpf 1.1) prints.
   */
  enumSizeAttributes?: boolean;
}

/** Options for {@link formatCDecl}. */
export interface FormatCDeclOptions {
  /** The declared identifier (a field, variable or typedef name); default none. */
  name?: string;
  /** Indentation level (tabs) for inline definitions spanning lines; default 0. */
  indent?: number;
  /** Leave out `const`, `volatile`, `restrict` and type tags. Default `false`. */
  stripModifiers?: boolean;
  /** Target pointer size in bytes; default: the BTF's. */
  pointerSize?: number;
}

/** libbpf's emitter state and options, shared by {@link dumpC} and {@link formatCDecl}. */
interface DumperOptions {
  pointerSize?: number;
  enumSizeAttributes?: boolean;
  maxLength?: number;
  stripModifiers?: boolean;
}

/**
 * Compilable C declarations for the types of `btf`, in dependency order,
 * like `bpftool btf dump file … format c` (see the module documentation).
 *
 * Throws a {@link BtfError}: `BTF_LOOP` for a type cycle C cannot express
 * (a struct containing itself by value, a qualifier loop) or nesting
 * deeper than 500 levels, `BTF_BAD_TYPE_ID` for an ID in `ids` out of
 * range, `BTF_DUMP_TOO_LARGE` past `maxLength`, `BTF_BAD_POINTER_SIZE`
 * for a pointer size other than 4 or 8, besides the parser's errors for
 * types that do not decode.
 */
export function dumpC(btf: Btf, options: DumpCOptions = {}): string {
  const d = new CDumper(btf, options);
  const header = options.header ?? true;
  if (header) {
    d.put(
      "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n" +
        "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n" +
        "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n" +
        "#endif\n\n",
    );
  }
  if (options.ids === undefined) {
    // Kinds the parser does not know (sized by a layout section) can't be C.
    for (let id = 1; id <= btf.lastId; id++) if (btf.kindOf(id) <= BtfKind.ENUM64) d.dumpType(id);
  } else {
    for (const id of options.ids) d.dumpType(id);
  }
  if (header) {
    d.put(
      "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n" +
        "#endif /* __VMLINUX_H__ */\n",
    );
  }
  return d.text();
}

/**
 * One type as a C declaration (libbpf's `btf_dump__emit_type_decl`): the
 * type spelled around `name`, e.g. `int (*name)(void *, long)` or
 * `const char *name[4]`. Anonymous structs, unions and enums are spelled
 * out inline.
 */
export function formatCDecl(btf: Btf, id: number, options: FormatCDeclOptions = {}): string {
  const d = new CDumper(btf, options);
  d.btf.type(id); // BTF_BAD_TYPE_ID before anything else
  d.emitTypeDecl(id, options.name ?? "", options.indent ?? 0);
  return d.text();
}

// Per-type state, as in libbpf's btf_dump_type_aux_state (0: not ordered / not emitted).
const ORDERING = 1;
const ORDERED = 2;
const NOT_EMITTED = 0;
const EMITTING = 1;
const EMITTED = 2;

/** Nesting beyond this is taken for a loop rather than risking the JS stack (vmlinux nests 113 deep). */
const MAX_DEPTH = 500;
/** Default output cap, in characters: well under a JS engine's string limit. */
const MAX_LENGTH = 2 ** 27;
/** libbpf's indentation: at most 13 tabs. */
const MAX_INDENT = 13;
const TABS = "\t".repeat(MAX_INDENT);

/** GCC's ARM SIMD base types, aliased to standard C types where they appear. */
const MISSING_BASE_TYPES = new Map([
  ["__Poly8_t", "unsigned char"],
  ["__Poly16_t", "unsigned short"],
  ["__Poly64_t", "unsigned long long"],
  ["__Poly128_t", "unsigned __int128"],
]);

function pfx(lvl: number): string {
  return lvl >= MAX_INDENT ? TABS : TABS.slice(0, lvl);
}

function roundUp(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}

function isModifier(kind: number): boolean {
  return kind === BtfKind.VOLATILE || kind === BtfKind.CONST || kind === BtfKind.RESTRICT ||
    kind === BtfKind.TYPE_TAG;
}

/** A frame of the shared declaration stack: `ids[start .. start+count)`. */
interface DeclFrame {
  start: number;
  count: number;
}

/** The converter's state for one dump (libbpf's `struct btf_dump`). */
class CDumper {
  readonly btf: Btf;
  /** Pieces of text not yet joined into a block. */
  readonly #pieces: string[] = [];
  /** Joined blocks: far fewer objects than pieces for a large dump. */
  readonly #blocks: string[] = [];
  #length = 0;
  readonly #maxLength: number;
  readonly ptrSize: number;
  readonly enumSizeAttributes: boolean;
  readonly stripMods: boolean;

  readonly #orderState: Uint8Array;
  readonly #emitState: Uint8Array;
  readonly #fwdEmitted: Uint8Array;
  readonly #nameResolved: Uint8Array;
  #referenced?: Uint8Array;
  readonly #cachedNames = new Map<number, string>();
  /** Struct, union and enum tags → occurrences so far. */
  readonly #typeNames = new Map<string, number>();
  /** Typedef names and enumerators → occurrences so far. */
  readonly #identNames = new Map<string, number>();
  readonly #align: Int32Array;
  #emitQueue: number[] = [];
  readonly #declStack: number[] = [];
  #depth = 0;

  constructor(btf: Btf, options: DumperOptions) {
    this.btf = btf;
    this.ptrSize = options.pointerSize ?? btf.pointerSize;
    if (this.ptrSize !== 4 && this.ptrSize !== 8) {
      throw new BtfError("BTF_BAD_POINTER_SIZE", `pointer size ${this.ptrSize}: 4 or 8 bytes`);
    }
    this.enumSizeAttributes = options.enumSizeAttributes ?? true;
    this.#maxLength = options.maxLength ?? MAX_LENGTH;
    this.stripMods = options.stripModifiers ?? false;
    const n = btf.lastId + 1;
    this.#orderState = new Uint8Array(n);
    this.#emitState = new Uint8Array(n);
    this.#fwdEmitted = new Uint8Array(n);
    this.#nameResolved = new Uint8Array(n);
    this.#align = new Int32Array(n).fill(-1);
    // void is always "defined".
    this.#orderState[0] = ORDERED;
    this.#emitState[0] = EMITTED;
  }

  /** Append C text. */
  put(s: string): void {
    this.#length += s.length;
    if (this.#length > this.#maxLength) {
      throw new BtfError(
        "BTF_DUMP_TOO_LARGE",
        `the C dump grows past ${this.#maxLength} characters`,
      );
    }
    this.#pieces.push(s);
    if (this.#pieces.length === 8192) {
      this.#blocks.push(this.#pieces.join(""));
      this.#pieces.length = 0;
    }
  }

  /** The C text so far. */
  text(): string {
    return this.#blocks.join("") + this.#pieces.join("");
  }

  #type(id: number): BtfType {
    return this.btf.type(id);
  }

  /**
   * Record what a type refers to: an anonymous enum nobody refers to is a
   * top-level declaration of constants, one that is referred to is defined
   * inline where it is used.
   */
  #markReferenced(ref: Uint8Array, t: BtfType): void {
    switch (t.kind) {
      case BtfKind.VOLATILE:
      case BtfKind.CONST:
      case BtfKind.RESTRICT:
      case BtfKind.PTR:
      case BtfKind.TYPEDEF:
      case BtfKind.FUNC:
      case BtfKind.VAR:
      case BtfKind.DECL_TAG:
      case BtfKind.TYPE_TAG:
        ref[t.type] = 1;
        break;
      case BtfKind.ARRAY:
        ref[t.indexType] = 1;
        ref[t.type] = 1;
        break;
      case BtfKind.STRUCT:
      case BtfKind.UNION:
        for (const m of t.members) ref[m.type] = 1;
        break;
      case BtfKind.FUNC_PROTO:
        // libbpf marks the parameters only, not the return type.
        for (const p of t.params) ref[p.type] = 1;
        break;
      case BtfKind.DATASEC:
        for (const v of t.vars) ref[v.type] = 1;
        break;
    }
  }

  /** `btf_dump__dump_type`: order `id` and what it needs, then emit them. */
  dumpType(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id > this.btf.lastId) {
      throw new BtfError("BTF_BAD_TYPE_ID", `can't dump type ${id}: IDs are 0..${this.btf.lastId}`);
    }
    if (this.#referenced === undefined) {
      // libbpf marks every type (the base's too) before dumping any.
      this.#referenced = new Uint8Array(this.btf.lastId + 1);
      for (let i = 1; i <= this.btf.lastId; i++) {
        // Kinds the parser does not know (sized by a layout section) refer to nothing we know of.
        if (this.btf.kindOf(i) <= BtfKind.ENUM64) {
          this.#markReferenced(this.#referenced, this.#type(i));
        }
      }
    }
    this.#emitQueue = [];
    this.#orderType(id, false);
    for (const qid of this.#emitQueue) this.#emitType(qid, 0);
  }

  #enter(id: number): void {
    if (++this.#depth > MAX_DEPTH) {
      throw new BtfError(
        "BTF_LOOP",
        `type ${id}: types nest more than ${MAX_DEPTH} deep (a loop?)`,
      );
    }
  }

  /**
   * Topological sort (libbpf's `btf_dump_order_type`). Returns true when
   * the link to `id` is strong (the type must be fully defined before its
   * user) and false when a forward declaration would do.
   */
  #orderType(id: number, throughPtr: boolean): boolean {
    const state = this.#orderState[id];
    if (state === ORDERED) return true;
    const t = this.#type(id);
    if (state === ORDERING) {
      // A loop through a pointer to a named struct/union: a forward declaration breaks it.
      if ((t.kind === BtfKind.STRUCT || t.kind === BtfKind.UNION) && throughPtr && t.name !== "") {
        return false;
      }
      throw new BtfError("BTF_LOOP", `unsatisfiable type cycle at type ${id}`);
    }
    this.#enter(id);
    try {
      switch (t.kind) {
        case BtfKind.INT:
        case BtfKind.FLOAT:
          this.#orderState[id] = ORDERED;
          return false;
        case BtfKind.PTR: {
          const strong = this.#orderType(t.type, true);
          this.#orderState[id] = ORDERED;
          return strong;
        }
        case BtfKind.ARRAY:
          return this.#orderType(t.type, false);
        case BtfKind.STRUCT:
        case BtfKind.UNION:
          // Strong only when embedded, or anonymous (so defined inline even behind a pointer).
          if (throughPtr && t.name !== "") return false;
          this.#orderState[id] = ORDERING;
          for (const m of t.members) this.#orderType(m.type, false);
          if (t.name !== "") this.#emitQueue.push(id);
          this.#orderState[id] = ORDERED;
          return true;
        case BtfKind.ENUM:
        case BtfKind.ENUM64:
        case BtfKind.FWD:
          // Named or unreferenced enums are top-level declarations.
          if (t.name !== "" || !this.#referenced![id]) this.#emitQueue.push(id);
          this.#orderState[id] = ORDERED;
          return true;
        case BtfKind.TYPEDEF: {
          const strong = this.#orderType(t.type, throughPtr);
          if (throughPtr && !strong) return false;
          this.#emitQueue.push(id);
          this.#orderState[id] = ORDERED;
          return true;
        }
        case BtfKind.VOLATILE:
        case BtfKind.CONST:
        case BtfKind.RESTRICT:
        case BtfKind.TYPE_TAG:
          return this.#orderType(t.type, throughPtr);
        case BtfKind.FUNC_PROTO: {
          let strong = this.#orderType(t.returnType, throughPtr);
          for (const p of t.params) if (this.#orderType(p.type, throughPtr)) strong = true;
          return strong;
        }
        default:
          // FUNC, VAR, DATASEC, DECL_TAG: not C types.
          this.#orderState[id] = ORDERED;
          return false;
      }
    } finally {
      this.#depth--;
    }
  }

  /**
   * Emit a type and, first, the forward declarations it needs (libbpf's
   * `btf_dump_emit_type`). `contId` is the struct/union being defined
   * (0 at top level): references to it need no forward declaration.
   */
  #emitType(id: number, contId: number): void {
    const state = this.#emitState[id];
    if (state === EMITTED) return;
    const t = this.#type(id);
    if (state === EMITTING) {
      if (this.#fwdEmitted[id]) return;
      if (t.kind === BtfKind.STRUCT || t.kind === BtfKind.UNION) {
        // A reference to the struct being defined needs no declaration.
        if (id === contId) return;
        if (t.name === "") return; // an anonymous struct/union loop: libbpf warns and goes on
        this.#emitStructFwd(id, t);
        this.put(";\n\n");
        this.#fwdEmitted[id] = 1;
      } else if (t.kind === BtfKind.TYPEDEF) {
        // The typedef is used through a pointer while its target is being
        // defined: emit it now; it serves as the forward declaration.
        if (t.name !== "__builtin_va_list") {
          this.#emitTypedefDef(id, t, 0);
          this.put(";\n\n");
        }
        this.#fwdEmitted[id] = 1;
      }
      return;
    }
    this.#enter(id);
    try {
      switch (t.kind) {
        case BtfKind.INT: {
          const alias = MISSING_BASE_TYPES.get(this.#typeName(id));
          if (alias !== undefined) this.put(`typedef ${alias} ${this.#typeName(id)};\n\n`);
          this.#emitState[id] = EMITTED;
          break;
        }
        case BtfKind.ENUM:
        case BtfKind.ENUM64:
          if (contId === 0) {
            this.#emitEnumDef(id, t, 0);
            this.put(";\n\n");
          }
          this.#emitState[id] = EMITTED;
          break;
        case BtfKind.PTR:
        case BtfKind.VOLATILE:
        case BtfKind.CONST:
        case BtfKind.RESTRICT:
        case BtfKind.TYPE_TAG:
        case BtfKind.ARRAY:
          this.#emitType(t.type, contId);
          break;
        case BtfKind.FWD:
          this.put(`${t.union ? "union" : "struct"} ${this.#typeName(id)};\n\n`);
          this.#emitState[id] = EMITTED;
          break;
        case BtfKind.TYPEDEF:
          this.#emitState[id] = EMITTING;
          this.#emitType(t.type, id);
          // Unless emitted early as a forward declaration, emit it now.
          if (!this.#fwdEmitted[id] && t.name !== "__builtin_va_list") {
            this.#emitTypedefDef(id, t, 0);
            this.put(";\n\n");
          }
          this.#emitState[id] = EMITTED;
          break;
        case BtfKind.STRUCT:
        case BtfKind.UNION:
          this.#emitState[id] = EMITTING;
          // A definition (top level, or anonymous so inline) spells out its
          // members: make sure their types are declared.
          if (contId === 0 || t.name === "") {
            const newCont = t.name === "" ? contId : id;
            for (const m of t.members) this.#emitType(m.type, newCont);
          } else if (!this.#fwdEmitted[id] && id !== contId) {
            this.#emitStructFwd(id, t);
            this.put(";\n\n");
            this.#fwdEmitted[id] = 1;
          }
          if (contId === 0) {
            this.#emitStructDef(id, t, 0);
            this.put(";\n\n");
            this.#emitState[id] = EMITTED;
          } else {
            this.#emitState[id] = NOT_EMITTED;
          }
          break;
        case BtfKind.FUNC_PROTO:
          this.#emitType(t.returnType, contId);
          for (const p of t.params) this.#emitType(p.type, contId);
          break;
      }
    } finally {
      this.#depth--;
    }
  }

  #alignOf(id: number): number {
    let a = this.#align[id];
    if (a < 0) {
      try {
        a = this.btf.alignOf(id);
      } catch (err) {
        // libbpf's btf__align_of answers 0 for types without an alignment.
        if (!(err instanceof BtfError)) throw err;
        a = 0;
      }
      this.#align[id] = a;
    }
    return a;
  }

  #sizeOf(id: number): number {
    try {
      return this.btf.sizeOf(id);
    } catch (err) {
      if (!(err instanceof BtfError)) throw err;
      return 0;
    }
  }

  /** libbpf's `btf_is_struct_packed`. */
  #isPacked(t: BtfComposite): boolean {
    let maxAlign = 1;
    for (const m of t.members) {
      const align = this.#alignOf(m.type);
      if (align && m.bitfieldSize === 0 && m.bitOffset % (8 * align) !== 0) return true;
      if (align > maxAlign) maxAlign = align;
    }
    // A non-packed struct's size is a multiple of its alignment.
    return t.size % maxAlign !== 0;
  }

  /**
   * Fill the gap from `cur` to `next` (bits) with anonymous bitfields,
   * relying on natural alignment where it lands on `next` by itself
   * (libbpf's `btf_dump_emit_bit_padding`).
   */
  #emitBitPadding(
    cur: number,
    next: number,
    nextAlign: number,
    inBitfield: boolean,
    lvl: number,
  ): void {
    if (cur >= next) return;
    const pads: [string, number][] = [["long", this.ptrSize * 8], ["int", 32], ["short", 16], [
      "char",
      8,
    ]];
    let newOff = 0;
    let padBits = 0;
    let padType = "";
    for (const [name, bits] of pads) {
      padBits = bits;
      padType = name;
      newOff = roundUp(cur, bits);
      if (newOff <= next) break;
    }
    if (newOff > cur && newOff <= next) {
      // An explicit `<type>: 0` when the next member would not land on
      // newOff by its own alignment, or when a `<type>: X` would fit the
      // hole and be ignored by the compiler.
      if (
        inBitfield ||
        (newOff === next && roundUp(cur, nextAlign * 8) !== newOff) ||
        (newOff !== next && next - newOff <= newOff - cur)
      ) {
        this.put(`\n${pfx(lvl)}${padType}: ${inBitfield ? newOff - cur : 0};`);
      }
      cur = newOff;
    }
    while (cur !== next) {
      const bits = Math.min(next - cur, padBits);
      if (bits === padBits) {
        this.put(`\n${pfx(lvl)}${padType}: ${padBits};`);
        cur += bits;
        continue;
      }
      // The remainder: the smallest type that covers it.
      for (let i = pads.length - 1; i >= 0; i--) {
        padType = pads[i][0];
        padBits = pads[i][1];
        if (padBits < bits) continue;
        this.put(`\n${pfx(lvl)}${padType}: ${bits};`);
        cur += bits;
        break;
      }
    }
  }

  #emitStructFwd(id: number, t: BtfComposite): void {
    const kw = t.kind === BtfKind.STRUCT ? "struct" : "union";
    this.put(t.name === "" ? kw : `${kw} ${this.#typeName(id)}`);
  }

  #emitStructDef(id: number, t: BtfComposite, lvl: number): void {
    const isStruct = t.kind === BtfKind.STRUCT;
    const align = this.#alignOf(id);
    const packed = isStruct && this.#isPacked(t);
    const kw = isStruct ? "struct" : "union";
    this.put(t.name === "" ? `${kw} {` : `${kw} ${this.#typeName(id)} {`);
    let off = 0;
    let prevBitfield = false;
    for (const m of t.members) {
      const bitSize = m.bitfieldSize;
      const mAlign = packed ? 1 : this.#alignOf(m.type);
      this.#emitBitPadding(off, m.bitOffset, mAlign, prevBitfield && bitSize !== 0, lvl + 1);
      this.put(`\n${pfx(lvl + 1)}`);
      this.emitTypeDecl(m.type, m.name, lvl + 1);
      if (bitSize) {
        this.put(`: ${bitSize}`);
        off = m.bitOffset + bitSize;
        prevBitfield = true;
      } else {
        off = m.bitOffset + this.#sizeOf(m.type) * 8;
        prevBitfield = false;
      }
      this.put(";");
    }
    if (isStruct) this.#emitBitPadding(off, t.size * 8, align, false, lvl + 1);
    // `struct empty {}` stays on one line.
    this.put(t.members.length || t.size ? `\n${pfx(lvl)}}` : "}");
    if (packed) this.put(" __attribute__((packed))");
  }

  #emitEnumDef(id: number, t: BtfEnum | BtfEnum64, lvl: number): void {
    this.put(t.name === "" ? "enum" : `enum ${this.#typeName(id)}`);
    if (t.values.length === 0) return;
    this.put(" {");
    const indent = pfx(lvl + 1);
    const suffix = t.kind === BtfKind.ENUM64 ? (t.signed ? "LL" : "ULL") : "";
    for (const v of t.values) {
      // Enumerators share the namespace of typedef names.
      const dups = this.#nameDups(this.#identNames, v.name);
      const name = dups > 1 ? `${v.name}___${dups}` : v.name;
      this.put(`\n${indent}${name} = ${v.value}${suffix},`);
    }
    this.put(`\n${pfx(lvl)}}`);
    if (!this.enumSizeAttributes) return;
    if (t.size === 1) {
      this.put(" __attribute__((mode(byte)))");
    } else if (t.size === 8 && this.ptrSize === 8) {
      // An enum64 with a value past 32 bits is 8 bytes by itself.
      const needsWord = t.kind === BtfKind.ENUM ||
        t.values.every((v) => BigInt.asUintN(64, v.value) >> 32n === 0n);
      if (needsWord) this.put(" __attribute__((mode(word)))");
    }
  }

  #emitTypedefDef(id: number, t: BtfType & { type: number }, lvl: number): void {
    const name = this.#identName(id);
    // Old GCC emits __gnuc_va_list as a typedef of void.
    if (t.type === 0 && name === "__gnuc_va_list") {
      this.put("typedef __builtin_va_list __gnuc_va_list");
      return;
    }
    this.put("typedef ");
    this.emitTypeDecl(t.type, name, lvl);
  }

  /**
   * A declaration of `fname` with type `id` in C syntax (libbpf's
   * `btf_dump_emit_type_decl`): push the chain of pointers, modifiers,
   * arrays and prototypes down to a named type onto a stack, then spell
   * it inside out.
   */
  emitTypeDecl(id: number, fname: string, lvl: number): void {
    const stack = this.#declStack;
    const start = stack.length;
    const limit = start + this.btf.lastId + 2;
    for (;;) {
      const t = this.#type(id);
      if (!(this.stripMods && isModifier(t.kind))) stack.push(id);
      if (id === 0) break;
      if (stack.length > limit) {
        stack.length = start;
        throw new BtfError("BTF_LOOP", `type ${id}: declaration chain loops`);
      }
      let next: number | undefined;
      switch (t.kind) {
        case BtfKind.PTR:
        case BtfKind.VOLATILE:
        case BtfKind.CONST:
        case BtfKind.RESTRICT:
        case BtfKind.TYPE_TAG:
        case BtfKind.ARRAY:
          next = t.type;
          break;
        case BtfKind.FUNC_PROTO:
          next = t.returnType;
          break;
      }
      // INT, FLOAT, ENUM, STRUCT, UNION, FWD, TYPEDEF end the chain (as
      // does anything unexpected, which libbpf warns about).
      if (next === undefined) break;
      id = next;
    }
    this.#enter(id);
    try {
      this.#emitTypeChain({ start, count: stack.length - start }, fname, lvl);
    } finally {
      this.#depth--;
      stack.length = start;
    }
  }

  #top(frame: DeclFrame): number {
    return this.#declStack[frame.start + frame.count - 1];
  }

  /** Leading `const`/`volatile`/`restrict` of a named type. */
  #emitMods(frame: DeclFrame): void {
    while (frame.count) {
      const id = this.#top(frame);
      if (id === 0) return;
      const kind = this.btf.kindOf(id);
      if (kind === BtfKind.VOLATILE) this.put("volatile ");
      else if (kind === BtfKind.CONST) this.put("const ");
      else if (kind === BtfKind.RESTRICT) this.put("restrict ");
      else return;
      frame.count--;
    }
  }

  #dropMods(frame: DeclFrame): void {
    while (frame.count) {
      const id = this.#top(frame);
      if (id === 0 || !isModifier(this.btf.kindOf(id))) return;
      frame.count--;
    }
  }

  #emitName(name: string, lastWasPtr: boolean): void {
    if (name === "") return;
    this.put(lastWasPtr ? name : ` ${name}`);
  }

  #emitTypeChain(frame: DeclFrame, fname: string, lvl: number): void {
    const stack = this.#declStack;
    // A pointer right after the start needs no space before its `*`.
    let lastWasPtr = true;
    while (frame.count) {
      const id = stack[frame.start + --frame.count];
      if (id === 0) {
        this.#emitMods(frame);
        this.put("void");
        lastWasPtr = false;
        continue;
      }
      const t = this.#type(id);
      switch (t.kind) {
        case BtfKind.INT:
        case BtfKind.FLOAT:
          this.#emitMods(frame);
          this.put(t.name);
          break;
        case BtfKind.STRUCT:
        case BtfKind.UNION:
          this.#emitMods(frame);
          if (t.name === "") this.#emitStructDef(id, t, lvl);
          else this.#emitStructFwd(id, t);
          break;
        case BtfKind.ENUM:
        case BtfKind.ENUM64:
          this.#emitMods(frame);
          if (t.name === "") this.#emitEnumDef(id, t, lvl);
          else this.put(`enum ${this.#typeName(id)}`);
          break;
        case BtfKind.FWD:
          this.#emitMods(frame);
          this.put(`${t.union ? "union" : "struct"} ${this.#typeName(id)}`);
          break;
        case BtfKind.TYPEDEF:
          this.#emitMods(frame);
          this.put(this.#identName(id));
          break;
        case BtfKind.PTR:
          this.put(lastWasPtr ? "*" : " *");
          break;
        case BtfKind.VOLATILE:
          this.put(" volatile");
          break;
        case BtfKind.CONST:
          this.put(" const");
          break;
        case BtfKind.RESTRICT:
          this.put(" restrict");
          break;
        case BtfKind.TYPE_TAG:
          this.#emitMods(frame);
          this.put(` __attribute__((btf_type_tag("${t.name}")))`);
          break;
        case BtfKind.ARRAY: {
          // GCC puts the element's const/volatile on the array too; drop them.
          this.#dropMods(frame);
          if (frame.count === 0) {
            this.#emitName(fname, lastWasPtr);
            this.put(`[${t.nelems}]`);
            return;
          }
          const multidim = this.btf.kindOf(this.#top(frame)) === BtfKind.ARRAY;
          if (fname !== "" && !lastWasPtr) this.put(" ");
          if (!multidim) this.put("(");
          this.#emitNestedChain(id, frame, fname, lvl);
          if (!multidim) this.put(")");
          this.put(`[${t.nelems}]`);
          return;
        }
        case BtfKind.FUNC_PROTO:
          // GCC marks noreturn function pointers volatile; drop that.
          this.#dropMods(frame);
          if (frame.count) {
            this.put(" (");
            this.#emitNestedChain(id, frame, fname, lvl);
            this.put(")");
          } else {
            this.#emitName(fname, lastWasPtr);
          }
          this.#emitParams(t, lvl);
          return;
        default:
          // libbpf warns about an unexpected kind in a declaration and stops.
          return;
      }
      lastWasPtr = t.kind === BtfKind.PTR;
    }
    this.#emitName(fname, lastWasPtr);
  }

  /** The rest of a chain inside an array's or a prototype's declarator. */
  #emitNestedChain(id: number, frame: DeclFrame, fname: string, lvl: number): void {
    this.#enter(id);
    try {
      this.#emitTypeChain(frame, fname, lvl);
    } finally {
      this.#depth--;
    }
  }

  #emitParams(t: BtfFuncProto, lvl: number): void {
    const params = t.params;
    this.put("(");
    // No parameters, or clang's single void parameter: `(void)`.
    if (params.length === 0 || (params.length === 1 && params[0].type === 0)) {
      this.put("void)");
      return;
    }
    for (let i = 0; i < params.length; i++) {
      if (i > 0) this.put(", ");
      // A last parameter of type void is `...`.
      if (i === params.length - 1 && params[i].type === 0) {
        this.put("...");
        break;
      }
      this.emitTypeDecl(params[i].type, params[i].name, lvl);
    }
    this.put(")");
  }

  /** Count one more occurrence of `name` in a namespace; returns the count. */
  #nameDups(map: Map<string, number>, name: string): number {
    const n = (map.get(name) ?? 0) + 1;
    map.set(name, n);
    return n;
  }

  /**
   * The name a type is emitted under: its own, or `name___N` for the N-th
   * distinct type of that name in the namespace (decided on first use).
   */
  #resolveName(id: number, names: Map<string, number>): string {
    const t = this.#type(id);
    if (t.name === "") return "";
    if (this.#nameResolved[id]) return this.#cachedNames.get(id) ?? t.name;
    this.#nameResolved[id] = 1;
    // Forward declarations and enum forward declarations never clash.
    if (t.kind === BtfKind.FWD || (t.kind === BtfKind.ENUM && t.values.length === 0)) return t.name;
    const dups = this.#nameDups(names, t.name);
    if (dups > 1) {
      // libbpf formats into a 256-byte buffer.
      const name = `${t.name}___${dups}`.slice(0, 255);
      this.#cachedNames.set(id, name);
      return name;
    }
    return t.name;
  }

  #typeName(id: number): string {
    return this.#resolveName(id, this.#typeNames);
  }

  #identName(id: number): string {
    return this.#resolveName(id, this.#identNames);
  }
}
