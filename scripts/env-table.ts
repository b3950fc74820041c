/**
 * Writes the README's configuration table from CONFIG_SPEC (`npm run docs:env`; `--print` only
 * prints it), so the docs and the code cannot drift: test/docs.test.ts checks that the README's
 * table is exactly this one.
 */
import fs from 'node:fs';
import { CONFIG_SPEC } from '@visionbatch/shared/config';
import { configTable, replaceConfigTable } from './env-table-format.ts';

const table = configTable(CONFIG_SPEC);
if (process.argv.includes('--print')) {
  console.log(table);
} else {
  const readme = new URL('../README.md', import.meta.url);
  fs.writeFileSync(readme, replaceConfigTable(fs.readFileSync(readme, 'utf8'), table));
  console.log(`README.md: configuration table written (${CONFIG_SPEC.length} variables)`);
}
