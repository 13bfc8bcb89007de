import { styleText } from 'node:util';
import { UsageError } from './command.ts';

/**
 * How results are printed: text from the server made safe for a terminal, `--json [fields]` and
 * `--template`, colour and relative times on a terminal and plain text in a pipe, as `gh` does.
 */

/**
 * Server text as inert characters: C0 and C1 controls (ESC starts every terminal escape sequence;
 * 0x9B is CSI on 8-bit terminals), DEL and the bidirectional overrides (which reorder what a
 * reader sees) are printed as their escapes (`\x1b`, `\u202e`), so a name or a failure message can
 * neither rewrite the terminal nor hide text. Newlines and tabs become `\n` and `\t`: one value
 * stays on its line of a table.
 */
export function safeText(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value ?? '');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly what is escaped
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}

/**
 * JSON for a terminal: JSON.stringify escapes C0 controls but not C1 controls or the bidirectional
 * overrides; those are escaped too (the JSON reads the same to a parser).
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** What the terminal gets: colour and relative times only on a terminal, unless NO_COLOR is set. */
export type Style = { tty: boolean; colour: boolean; now: number };

export function styleFor(interactive: boolean, env: Record<string, string | undefined> = process.env): Style {
  const tty = interactive || env.OPSLEDGER_FORCE_TTY === '1';
  const noColour = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
  return { tty, colour: tty && !noColour && env.TERM !== 'dumb', now: Date.now() };
}

type Colour = 'green' | 'red' | 'yellow' | 'cyan' | 'gray' | 'bold';

export function paint(style: Style, colour: Colour, text: string): string {
  return style.colour ? styleText(colour, text, { validateStream: false }) : text;
}

const STATUS_COLOURS: Record<string, Colour> = {
  succeeded: 'green',
  failed: 'red',
  partially_succeeded: 'yellow',
  cancelled: 'gray',
  running: 'cyan',
  queued: 'yellow',
  active: 'green',
  paused: 'gray',
};

export const paintStatus = (style: Style, status: string) =>
  paint(style, STATUS_COLOURS[status] ?? 'bold', safeText(status));

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

/** A time as a reader wants it: "3 minutes ago" on a terminal, UTC to the second in a pipe. */
export function timeText(style: Style, iso: string | null | undefined): string {
  if (!iso) return '';
  if (!style.tty) return `${iso.slice(0, 19).replace('T', ' ')}Z`;
  const seconds = Math.round((Date.parse(iso) - style.now) / 1000);
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'second') {
      return relative.format(Math.trunc(seconds / size), unit);
    }
  }
  return iso;
}

/** `--json` (every field) or `--json id,status`: the fields asked for, checked against `available`. */
export function jsonFields(json: unknown, available: readonly string[]): string[] | null {
  if (json === undefined || json === false) return null;
  if (json === true || json === '') return [...available];
  const fields = String(json)
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  const unknown = fields.filter((f) => !available.includes(f));
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown JSON field${unknown.length > 1 ? 's' : ''} ${unknown.map((f) => `"${safeText(f).slice(0, 40)}"`).join(', ')}; available fields: ${available.join(', ')}`,
    );
  }
  return fields;
}

const pick = (item: unknown, fields: string[]) =>
  Object.fromEntries(fields.map((f) => [f, (item as Record<string, unknown>)[f] ?? null]));

function lookup(item: unknown, path: string): unknown {
  let value: unknown = item;
  for (const key of path.split('.').filter(Boolean)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * `--template '{{.id}} {{.status}}'`: one line per item (or one for a single object), each
 * `{{.path}}` replaced by that field (`{{.initiator.kind}}` reaches into objects; objects print as
 * JSON). `\t` and `\n` in the template are a tab and a newline.
 */
export function renderTemplate(template: string, value: unknown): string[] {
  const items = Array.isArray(value) ? value : [value];
  const body = template.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return items.map((item) =>
    body.replace(/\{\{\s*\.([\w.]*)\s*\}\}/g, (_, path: string) => {
      const v = lookup(item, path);
      if (v === undefined || v === null) return '';
      return safeText(typeof v === 'object' ? JSON.stringify(v) : String(v));
    }),
  );
}

/** The options every command with structured output takes. */
export const OUTPUT_OPTIONS = {
  json: {
    type: 'string',
    optionalValue: true,
    value: 'FIELDS',
    description: 'Print JSON; with a comma-separated list, only those fields (e.g. --json id,status)',
  },
  template: {
    type: 'string',
    value: 'TEMPLATE',
    description: "Print each item through a template, e.g. '{{.id}}\\t{{.status}}'",
  },
} as const;

/**
 * Prints `value` as the output options ask (returns true), or returns false for the command's own
 * human format. `fields` lists what --json may select.
 */
export function printStructured(
  out: (line: string) => void,
  values: Record<string, unknown>,
  value: unknown,
  available: readonly string[],
): boolean {
  const fields = jsonFields(values.json, available);
  if (typeof values.template === 'string') {
    if (fields && values.json !== true) throw new UsageError('--template and --json FIELDS do not combine');
    for (const line of renderTemplate(values.template, value)) out(line);
    return true;
  }
  if (!fields) return false;
  const selected =
    values.json === true
      ? value
      : Array.isArray(value)
        ? value.map((v) => pick(v, fields))
        : pick(value, fields);
  out(safeJson(selected));
  return true;
}
