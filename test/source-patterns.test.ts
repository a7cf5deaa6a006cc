// --source-include / --source-exclude (issue 16, item 2): Hugging Face allow/ignore pattern
// semantics (fnmatch, `*` crosses `/`), and fetch leaving the filtered files out of a local folder,
// hf:// (never requested from the Hub stand-in), and archives (entries never written).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EXIT } from '../src/errors.js';
import { patternList } from '../src/config/settings.js';
import { fnmatch, pathMatcher } from '../src/util/fnmatch.js';
import { runCli, tempDir } from '../dev/cli.js';
import { tar, zip } from './support/archives.js';
import { logLines, readTree } from './support/fetch-helpers.js';
import { serveHfRepo, startHttpServer, type TestHttpServer } from './support/http-server.js';
import { useStandin } from './support/model-registry.js';
import { buildMinimalBase } from '../dev/minimal-base.js';

const mr = useStandin();

test('fnmatch as Python: * crosses /, ?, [...] and [!...]; the whole path must match', () => {
  assert.ok(fnmatch('a/b.bin', '*.bin'), '* crosses /');
  assert.ok(fnmatch('b.bin', '*.bin'));
  assert.ok(!fnmatch('a/b.bin.txt', '*.bin'), 'anchored at the end');
  assert.ok(fnmatch('ab/c', 'a*'));
  assert.ok(fnmatch('model-1.bin', 'model-?.bin'));
  assert.ok(!fnmatch('model-10.bin', 'model-?.bin'));
  assert.ok(fnmatch('a/b', 'a?b'), '? crosses / too');
  assert.ok(fnmatch('part-2.bin', 'part-[0-3].bin'));
  assert.ok(!fnmatch('part-7.bin', 'part-[0-3].bin'));
  assert.ok(fnmatch('part-7.bin', 'part-[!0-3].bin'));
  assert.ok(fnmatch('x]', 'x[]]'), '] first in a class is literal');
  assert.ok(fnmatch('a[b', 'a[b'), 'an unclosed [ is literal');
  assert.ok(fnmatch('a.b', 'a.b') && !fnmatch('axb', 'a.b'), '. is literal');
  assert.ok(fnmatch('{a,b}', '{a,b}') && !fnmatch('a', '{a,b}'), 'braces are literal, as in fnmatch');
  assert.ok(!fnmatch('A.BIN', '*.bin'), 'case-sensitive, as fnmatch on POSIX');
});

test('include / exclude as filter_repo_objects: some include (or none), no exclude; a trailing / is its folder', () => {
  const keep = pathMatcher({ include: ['*.safetensors', '*.json'], exclude: ['original/'] });
  assert.ok(keep('config.json'));
  assert.ok(keep('weights/model.safetensors'));
  assert.ok(!keep('weights/model.bin'), 'no include matches');
  assert.ok(!keep('original/consolidated.safetensors'), 'excluded by the folder pattern');
  assert.ok(keep('not-original/x.json'), 'a folder pattern matches from the start of the path');
  const all = pathMatcher({ include: [], exclude: ['*.bin'] });
  assert.ok(all('README.md') && !all('deep/a.bin'));
});

test('several patterns: a JSON list or one per line (commas belong to the pattern); a bad list names the setting', () => {
  assert.deepEqual(patternList('["*.json", "*.{a,b}"]', 'X'), ['*.json', '*.{a,b}']);
  assert.deepEqual(patternList('*.json\n  weights/*.{a,b}\n\n', 'X'), ['*.json', 'weights/*.{a,b}']);
  assert.deepEqual(patternList('   ', 'X'), []);
  assert.throws(() => patternList('["*.json",', '--source-include / MODEL_SYNC_SOURCE_INCLUDE'), /--source-include \/ MODEL_SYNC_SOURCE_INCLUDE: not a valid JSON list/);
  assert.throws(() => patternList('[1]', 'S'), /S: a JSON list must hold strings only/);
});

let root: string;
let web: TestHttpServer;
const weights = randomBytes(120_000);

