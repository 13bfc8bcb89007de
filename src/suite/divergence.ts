/** One way a domain or legacy row and the ledger disagree, as `verify` reports it. */
export type Divergence = {
  table: string;
  tenantId: string;
  /** The row of the domain or legacy table (null when it is the row that is missing). */
  legacyId: string | null;
  runId: string | null;
  problem: string;
};

export function describeDivergence(d: Divergence): string {
  const what = d.legacyId ? `${d.table} row ${d.legacyId}` : `${d.table} row of run ${d.runId}`;
  const run = d.legacyId && d.runId ? ` (run ${d.runId})` : '';
  return `${what}${run}, tenant ${d.tenantId}: ${d.problem}`;
}
