// Regenerates everything derived from steps/: the README tables (and, through the modules it
// imports, the templates). `npm run generate`; the tests fail when a derived file is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { replaceSections } from './lib/readme.js';

const readme = readFileSync('README.md', 'utf8');
const updated = replaceSections(readme);
if (updated !== readme) {
  writeFileSync('README.md', updated);
  console.log('README.md updated');
}