before(async () => {
  root = await tempDir('ms-patterns-');
  await mkdir(path.join(root, 'folder/weights'), { recursive: true });
  await mkdir(path.join(root, 'folder/original'), { recursive: true });
  await writeFile(path.join(root, 'folder/config.json'), '{"a":1}');
  await writeFile(path.join(root, 'folder/weights/model.safetensors'), weights);
  await writeFile(path.join(root, 'folder/weights/model.bin'), 'pytorch weights');
  await writeFile(path.join(root, 'folder/original/consolidated.safetensors'), 'original');

  web = await startHttpServer();
  serveHfRepo(web, 'acme/patterns', 'main', [
    { path: 'config.json', body: Buffer.from('{"model_type":"tiny"}') },
    { path: 'model.safetensors', body: weights, lfs: true },
    { path: 'pytorch_model.bin', body: randomBytes(5000), lfs: true },
    { path: 'onnx/model.onnx', body: randomBytes(3000), lfs: true },
  ]);
  web.routes.set('/model.tar', {
    body: tar([
      { name: 'model/', type: '5' },
      { name: 'model/config.json', body: '{"x":1}' },
      { name: 'model/weights.bin', body: randomBytes(4000) },
      { name: 'model/weights.safetensors', body: weights },
    ]),
    contentType: 'application/x-tar',
  });
  web.routes.set('/weights.bin', { body: 'one file' });
  web.routes.set('/model.zip', {
    body: zip([
      { name: 'config.json', body: Buffer.from('{"x":2}') },
      { name: 'sub/weights.bin', body: randomBytes(3000) },
    ]),
    contentType: 'application/zip',
  });
});

after(async () => {
  await web?.stop();
  await rm(root, { recursive: true, force: true });
});

async function storage(): Promise<string> {
  return path.join(await tempDir('ms-patterns-ws-'), 'ws');
}

const uriEnv = (ws: string, uri: string, extra: Record<string, string> = {}) => ({
  MODEL_SYNC_STORAGE_PATH: ws,
  MODEL_SYNC_SOURCE_TYPE: 'uri',
  MODEL_SYNC_SOURCE_URI: uri,
  HF_ENDPOINT: web.url,
  ...extra,
});

interface FilteredInventory {
  files: Array<{ path: string }>;
  filtered?: { skipped: number; first: string[] };
}

async function inventory(ws: string): Promise<FilteredInventory> {
  return JSON.parse(await readFile(path.join(ws, '.model-sync/inventory.json'), 'utf8')) as FilteredInventory;
}

test('a local folder: only the included files that no exclude matches are copied; the inventory counts the rest', async () => {
  const ws = await storage();
  const r = await runCli(['fetch'], uriEnv(ws, path.join(root, 'folder'), {
    MODEL_SYNC_SOURCE_INCLUDE: '*.safetensors\n*.json',
    MODEL_SYNC_SOURCE_EXCLUDE: '["original/"]',
  }));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([...(await readTree(path.join(ws, 'model'))).keys()].sort(), ['config.json', 'weights/model.safetensors']);
  const inv = await inventory(ws);
  assert.deepEqual(inv.files.map((f) => f.path), ['config.json', 'weights/model.safetensors']);
  assert.deepEqual(inv.filtered, { skipped: 2, first: ['original/consolidated.safetensors', 'weights/model.bin'] });
  const line = logLines(r.stderr).find((l) => typeof l.msg === 'string' && l.msg.includes('by the include / exclude patterns'));
  assert.equal(line?.skipped, 2);
});

test('hf:// with an exclude pattern: the excluded files are never requested from the Hub', async () => {
  const ws = await storage();
  web.requests.length = 0;
  const r = await runCli(['fetch'], uriEnv(ws, 'hf://acme/patterns', { MODEL_SYNC_SOURCE_EXCLUDE: '["*.bin", "onnx/"]' }));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([...(await readTree(path.join(ws, 'model'))).keys()].sort(), ['config.json', 'model.safetensors']);
  const downloads = web.requests.filter((q) => q.path.includes('/resolve/')).map((q) => q.path.split('/').slice(5).join('/')).sort();
  assert.deepEqual(downloads, ['config.json', 'model.safetensors'], 'only the kept files were asked for');
  assert.ok(!web.requests.some((q) => q.path.endsWith('pytorch_model.bin') || q.path.endsWith('model.onnx')));
  assert.equal((await inventory(ws)).filtered?.skipped, 2);
});

