// The layering docs/architecture.md describes, checked on the source: imports only point down,
// there are no import cycles, only config/ reads the environment and parameter names, and the
// development stand-ins stay out of the package.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../dev/cli.js';

const SRC = path.join(REPO_ROOT, 'src');

/** Rank of each top-level part of src/: a module may import its own part or parts of a lower rank. */
const RANK: Record<string, number> = {
  'errors.ts': 0,
  'log.ts': 0,
  'termination.ts': 0,
  contract: 0,
  util: 0,
  net: 1,
  workspace: 1,
  oci: 2,
  s3: 2,
  'model-registry': 2,
  sources: 3,
  destinations: 3,
  config: 4,
  steps: 5,
  'cli.ts': 6,
};
/** Parts of rank 0 form one base layer and may use each other. */
const SHARED_RANK = 0;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : name.endsWith('.ts') ? [p] : [];
  });
}

function partOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0]!;
}

/** Relative imports (static, re-exports and dynamic) of a file, as absolute .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => m[1]!);
  return specs.map((s) => path.resolve(path.dirname(file), s).replace(/\.js$/, '.ts'));
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

test('every part of src/ has a rank (a new folder must be placed in the layering)', () => {
  const unknown = [...new Set(files.map(partOf))].filter((p) => RANK[p] === undefined);
  assert.deepEqual(unknown, []);
});

test('imports point down the layers: no module imports a higher layer or a sibling part of its own rank', () => {
  const wrong: string[] = [];
  for (const [file, deps] of graph) {
    const from = partOf(file);
    for (const dep of deps) {
      const to = partOf(dep);
      if (to === from) continue;
      const ok = RANK[to]! < RANK[from]! || (RANK[to] === SHARED_RANK && RANK[from] === SHARED_RANK);
      if (!ok) wrong.push(`${path.relative(SRC, file)} -> ${path.relative(SRC, dep)}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('there are no import cycles', () => {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, trail: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'visiting') {
      cycles.push([...trail.slice(trail.indexOf(file)), file].map((f) => path.relative(SRC, f)).join(' -> '));
      return;
    }
    state.set(file, 'visiting');
    for (const dep of graph.get(file) ?? []) visit(dep, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of files) visit(file, []);
  assert.deepEqual(cycles, []);
});

test('only config/ reads the environment and parameters by name', () => {
  const readers: string[] = [];
  for (const file of files) {
    if (partOf(file) === 'config') continue;
    const text = readFileSync(file, 'utf8');
    if (/process\.env\b/.test(text)) readers.push(`${path.relative(SRC, file)}: process.env`);
    const byName = text.match(/\bconfig\.(?:string|integer|boolean|required|has|describe|value)\(\s*['"`][a-z-]+/g);
    if (byName) readers.push(`${path.relative(SRC, file)}: ${byName.join(', ')}`);
  }
  assert.deepEqual(readers, []);
});

test('stand-ins, test bases and tests are neither compiled into dist/ nor packed', () => {
  const tsconfig = JSON.parse(readFileSync(path.join(REPO_ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
  assert.deepEqual(tsconfig.include, ['src/**/*.ts']);
  const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, encoding: 'utf8' })) as Array<{
    files: Array<{ path: string }>;
  }>;
  const paths = packed[0]!.files.map((f) => f.path);
  assert.ok(paths.includes('dist/src/cli.js'), 'the package holds the CLI (run npm run build first)');
  assert.deepEqual(paths.filter((p) => /^(dist\/)?(src\/)?(dev|test|bench|scripts)\//.test(p)), []);
});
