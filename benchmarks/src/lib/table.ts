/** Column alignment in a {@link table}. */
export type Align = 'left' | 'right';

/**
 * A markdown table whose columns are padded, so that the same text reads as a table in the terminal and
 * renders as one in the markdown report.
 */
export function table(
  headers: readonly string[],
  aligns: readonly Align[],
  rows: readonly string[][],
): string {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    `| ${cells
      .map((cell, i) => (aligns[i] === 'right' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join(' | ')} |`;
  const rule = `|${widths.map((width, i) => (aligns[i] === 'right' ? `${'-'.repeat(width + 1)}:` : '-'.repeat(width + 2))).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}
