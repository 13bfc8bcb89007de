import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

/**
 * Schedules on a real ledger (database, queue, worker) behind the HTTP API: firing, completing,
 * pausing, deduplication against the previous run, missed firings and validation.
 */
const log: HandlerLog = { started: [], aborted: [] };
let h: ApiHarness;
let tenant: string;
let operator: TestUser;
let viewer: TestUser;

const url = () => `/api/v1/tenants/${tenant}/schedules`;

type RunBody = {
  id: string;
  status: string;
  outcome: string;
  initiator: { kind: string; name: string; userId: string | null };
  context: { links?: Record<string, string> };
};

async function create(body: Record<string, unknown>, user = operator) {
  return h.app.inject({ method: 'POST', url: url(), headers: h.bearer(user), payload: body });
}

async function runsOf(scheduleId: string): Promise<RunBody[]> {
  const res = await h.app.inject({
    url: `/api/v1/tenants/${tenant}/operations?initiator=schedule&limit=100`,
    headers: h.bearer(viewer),
  });
  return (res.json().data as RunBody[]).filter((r) => r.context.links?.schedule === scheduleId);
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType(log, { maxAttempts: 1 })] });
  tenant = await h.ledger.createTenant('Scheduled');
  operator = await h.user('operator', { [tenant]: 'operator' });
  viewer = await h.user('viewer', { [tenant]: 'viewer' });
});
afterAll(async () => {
  await h?.stop();
});

