/**
 * A tiny WebAssembly binary-format emitter: LEB128 integers, a growable
 * byte buffer for function bodies and a module builder with the sections
 * the compiled tier needs (types, imports, functions, globals, exports,
 * code). Nothing here knows about BPF.
 *
 * @module
 */

/** Value type `i32`. */
export const I32 = 0x7f;
/** Value type `i64`. */
export const I64 = 0x7e;
/** Value type `f64`. */
export const F64 = 0x7c;
/** Block type with no result. */
export const VOID = 0x40;

/** A growable byte buffer with LEB128 writers. */
export class ByteWriter {
  /** Bytes written so far (valid up to {@link length}). */
  bytes = new Uint8Array(256);
  /** Bytes in use. */
  length = 0;

  /** Append one byte. */
  byte(b: number): void {
    if (this.length === this.bytes.length) this.#grow(1);
    this.bytes[this.length++] = b;
  }

  /** Append several bytes. */
  raw(bytes: ArrayLike<number>): void {
    if (this.length + bytes.length > this.bytes.length) this.#grow(bytes.length);
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Append an unsigned LEB128 of a u32. */
  u32(value: number): void {
    let v = value >>> 0;
    do {
      const b = v & 0x7f;
      v >>>= 7;
      this.byte(v === 0 ? b : b | 0x80);
    } while (v !== 0);
  }

  /** Append a signed LEB128 of an i32. */
  s32(value: number): void {
    let v = value | 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
  }

  /** Append a signed LEB128 of a 64-bit value given as its (lo, hi) words. */
  s64(lo: number, hi: number): void {
    // Values that are sign-extended i32s take the short path.
    if ((hi | 0) === ((lo | 0) >> 31)) return this.s32(lo);
    let v = (BigInt(hi | 0) << 32n) | BigInt(lo >>> 0);
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
  }

  /** Append a length-prefixed UTF-8 name. */
  name(text: string): void {
    const bytes = new TextEncoder().encode(text);
    this.u32(bytes.length);
    this.raw(bytes);
  }

  /** The bytes written, as a fresh array. */
  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }

  #grow(need: number): void {
    const next = new Uint8Array(Math.max(this.bytes.length * 2, this.length + need));
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }
}

/** A function signature. */
export interface FuncType {
  /** Parameter value types. */
  params: number[];
  /** Result value types. */
  results: number[];
}

/** An imported function. */
export interface FuncImport {
  /** Import name in module `env`. */
  name: string;
  /** Its signature. */
  type: FuncType;
}

/** A defined function: its signature, extra locals and body (without the final `end`). */
export interface FuncDef {
  /** Its signature. */
  type: FuncType;
  /** Value types of the locals after the parameters. */
  locals: number[];
  /** The instructions. */
  body: ByteWriter;
  /** Export name, when exported. */
  exportName?: string;
}

/** A global: value type, mutability and initial value (i32/i64 constant). */
export interface GlobalDef {
  /** Value type. */
  type: number;
  /** Mutable? */
  mutable: boolean;
  /** Initial value (an integer). */
  init: number;
}

/** What {@link encodeModule} assembles. */
export interface ModuleDef {
  /** Imported functions (indices 0…). */
  funcImports: FuncImport[];
  /** Name of the imported memory (module `env`), if any. */
  memoryImport?: string;
  /** Imported globals (module `env`), indices 0… before the defined ones. */
  globalImports: { name: string; type: number; mutable: boolean }[];
  /** Defined globals. */
  globals: GlobalDef[];
  /** Defined functions, indices after the imports. */
  funcs: FuncDef[];
}

function section(out: ByteWriter, id: number, body: ByteWriter): void {
  out.byte(id);
  out.u32(body.length);
  out.raw(body.bytes.subarray(0, body.length));
}

function typeKey(t: FuncType): string {
  return `${t.params.join(",")}:${t.results.join(",")}`;
}

/** Encode a module to its binary form. */
export function encodeModule(def: ModuleDef): Uint8Array {
  const types: FuncType[] = [];
  const typeIndex = new Map<string, number>();
  const typeOf = (t: FuncType): number => {
    const key = typeKey(t);
    let i = typeIndex.get(key);
    if (i === undefined) {
      i = types.length;
      types.push(t);
      typeIndex.set(key, i);
    }
    return i;
  };
  const importTypes = def.funcImports.map((f) => typeOf(f.type));
  const funcTypes = def.funcs.map((f) => typeOf(f.type));

  const out = new ByteWriter();
  out.raw([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

  const ts = new ByteWriter();
  ts.u32(types.length);
  for (const t of types) {
    ts.byte(0x60);
    ts.u32(t.params.length);
    ts.raw(t.params);
    ts.u32(t.results.length);
    ts.raw(t.results);
  }
  section(out, 1, ts);

  const is = new ByteWriter();
  const imports = def.funcImports.length + def.globalImports.length +
    (def.memoryImport === undefined ? 0 : 1);
  is.u32(imports);
  def.funcImports.forEach((f, i) => {
    is.name("env");
    is.name(f.name);
    is.byte(0x00);
    is.u32(importTypes[i]);
  });
  if (def.memoryImport !== undefined) {
    is.name("env");
    is.name(def.memoryImport);
    is.byte(0x02);
    is.byte(0x00); // limits: min only (the arena's own maximum applies)
    is.u32(0);
  }
  for (const g of def.globalImports) {
    is.name("env");
    is.name(g.name);
    is.byte(0x03);
    is.byte(g.type);
    is.byte(g.mutable ? 1 : 0);
  }
  section(out, 2, is);

  const fs = new ByteWriter();
  fs.u32(funcTypes.length);
  for (const t of funcTypes) fs.u32(t);
  section(out, 3, fs);

  if (def.globals.length > 0) {
    const gs = new ByteWriter();
    gs.u32(def.globals.length);
    for (const g of def.globals) {
      gs.byte(g.type);
      gs.byte(g.mutable ? 1 : 0);
      if (g.type === I32) {
        gs.byte(0x41);
        gs.s32(g.init);
      } else if (g.type === I64) {
        gs.byte(0x42);
        gs.s32(g.init);
      } else {
        gs.byte(0x44);
        const f = new Uint8Array(new Float64Array([g.init]).buffer);
        gs.raw(f);
      }
      gs.byte(0x0b);
    }
    section(out, 6, gs);
  }

  const exported = def.funcs.map((f, i) => [f, i] as const).filter(([f]) => f.exportName);
  const es = new ByteWriter();
  es.u32(exported.length);
  for (const [f, i] of exported) {
    es.name(f.exportName!);
    es.byte(0x00);
    es.u32(def.funcImports.length + i);
  }
  section(out, 7, es);

  const cs = new ByteWriter();
  cs.u32(def.funcs.length);
  for (const f of def.funcs) {
    const body = new ByteWriter();
    // Run-length encode the locals.
    const runs: [number, number][] = [];
    for (const t of f.locals) {
      if (runs.length > 0 && runs[runs.length - 1][1] === t) runs[runs.length - 1][0]++;
      else runs.push([1, t]);
    }
    body.u32(runs.length);
    for (const [n, t] of runs) {
      body.u32(n);
      body.byte(t);
    }
    body.raw(f.body.bytes.subarray(0, f.body.length));
    body.byte(0x0b);
    cs.u32(body.length);
    cs.raw(body.bytes.subarray(0, body.length));
  }
  section(out, 10, cs);
  return out.finish();
}
