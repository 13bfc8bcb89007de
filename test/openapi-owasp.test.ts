import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness } from './helpers/api-app.ts';
import { testTaskType } from './helpers/test-types.ts';

let h: ApiHarness;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-openapi-'));

beforeAll(async () => {
  h = await startApiHarness({
    definitions: [testTaskType({ started: [], aborted: [] })],
    worker: false,
    withRestore: true,
  });
});
afterAll(async () => {
  await h?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('the OpenAPI document passes Spectral with the OWASP API ruleset, with no errors', async () => {
  const res = await h.app.inject({ url: '/api/v1/openapi.json' });
  const file = path.join(dir, 'openapi.json');
  fs.writeFileSync(file, res.body);
  const out = path.join(dir, 'spectral.json');
  await promisify(execFile)(
    process.execPath,
    [
      'node_modules/@stoplight/spectral-cli/dist/index.js',
      'lint',
      '-r',
      '.spectral.yaml',
      '-f',
      'json',
      '-o',
      out,
      '--fail-severity',
      'error',
      file,
    ],
    { timeout: 120_000 },
  ).catch((err: { code?: number }) => {
    // Exit 1 means findings at the failing severity; they are listed below.
    if (err.code !== 1) throw err;
  });
  const findings = JSON.parse(fs.readFileSync(out, 'utf8')) as {
    code: string;
    severity: number;
    path: string[];
  }[];
  const errors = findings.filter((f) => f.severity === 0).map((f) => `${f.code} at ${f.path.join('.')}`);
  const warnings = findings.filter((f) => f.severity === 1).length;
  console.log(`[spectral owasp] ${errors.length} errors, ${warnings} warnings`);
  expect(errors).toEqual([]);
  // The limit of the run list is a bounded integer, not a string.
  const list = JSON.parse(res.body).paths['/api/v1/tenants/{tenantId}/operations'].get.parameters;
  expect(list.find((p: { name: string }) => p.name === 'limit').schema).toMatchObject({
    type: 'integer',
    maximum: 200,
  });
});
