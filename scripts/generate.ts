// Regenerates everything derived from steps/: the README tables and the Argo/Tekton templates and
// samples (scripts/lib/templates). `npm run generate`; the tests fail when a derived file is stale.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { replaceSections } from './lib/readme.js';
import { generateTemplates } from './lib/templates/index.js';

const readme = readFileSync('README.md', 'utf8');
const updated = replaceSections(readme);
if (updated !== readme) {
  writeFileSync('README.md', updated);
  console.log('README.md updated');
}

for (const [file, content] of Object.entries(generateTemplates())) {
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === content) continue;
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  console.log(`${file} ${current === undefined ? 'created' : 'updated'}`);
}
