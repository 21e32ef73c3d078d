/**
 * What a `tsbpf` subcommand is: its name, help text, options, and a `run`
 * that writes to the given output and returns an exit status.
 *
 * @module
 */

import { readFile, writeFile } from "node:fs/promises";
import type { ParseArgsConfig } from "node:util";
import { relative } from "node:path";
import process from "node:process";
import { createLoader, loadConfigFile, readConfigObjects } from "../config/mod.ts";
import { Loader } from "../plugins/mod.ts";
import type { PipelineInput } from "../stages/mod.ts";

/** Where a command writes. */
export interface CommandIo {
  /** Standard output. */
  out(text: string): void;
  /** Standard error. */
  err(text: string): void;
}

/** Parsed arguments of one command. */
export interface CommandArgs {
  /** Option values by name. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** Positional arguments after the command name. */
  positionals: string[];
}

/** One subcommand. */
export interface Command {
  /** The word that selects it (`inspect`). */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly help: string;
  /** Its options, in `node:util` `parseArgs` form. */
  readonly options: NonNullable<ParseArgsConfig["options"]>;
  /** Do the work; resolves to the exit status. */
  run(args: CommandArgs, io: CommandIo): Promise<number>;
}

/** Bad usage: exit status 2, with a hint to `--help`. */
export class UsageError extends Error {}

/** The bytes of a file named on the command line; a missing file is a usage error. */
export async function readInput(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Write `text` to `path`; failures are usage errors naming the path. */
export async function writeOutput(path: string, text: string): Promise<void> {
  try {
    await writeFile(path, text);
  } catch (err) {
    throw new UsageError(`cannot write ${path}: ${(err as Error).message}`);
  }
}

/** The single FILE positional of a command, or a usage error. */
export function oneFile(args: CommandArgs, command: string): string {
  const [file, ...rest] = args.positionals;
  if (file === undefined) throw new UsageError(`${command} needs a FILE`);
  if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(" ")}`);
  return file;
}

/** The `--config FILE` option shared by commands that load objects. */
export const CONFIG_OPTION = { config: { type: "string" as const, short: "c" } };

/**
 * The loader a command uses: the built-in one, or with `--config FILE` the
 * one that config's plugins and pipeline settings make.
 */
export async function loaderFor(args: CommandArgs): Promise<Loader> {
  const config = args.values.config;
  if (typeof config !== "string") return Loader.create();
  return createLoader(await loadConfigFile(config));
}

/** What a command loads, and the name it prints for it. */
export interface CommandInput {
  /** FILE, `a.o + b.o` for linked objects, or the config's object path. */
  label: string;
  /** One object's bytes, or the objects to link into one. */
  input: PipelineInput;
}

/**
 * The object a command loads: its single FILE, or with no FILE the objects
 * of `--config F` (one, or several with `"link": true`, linked into one
 * collection). Several objects without `link` are a usage error.
 */
export async function configOrFileInput(
  args: CommandArgs,
  command: string,
): Promise<CommandInput> {
  const configFile = args.values.config;
  if (args.positionals.length > 0 || typeof configFile !== "string") {
    const file = oneFile(args, command);
    return { label: file, input: await readInput(file) };
  }
  const config = await loadConfigFile(configFile);
  if (config.objects.length === 0) {
    throw new UsageError(`${command} needs a FILE (the config ${configFile} names no objects)`);
  }
  if (config.objects.length > 1 && !config.link) {
    throw new UsageError(
      `${configFile}: objects: ${config.objects.length} objects; set "link": true to link them into one collection, or name one FILE`,
    );
  }
  const objects = await readConfigObjects(config);
  const label = config.objects.map((f) => relative(process.cwd(), f) || f).join(" + ");
  return { label, input: objects.length === 1 ? objects[0].bytes : objects };
}