describe('schedules', () => {
  it('fires every few seconds, its runs complete as initiated by the schedule, and pausing stops it', async () => {
    const res = await create({
      name: 'every two seconds',
      type: 'test.task',
      inputs: { key: 'tick' },
      cron: '*/2 * * * * *',
    });
    expect(res.statusCode, res.body).toBe(201);
    const schedule = res.json();
    expect(schedule).toMatchObject({ status: 'active', timezone: 'UTC', missed: 'once' });
    expect(new Date(schedule.nextFireAt).getTime()).toBeGreaterThan(Date.now() - 1000);
    const done = await until('three completed scheduled runs', async () => {
      const runs = (await runsOf(schedule.id)).filter((r) => r.status === 'completed');
      return runs.length >= 3 ? runs : null;
    });
    for (const run of done) {
      expect(run.outcome).toBe('succeeded');
      expect(run.initiator).toEqual({ kind: 'schedule', name: 'every two seconds', userId: null });
    }
    // Each firing started its own run.
    const firings = done.map((r) => r.context.links?.scheduledFor);
    expect(new Set(firings).size).toBe(firings.length);

    const paused = await h.app.inject({
      method: 'POST',
      url: `${url()}/${schedule.id}/pause`,
      headers: h.bearer(operator),
    });
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({ status: 'paused', nextFireAt: null });
    const atPause = (await runsOf(schedule.id)).length;
    // Three firing intervals pass with the schedule paused: no run is added.
    await new Promise((r) => setTimeout(r, 6500));
    expect((await runsOf(schedule.id)).length).toBe(atPause);

    const resumed = await h.app.inject({
      method: 'POST',
      url: `${url()}/${schedule.id}/resume`,
      headers: h.bearer(operator),
    });
    expect(resumed.json()).toMatchObject({ status: 'active' });
    await until('a run after resuming', async () => (await runsOf(schedule.id)).length > atPause);
    const gone = await h.app.inject({
      method: 'DELETE',
      url: `${url()}/${schedule.id}`,
      headers: h.bearer(operator),
    });
    expect(gone.statusCode).toBe(204);
    const again = await h.app.inject({ url: `${url()}/${schedule.id}`, headers: h.bearer(viewer) });
    expect(again.statusCode).toBe(404);
  });

  it('a firing while the previous run is still active gets that run, not a second one', async () => {
    const res = await create({
      name: 'long runner',
      type: 'test.task',
      inputs: { key: 'long', waitForAbort: true },
      cron: '*/2 * * * * *',
    });
    const schedule = res.json();
    const first = await until('the first firing', async () => (await runsOf(schedule.id))[0]);
    const firedAt = async () =>
      (await h.app.inject({ url: `${url()}/${schedule.id}`, headers: h.bearer(viewer) })).json();
    const firstFiring = (await firedAt()).lastFiredAt as string;
    // Two more firings happen while the run waits.
    const later = await until('two later firings', async () => {
      const s = await firedAt();
      return new Date(s.lastFiredAt).getTime() >= new Date(firstFiring).getTime() + 3000 ? s : null;
    });
    expect(later.lastRunId).toBe(first.id);
    expect(await runsOf(schedule.id)).toHaveLength(1);
    await h.app.inject({ method: 'POST', url: `${url()}/${schedule.id}/pause`, headers: h.bearer(operator) });
    await h.ledger.service.cancel(tenant, first.id);
  });

  it('firings missed while nothing ran: "once" starts one run for all of them, "skip" none', async () => {
    const once = (
      await create({ name: 'hourly once', type: 'test.task', inputs: { key: 'm1' }, cron: '0 * * * *' })
    ).json();
    const skip = (
      await create({
        name: 'hourly skip',
        type: 'test.task',
        inputs: { key: 'm2' },
        cron: '0 * * * *',
        missed: 'skip',
      })
    ).json();
    // As if every process had been down for two days: 48 firings of each were missed.
    await h.ledger.database.systemTx((trx) =>
      sql`update schedules set next_fire_at = now() - interval '2 days' where id in (${once.id}, ${skip.id})`.execute(
        trx,
      ),
    );
    await until('the missed firings handled', async () => {
      const rows = await h.ledger.database.db
        .selectFrom('schedules')
        .select(['id', 'next_fire_at'])
        .where('id', 'in', [once.id, skip.id])
        .execute();
      return rows.every((r) => r.next_fire_at && new Date(r.next_fire_at).getTime() > Date.now());
    });
    // Whatever else looks again now finds nothing due.
    await h.ledger.schedules.fireDue();
    expect(await runsOf(once.id)).toHaveLength(1);
    expect(await runsOf(skip.id)).toHaveLength(0);
    for (const s of [once, skip]) {
      await h.app.inject({ method: 'DELETE', url: `${url()}/${s.id}`, headers: h.bearer(operator) });
    }
  });

  it("evaluates the cron expression in the schedule's time zone", async () => {
    const kept = (
      await create({
        name: 'nightly',
        type: 'test.task',
        inputs: { key: 'n' },
        cron: '0 2 * * *',
        timezone: 'Europe/Berlin',
      })
    ).json();
    // 02:00 in Berlin is 00:00 or 01:00 UTC, depending on daylight saving.
    expect([0, 1]).toContain(new Date(kept.nextFireAt).getUTCHours());
    const list = await h.app.inject({ url: url(), headers: h.bearer(viewer) });
    expect(list.json().data.map((s: { name: string }) => s.name)).toContain('nightly');
  });

  it('refuses bad schedules with problem details, and viewers may only read', async () => {
    const bad = [
      [{ name: 'x', type: 'test.task', inputs: { key: 'a' }, cron: 'every day' }, 400, '/cron'],
      [{ name: 'x', type: 'test.task', inputs: { key: 'a' }, cron: '61 * * * *' }, 400, '/cron'],
      [
        { name: 'x', type: 'test.task', inputs: { key: 'a' }, cron: '0 2 * * *', timezone: 'Mars/Olympus' },
        400,
        '/timezone',
      ],
      [{ name: 'x', type: 'no.such', inputs: {}, cron: '0 2 * * *' }, 400, '/type'],
      [{ name: 'x', type: 'test.task', inputs: { nope: 1 }, cron: '0 2 * * *' }, 400, null],
      [{ name: 'nightly', type: 'test.task', inputs: { key: 'a' }, cron: '0 3 * * *' }, 409, null],
    ] as const;
    for (const [body, status, path] of bad) {
      const res = await create(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      if (path) expect(res.json().errors.map((e: { path: string }) => e.path)).toContain(path);
    }
    const denied = await create(
      { name: 'v', type: 'test.task', inputs: { key: 'v' }, cron: '0 2 * * *' },
      viewer,
    );
    expect(denied.statusCode).toBe(403);
    const list = await h.app.inject({ url: url(), headers: h.bearer(viewer) });
    expect(list.statusCode).toBe(200);
    const id = list.json().data[0].id;
    for (const action of ['pause', 'resume']) {
      const res = await h.app.inject({
        method: 'POST',
        url: `${url()}/${id}/${action}`,
        headers: h.bearer(viewer),
      });
      expect(res.statusCode).toBe(403);
    }
    const del = await h.app.inject({ method: 'DELETE', url: `${url()}/${id}`, headers: h.bearer(viewer) });
    expect(del.statusCode).toBe(403);
  });
});
