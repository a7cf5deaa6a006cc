// The README's "Differences from the upstream job" table stays usable: every row is marked with one
// of the four words, and its test words select test files (as `npm test -- <words>` does).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../dev/cli.js';

const MARKS = ['as upstream', 'stricter', 'more lenient', 'fixed'];

function differenceRows(): string[][] {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.split('\n## Differences from the upstream job\n')[1]?.split('\n## ')[0] ?? '';
  return section
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[-| ]+\|$/.test(line))
    .slice(1) // the header
    .map((line) => line.slice(1, -1).split(' | ').map((cell) => cell.trim()));
}

test('every difference from upstream is marked and names tests that exist', () => {
  const rows = differenceRows();
  assert.ok(rows.length >= 20, `the table has its rows (found ${rows.length})`);
  const testFiles = readdirSync(path.join(REPO_ROOT, 'test')).filter((f) => f.endsWith('.test.ts'));
  for (const row of rows) {
    assert.equal(row.length, 5, `five columns: ${row.join(' | ')}`);
    const [topic, , , mark, words] = row as [string, string, string, string, string];
    assert.ok(MARKS.includes(mark), `${topic}: mark "${mark}" is one of ${MARKS.join(', ')}`);
    const selected = words.split(/\s+/).filter(Boolean);
    assert.ok(selected.length > 0, `${topic}: names the tests that show it`);
    for (const word of selected) assert.ok(testFiles.some((f) => f.includes(word)), `${topic}: "${word}" selects no test file`);
  }
});
