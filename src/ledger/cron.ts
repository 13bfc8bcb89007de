import { CronExpressionParser } from 'cron-parser';
import { ValidationError } from '../shared/errors.ts';

/**
 * Cron expressions as schedules use them: five fields (minute hour day month weekday), or six with
 * a leading seconds field, or an alias such as `@daily`; evaluated in an IANA time zone, so a
 * nightly schedule stays at 02:00 local time across daylight-saving changes. The same parser
 * pg-boss uses for its own cron.
 */

function validZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** Throws ValidationError naming the field when the expression or the zone cannot be used. */
export function checkCron(cron: string, timezone: string): void {
  if (!validZone(timezone)) {
    throw new ValidationError(`"${timezone.slice(0, 64)}" is not a known time zone`, [
      { path: '/timezone', message: 'must be an IANA time zone such as Europe/Berlin or UTC' },
    ]);
  }
  const fields = cron.trim().split(/\s+/);
  if (!cron.trim().startsWith('@') && (fields.length < 5 || fields.length > 6)) {
    throw new ValidationError('a cron expression has five fields, or six with seconds first', [
      { path: '/cron', message: 'must have five or six fields' },
    ]);
  }
  try {
    CronExpressionParser.parse(cron, { tz: timezone, strict: false, currentDate: new Date() }).next();
  } catch (err) {
    throw new ValidationError(`the cron expression is not valid: ${(err as Error).message.slice(0, 120)}`, [
      { path: '/cron', message: 'is not a valid cron expression' },
    ]);
  }
}

/** The first firing strictly after `after`. */
export function nextFiring(cron: string, timezone: string, after: Date): Date {
  return CronExpressionParser.parse(cron, { tz: timezone, strict: false, currentDate: after })
    .next()
    .toDate();
}
