/**
 * Prints the README's configuration table from CONFIG_SPEC (`npm run docs:env`), so the docs and
 * the code cannot drift: test/docs.test.ts checks that every variable is in the README.
 */
import { CONFIG_SPEC } from '@visionbatch/shared/config';

const rows = CONFIG_SPEC.map(
  (e) => `| \`${e.name}\` | \`${e.default || '(empty)'}\` | ${e.usedBy} | ${e.doc} |`,
);
console.log(['| variable | default | read by | meaning |', '|---|---|---|---|', ...rows].join('\n'));
