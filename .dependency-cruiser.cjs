/**
 * The architecture's dependency rules, checked by `npm test` (npm run deps).
 * Data flows one way: cli/http → services → repositories → db; only src/main constructs and wires.
 */
/** A folder that may import only the folders listed (its own included). */
const only = (name, comment, folder, allowed, extraAllowed = []) => ({
  name,
  comment,
  severity: 'error',
  from: { path: `^src/${folder}/` },
  to: { path: '^src/', pathNot: [`^src/(${[folder, ...allowed].join('|')})/`, ...extraAllowed] },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles at all, type-only ones included.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    only(
      'shared-is-a-leaf',
      'shared/ holds utilities every layer may use; it imports nothing of ours.',
      'shared',
      [],
    ),
    only(
      'db-knows-only-table-types',
      'db/ is the connection and migrator; it sees the domains only as the table types that make up the Kysely schema.',
      'db',
      ['shared'],
      ['^src/(ledger|access|suite|alerts)/tables[.]ts$', '^src/suite/restore/tables[.]ts$'],
    ),
    only(
      'ledger-below-everything',
      'The ledger imports only shared/ and db/: queue, suite and HTTP plug into its ports.',
      'ledger',
      ['shared', 'db'],
    ),
    only(
      'access-stands-alone',
      'Users, tenants, memberships and credentials need only db/ and shared/.',
      'access',
      ['shared', 'db'],
    ),
    only(
      'graph-stands-alone',
      'The Graph client, simulator and connections need only db/ and shared/.',
      'graph',
      ['shared', 'db'],
    ),
    only(
      'alerts-serve-the-ledger',
      'Alerts read runs of the ledger and reuse the secret box; they know no worker, suite, HTTP or CLI.',
      'alerts',
      ['ledger', 'shared', 'db'],
      ['^src/graph/secret-box[.]ts$'],
    ),
    only(
      'worker-serves-the-ledger',
      'The worker adapts pg-boss to the ledger; it knows no suite, access, HTTP or CLI.',
      'worker',
      ['ledger', 'shared', 'db'],
    ),
    {
      name: 'suite-is-operation-types',
      comment: 'The suite registers operation types on the ledger; it never reaches the worker, HTTP or CLI.',
      severity: 'error',
      from: { path: '^src/suite/' },
      to: { path: '^src/(worker|http|cli|main)/' },
    },
    {
      name: 'http-never-constructs',
      comment:
        'HTTP receives services from main; it imports their types, never db/, worker/ or main/ values.',
      severity: 'error',
      from: { path: '^src/http/' },
      to: { path: '^src/(db|worker|main|cli)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'cli-never-constructs',
      comment: 'Commands parse arguments and call what main builds; they construct nothing themselves.',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/', pathNot: '^src/(cli|main|shared)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'web-reaches-the-server-only-through-the-api',
      comment:
        'The UI talks to the server over API v1 alone; of the server code it shares only the vocabulary (one source of labels and tones).',
      severity: 'error',
      from: { path: '^web/src/' },
      to: { path: '^src/', pathNot: '^src/ledger/(vocabulary|tables)[.]ts$' },
    },
    {
      name: 'pages-never-import-the-route-tree',
      comment:
        'Pages reach their route through getRouteApi; the route tree imports them (lazily), never the other way round.',
      severity: 'error',
      from: { path: '^web/src/(pages|components|api)/' },
      to: { path: '^web/src/(router|main)[.]tsx$' },
    },
    {
      name: 'only-cli-reaches-main',
      comment: 'main wires everything; nothing but the command line (and tests) depends on it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(main|cli)/' },
      to: { path: '^src/main/', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js'] },
  },
};
