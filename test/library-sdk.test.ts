import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as library from '../src/main/index.ts';
import { type ApiHarness, startApiHarness } from './helpers/api-app.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

/**
 * The library as an SDK: inputs inferred from an operation type's schema (checked by the
 * compiler), the errors its documentation names exported, and users and tokens provisioned in
 * process while the server runs (on the embedded database too, whose one process this is).
 */
const ROOT = path.resolve(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-sdk-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function tsc(file: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        path.join(ROOT, 'node_modules/typescript/bin/tsc'),
        '--noEmit',
        '--strict',
        '--target',
        'es2024',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--allowImportingTsExtensions',
        '--skipLibCheck',
        '--types',
        'node',
        '--typeRoots',
        path.join(ROOT, 'node_modules/@types'),
        file,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code, output }));
  });
}

const program = (
  handlerBody: string,
) => `import { defineOperationType, type Static, Type } from '${path.join(ROOT, 'src/main/index.ts')}';
const schema = Type.Object({ month: Type.String(), limit: Type.Integer({ default: 10 }) });
export const report = defineOperationType({
  name: 'licences.report',
  label: 'Licence report',
  inputSchema: schema,
  identityKeys: ['month'],
  countKeys: ['users'],
  timeoutSeconds: 60,
  maxAttempts: 1,
  async handler({ inputs }) {
    ${handlerBody}
    return { counts: { users: 0 } };
  },
});
export type Inputs = Static<typeof schema>;
`;

// The compiler's verdict does not depend on the database: it runs in the embedded-database pass.
const EMBEDDED = !process.env.DATABASE_URL;
console.log(
  EMBEDDED
    ? 'defineOperationType compile checks (tsc): running in the embedded-database pass'
    : 'defineOperationType compile checks (tsc): not in this pass; they run in the embedded-database pass',
);

describe.runIf(EMBEDDED)('defineOperationType infers the handler inputs from the schema', () => {
  it('compiles a handler that uses its inputs as the schema says', { timeout: 480_000 }, async () => {
    const file = path.join(tmp, 'good.ts');
    fs.writeFileSync(
      file,
      program('const m: string = inputs.month; const n: number = inputs.limit; void m; void n;'),
    );
    const r = await tsc(file);
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
  });

  it('refuses one that reads a missing input or uses one as the wrong type', {
    timeout: 240_000,
  }, async () => {
    const file = path.join(tmp, 'bad.ts');
    fs.writeFileSync(file, program('const n: number = inputs.month; const x = inputs.year; void n; void x;'));
    const r = await tsc(file);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/error TS2322: Type 'string' is not assignable to type 'number'/);
    expect(r.output).toMatch(/error TS2339: Property 'year' does not exist/);
  });
});

describe('exports', () => {
  it('exports the errors and helpers the documentation names', () => {
    for (const name of [
      'RunCancelledError',
      'AttemptTimeoutError',
      'LeaseLostError',
      'WorkerShutdownError',
      'NotFoundError',
      'ValidationError',
      'ConflictError',
      'defineOperationType',
      'Type',
      'createOpsledger',
      'createTenant',
    ]) {
      expect(library, name).toHaveProperty(name);
    }
    expect(new library.RunCancelledError('x')).toBeInstanceOf(Error);
  });
});

describe('the in-process admin API', () => {
  const log: HandlerLog = { started: [], aborted: [] };
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiHarness({ definitions: [testTaskType(log)] });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('creates a tenant, a user, a membership and a token while the server runs; the token works', async () => {
    const { access } = h.ledger;
    const tenant = await access.createTenant('Provisioned');
    const user = await access.createUser({
      email: 'provisioned@example.test',
      password: 'a long enough passphrase',
      displayName: 'Provisioned',
    });
    expect(user).toMatchObject({ email: 'provisioned@example.test' });
    const member = await access.addMember(tenant.id, 'provisioned@example.test', 'operator');
    expect(member).toMatchObject({ userId: user.id, role: 'operator' });
    const token = await access.createToken('provisioned@example.test', 'automation');
    expect(token.secret).toMatch(/^olt_/);
    const res = await h.app.inject({
      url: `/api/v1/tenants/${tenant.id}/operations`,
      headers: { authorization: `Bearer ${token.secret}` },
    });
    expect(res.statusCode).toBe(200);
    // Bad input is refused with the ledger's typed errors, and nothing is created.
    await expect(access.createToken('nobody@example.test', 'x')).rejects.toBeInstanceOf(
      library.NotFoundError,
    );
    await expect(
      access.createUser({ email: 'weak@example.test', password: 'password' }),
    ).rejects.toBeInstanceOf(library.ValidationError);
    expect(await access.findUserByEmail('weak@example.test')).toBeNull();
  });
});
