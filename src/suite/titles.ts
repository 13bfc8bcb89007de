import { POLICY_FAMILY_NAMES } from '../graph/families.ts';
import type { RunDescription } from '../ledger/catalog.ts';

// Each suite type's run title, from what the run row holds (inputs, links, counts): the list,
// the run page, the bell and the command line all show the same words.

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function scopeWords(scope: unknown): string {
  if (!Array.isArray(scope) || scope.length === 0 || scope.length >= POLICY_FAMILY_NAMES.length)
    return 'all families';
  return plural(scope.length, 'family', 'families');
}

export function describeInventorySync(run: RunDescription<{ scope?: string[] }>) {
  return { title: `Inventory sync — ${scopeWords(run.inputs.scope)}` };
}

export function describeBackupCreate(run: RunDescription<{ name?: string; scope?: string[] }>) {
  const name = typeof run.inputs.name === 'string' && run.inputs.name ? run.inputs.name : 'Backup';
  return { title: `Backup “${name}” — ${scopeWords(run.inputs.scope)}` };
}

export function describeDriftGenerate(run: RunDescription<{ baselineId?: string }>) {
  const name = run.links.baselineName;
  return { title: name ? `Drift generation against “${name}”` : 'Drift generation' };
}

export function describeRestore(run: RunDescription<{ dryRun?: boolean; items?: string[] }>) {
  const dry = run.inputs.dryRun === true;
  const of = run.links.backupName ? ` of “${run.links.backupName}”` : '';
  const items = Array.isArray(run.inputs.items)
    ? plural(run.inputs.items.length, 'item')
    : typeof run.counts.total === 'number' && run.counts.total > 0
      ? plural(run.counts.total, 'item')
      : 'all items';
  return {
    title: `${dry ? 'Restore (dry run)' : 'Restore'}${of} — ${items}`,
    ...(dry ? { tag: 'Dry run' } : {}),
  };
}