test('all with hf:// and an exclude pattern: the excluded files are never requested, and the modelcar is registered through the stand-in', async () => {
  const ws = await storage();
  const base = (await buildMinimalBase(await mr.dir('ms-patterns-base-'))).reference;
  const out = await mr.dir('ms-patterns-out-');
  const metadata = await mr.meta({ 'RegisteredModel.name': 'patterns', 'ModelVersion.name': 'v1', 'ModelArtifact.name': 'patterns' });
  web.requests.length = 0;
  const r = await runCli(['all'], mr.env(ws, metadata, 'create_model', {
    // config.json is the repository's first file, which preflight would otherwise HEAD.
    ...uriEnv(ws, 'hf://acme/patterns', { MODEL_SYNC_SOURCE_EXCLUDE: '["*.bin", "onnx/", "config.json"]' }),
    MODEL_SYNC_DESTINATION_TYPE: 'oci',
    MODEL_SYNC_DESTINATION_OCI_URI: `oci:${out}:v1`,
    MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: base,
  }));
  assert.equal(r.code, 0, r.stderr);
  // Neither preflight's probe (a HEAD) nor fetch asks for a left-out file.
  const asked = web.requests.filter((q) => q.path.includes('/resolve/')).map((q) => `${q.method} ${q.path.split('/').slice(5).join('/')}`);
  assert.deepEqual([...new Set(asked)].sort(), ['GET model.safetensors', 'HEAD model.safetensors'], 'only the kept file was asked for');
  const pushed = JSON.parse(await readFile(path.join(ws, '.model-sync/push.json'), 'utf8')) as { uri: string };
  const found = (await mr.client.findRegisteredModel('patterns'))!;
  const version = (await mr.client.listRegisteredModelVersions(found.id))[0]!;
  const artifact = await mr.artifactOf(version.id);
  assert.equal(artifact.uri, pushed.uri);
  assert.equal(artifact.state, 'LIVE');
});

test('a tar and a zip archive: excluded entries are never written', async () => {
  const ws = await storage();
  const r = await runCli(['fetch'], uriEnv(ws, `${web.url}/model.tar`, { MODEL_SYNC_SOURCE_EXCLUDE: '*.bin' }));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([...(await readTree(path.join(ws, 'model'))).keys()].sort(), ['model/config.json', 'model/weights.safetensors']);
  assert.deepEqual((await inventory(ws)).filtered, { skipped: 1, first: ['model/weights.bin'] });

  const wz = await storage();
  const z = await runCli(['fetch'], uriEnv(wz, `${web.url}/model.zip`, { MODEL_SYNC_SOURCE_INCLUDE: '["*.json"]' }));
  assert.equal(z.code, 0, z.stderr);
  assert.deepEqual([...(await readTree(path.join(wz, 'model'))).keys()], ['config.json']);
  assert.equal((await inventory(wz)).filtered?.skipped, 1);
});

test('a malformed JSON list is a configuration error naming the setting (exit 2)', async () => {
  const ws = await storage();
  const r = await runCli(['fetch'], uriEnv(ws, path.join(root, 'folder'), { MODEL_SYNC_SOURCE_INCLUDE: '["*.json", ' }));
  assert.equal(r.code, EXIT.config, r.stderr);
  assert.match(r.termination, /--source-include \/ MODEL_SYNC_SOURCE_INCLUDE: not a valid JSON list/);
});

test('patterns that leave nothing are a precondition error naming both settings (exit 3), before any download', async () => {
  const ws = await storage();
  const r = await runCli(['fetch'], uriEnv(ws, path.join(root, 'folder'), { MODEL_SYNC_SOURCE_INCLUDE: '*.gguf' }));
  assert.equal(r.code, EXIT.precondition, r.stderr);
  assert.match(r.termination, /--source-include \/ MODEL_SYNC_SOURCE_INCLUDE/);
  assert.match(r.termination, /--source-exclude \/ MODEL_SYNC_SOURCE_EXCLUDE/);

  web.requests.length = 0;
  const hf = await runCli(['fetch'], uriEnv(await storage(), 'hf://acme/patterns', { MODEL_SYNC_SOURCE_EXCLUDE: '*' }));
  assert.equal(hf.code, EXIT.precondition, hf.stderr);
  assert.ok(!web.requests.some((q) => q.path.includes('/resolve/')), 'nothing was downloaded');

  const archive = await runCli(['fetch'], uriEnv(await storage(), `${web.url}/model.tar`, { MODEL_SYNC_SOURCE_INCLUDE: '*.gguf' }));
  assert.equal(archive.code, EXIT.precondition, archive.stderr);

  const wf = await storage();
  const file = await runCli(['fetch'], uriEnv(wf, `${web.url}/weights.bin`, { MODEL_SYNC_SOURCE_EXCLUDE: '*.bin' }));
  assert.equal(file.code, EXIT.precondition, file.stderr);
  assert.deepEqual([...(await readTree(path.join(wf, 'model'))).keys()], [], 'the one file is not written');
});
