// Medians of repeated benchmark runs: reads the JSON lines of several `npm run bench -- --json`
// runs (files or stdin; other lines are skipped) and prints each numeric key's median, the
// figures docs/BENCHMARKS.md reports.
// Usage: node bench/medians.ts run1.out run2.out run3.out [--json]
import fs from 'node:fs';
import { median } from './lib.ts';

const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('--'));
const texts = files.length ? files.map((f) => fs.readFileSync(f, 'utf8')) : [fs.readFileSync(0, 'utf8')];
const runs = texts
  .flatMap((t) => t.split('\n'))
  .filter((l) => l.startsWith('{'))
  .map((l) => JSON.parse(l) as Record<string, unknown>);
if (runs.length === 0) {
  console.error('bench/medians: no JSON lines found');
  process.exit(2);
}
const keys = [...new Set(runs.flatMap((r) => Object.keys(r)))];
const out: Record<string, unknown> = { runs: runs.length };
for (const k of keys) {
  const values = runs.map((r) => r[k]);
  // A scenario with no response in its window has null figures: the median of the others, noted.
  if (values.every((v) => typeof v === 'number' || v === null) && values.some((v) => v !== null))
    out[k] = median(values.filter((v) => v !== null) as number[]);
  else if (values.every(Array.isArray)) out[k] = values.map((v) => (v as unknown[]).join(' ')).join(' / ');
  else if (typeof values[0] !== 'object') out[k] = [...new Set(values.map(String))].join(' / ');
}
if (args.includes('--json')) console.log(JSON.stringify(out));
else {
  console.log(`| key | median of ${runs.length} | runs |\n| --- | --- | --- |`);
  for (const [k, v] of Object.entries(out)) {
    if (k === 'runs') continue;
    const each = runs.map((r) => (typeof r[k] === 'number' ? r[k] : r[k] === null ? 'none' : '')).join(', ');
    console.log(`| ${k} | ${v} | ${typeof v === 'number' ? each : ''} |`);
  }
}
