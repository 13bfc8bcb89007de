import fs from 'node:fs';
import { expect, it } from 'vitest';
import { apiTypes, SCHEMA_FILE } from '../scripts/api-types.ts';

it('the UI’s API types (web/src/api/schema.d.ts) are those of the server’s OpenAPI document', async () => {
  const committed = fs.readFileSync(SCHEMA_FILE, 'utf8');
  // On a difference: `npm run api:types`, then commit the file with the route change.
  expect(await apiTypes()).toBe(committed);
});
