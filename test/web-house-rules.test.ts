// House rules of the UI's code that no compiler checks: every query key comes from the one factory
// in web/src/api/queries.ts, so invalidating a key (after a write, on a live event) reaches every
// query that reads the same data. Reads the sources only: it runs the same in both passes.
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';

const WEB = path.resolve(import.meta.dirname, '../web/src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

it('query keys are written only in the key factory (web/src/api/queries.ts)', () => {
  const offenders: string[] = [];
  for (const file of sources(WEB)) {
    if (file.endsWith(path.join('api', 'queries.ts'))) continue;
    const text = fs.readFileSync(file, 'utf8');
    text.split('\n').forEach((line, i) => {
      // A key is an array literal of its own; `[...keys.x(…), 'sub']` extends a factory key.
      if (/queryKey:\s*\[(?!\.\.\.keys\.)/.test(line) || /\b\w*[kK]ey\s*=\s*\[\s*'/.test(line))
        offenders.push(`${path.relative(WEB, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  expect(offenders).toEqual([]);
  // The rule can see a key: the factory itself has them.
  expect(fs.readFileSync(path.join(WEB, 'api/queries.ts'), 'utf8')).toMatch(/export const keys = \{/);
});
