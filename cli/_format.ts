/**
 * Plain-text tables for the command line.
 *
 * @module
 */

/** Left-aligned columns separated by two spaces; the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, cell.length));
  }
  return rows.map((row) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  ").trimEnd()
  )
    .join("\n");
}

/** `0x1f`-style hex for flags. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
