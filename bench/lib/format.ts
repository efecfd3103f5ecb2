/** Number formatting shared by the tables and the chart. */

export function fmtRate(n: number): string {
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function fmtRatio(r: number | null): string {
  if (r == null) return '–';
  if (r >= 10) return `${r.toFixed(1)}×`;
  if (r < 0.1) return `${r.toPrecision(2)}×`;
  return `${r.toFixed(2)}×`;
}

export function fmtCount(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n >= 1_000 && n % 1_000 === 0) return `${n / 1_000}k`;
  return n.toLocaleString('en-US');
}
