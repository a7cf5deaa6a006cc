// Scale-out to an S3 destination (issue 15 item 5, steps/parts-s3.ts) on a real RGW, through the
// CLI: plan, then push --part I/N as parallel processes with a workspace each, then assemble. The
// parts are plain copies of their files; the plan and part records sit beside the prefix, never
// under it as KServe lists it (Prefix=<prefix>, no trailing slash), and assemble removes them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { runCli, runCliSignalled, tempDir, type CliResult } from '../dev/cli.js';
import type { Rgw } from '../dev/rgw.js';
import { PART_RECORDS_FOLDER } from '../src/destinations/s3-part-records.js';
import { decodePartPlan } from '../src/oci/part-plan.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { logLines } from './support/fetch-helpers.js';
import { rgwSourceEnv, useRgw } from './support/rgw.js';

const MiB = 1024 * 1024;
const rgw = useRgw();

/** A file above the 16 MiB upload part (multipart), an empty one, nested paths, small ones. */
const model: Record<string, Buffer> = {
  'config.json': Buffer.from('{"architectures":["Tiny"]}'),
  'empty.txt': Buffer.alloc(0),
  'tokenizer/tokenizer.json': randomBytes(300 * 1024),
  'tokenizer/vocab.txt': randomBytes(4096),
  'weights/model-00001-of-00003.safetensors': randomBytes(17 * MiB + 7),
  'weights/model-00002-of-00003.safetensors': randomBytes(6 * MiB + 1),
  'weights/model-00003-of-00003.safetensors': randomBytes(5 * MiB),
};

let s3: Rgw;
let dir: string;

before(async () => {
  s3 = await rgw.ready;
  dir = await tempDir('ms-scale-s3-');
  for (const [name, body] of Object.entries(model)) await s3.put(`src/granite/${name}`, body);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function destination(key: string): Record<string, string> {
  return {
    MODEL_SYNC_DESTINATION_TYPE: 's3',
    MODEL_SYNC_DESTINATION_AWS_BUCKET: s3.bucket,
    MODEL_SYNC_DESTINATION_AWS_KEY: key,
    MODEL_SYNC_DESTINATION_AWS_ENDPOINT: s3.endpoint,
    MODEL_SYNC_DESTINATION_AWS_ACCESS_KEY_ID: s3.accessKey,
    MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: s3.secretKey,
  };
}

let workspaces = 0;
async function run(args: string[], env: Record<string, string>): Promise<CliResult & { ws: string }> {
  const ws = env.MODEL_SYNC_STORAGE_PATH ?? path.join(dir, `ws-${++workspaces}`);
  const r = await runCli(args, { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_RETRY_ATTEMPTS: '2', ...env }, { timeoutMs: 180_000 });
  return { ...r, ws };
}

const plan = (sourceKey: string, key: string, parts: number) => run(['plan'], { ...rgwSourceEnv(s3, sourceKey), ...destination(key), MODEL_SYNC_PARTS: String(parts) });
const pushPart = (sourceKey: string, key: string, part: string, extra: Record<string, string> = {}) =>
  run(['push', '--part', part], { ...rgwSourceEnv(s3, sourceKey), ...destination(key), ...extra });
const assemble = (key: string) => run(['assemble'], destination(key));

function results(r: CliResult): Record<string, string> {
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, string>;
}

/** Keys as KServe's storage initializer lists the model: Prefix=<prefix>, no trailing slash. */
async function keysAsKserveLists(prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of page.Contents ?? []) out.push(o.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out.sort();
}

/** The records folder of `prefix` (`<parent>/.model-sync-parts/<name>/`). */
function recordsOf(prefix: string): string {
  const cut = prefix.lastIndexOf('/');
  return `${prefix.slice(0, cut + 1)}${PART_RECORDS_FOLDER}/${prefix.slice(cut + 1)}/`;
}

async function objectBytes(key: string): Promise<Buffer> {
  const got = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

const modelKeys = (prefix: string) => Object.keys(model).map((name) => `${prefix}/${name}`).sort();
const lineWith = (stderr: string, text: string) => logLines(stderr).find((l) => typeof l.msg === 'string' && l.msg.includes(text));

describe('scale-out to an S3 destination', () => {
  it('plan, 3 parallel push --part, assemble: exactly the source files, byte-identical; nothing but the model under the prefix; no records left', async () => {
    const prefix = 'out/granite';
    const planned = await plan('src/granite', prefix, 3);
    assert.equal(planned.code, 0, planned.stderr);
    assert.equal(results(planned).parts, '["1/3","2/3","3/3"]');
    assert.equal(results(planned)['model-files'], String(Object.keys(model).length));
    assert.equal(results(planned)['model-bytes'], String(Object.values(model).reduce((n, b) => n + b.length, 0)));
    const stored = await objectBytes(`${recordsOf(prefix)}plan.json`);
    const record = JSON.parse(await readFile(path.join(planned.ws, '.model-sync/plan.json'), 'utf8')) as { plan: unknown; parts: string[] };
    assert.equal(JSON.stringify(record.plan), stored.toString('utf8'), 'the workspace holds the plan as published (the plan record, as for a registry)');
    assert.deepEqual(record.parts, ['1/3', '2/3', '3/3']);
    const doc = decodePartPlan(stored.toString('utf8'));
    assert.equal(doc.repository, `s3://${s3.bucket}/${prefix}`);
    assert.equal('base' in doc, false);
    assert.deepEqual(await keysAsKserveLists(prefix), [], 'after plan, nothing under the prefix');

    // Through a proxy that holds each read of the source for 2 s, so that the parts' runs overlap
    // whatever the machine's load (a small model copies in a fraction of a second).
    const slow = await startFaultProxy(s3.endpoint);
    slow.rules.push({ method: 'GET', path: new RegExp(`^/${s3.bucket}/src/granite/`), delayMs: 2000, times: 1000 });
    const parts = await Promise.all(['1/3', '2/3', '3/3'].map((p) => pushPart('src/granite', prefix, p, { MODEL_SYNC_SOURCE_AWS_ENDPOINT: slow.url }))).finally(() => slow.stop());
    for (const r of parts) assert.equal(r.code, 0, r.stderr);
    for (const r of parts) assert.deepEqual(results(r), { 'model-uri': `s3://${s3.bucket}/${prefix}`, 'image-digest': '' });
    assert.deepEqual(await keysAsKserveLists(prefix), modelKeys(prefix), 'during the run, only model files under the prefix');
    assert.deepEqual(await keysAsKserveLists(recordsOf(prefix)), [`${recordsOf(prefix)}part-1-of-3.json`, `${recordsOf(prefix)}part-2-of-3.json`, `${recordsOf(prefix)}part-3-of-3.json`, `${recordsOf(prefix)}plan.json`]);
    // The three ran side by side: each started before any other ended.
    const span = (r: CliResult) => {
      const times = logLines(r.stderr).map((l) => Date.parse(String(l.time))).filter((t) => t > 0);
      return [Math.min(...times), Math.max(...times)] as const;
    };
    const spans = parts.map(span);
    assert.ok(Math.max(...spans.map((s) => s[0])) < Math.min(...spans.map((s) => s[1])), `the parts overlap in time: ${JSON.stringify(spans)}`);
    const part1 = JSON.parse(await readFile(path.join(parts[0]!.ws, '.model-sync/parts/1-of-3.json'), 'utf8'));
    assert.equal(part1.part, 1);

    // A finished part run again does nothing: it does not even list the source.
    const again = await pushPart('src/granite', prefix, '2/3', { MODEL_SYNC_STORAGE_PATH: parts[1]!.ws });
    assert.equal(again.code, 0, again.stderr);
    assert.ok(lineWith(again.stderr, 'finished already'), again.stderr);
    assert.equal(lineWith(again.stderr, 'listing S3 source'), undefined, 'the source is not listed');

    const assembled = await assemble(prefix);
    assert.equal(assembled.code, 0, assembled.stderr);
    assert.deepEqual(results(assembled), {
      'model-uri': `s3://${s3.bucket}/${prefix}`,
      'image-digest': '',
      'model-files': String(Object.keys(model).length),
      'model-bytes': results(planned)['model-bytes'],
    });
    assert.deepEqual(await keysAsKserveLists(prefix), modelKeys(prefix), 'exactly the source files');
    for (const [name, body] of Object.entries(model)) assert.ok(body.equals(await objectBytes(`${prefix}/${name}`)), `${name} byte-identical`);
    assert.deepEqual(await keysAsKserveLists(recordsOf(prefix)), [], 'the plan and part records are removed');
    assert.deepEqual(await keysAsKserveLists('out/'), modelKeys(prefix), 'nothing else left in the bucket beside the model');
  });

  it('a part killed mid-way is run again and completes; its multipart upload does not stay open', async () => {
    const prefix = 'out/killed';
    const big = randomBytes(40 * MiB + 3);
    await s3.put('src/big/big.bin', big);
    await s3.put('src/big/small.txt', 'small');
    assert.equal((await plan('src/big', prefix, 2)).code, 0);
    assert.equal((await pushPart('src/big', prefix, '2/2')).code, 0, 'small.txt is part 2 (largest first onto part 1)');

    // The source stalls after 20 MiB of big.bin, so the kill lands inside its multipart upload.
    const proxy = await startFaultProxy(s3.endpoint);
    try {
      proxy.rules.push({ method: 'GET', path: `/${s3.bucket}/src/big/big.bin`, stallAfterBytes: 20 * MiB });
      const ws = path.join(dir, 'ws-killed');
      const env = { ...rgwSourceEnv(s3, 'src/big'), MODEL_SYNC_SOURCE_AWS_ENDPOINT: proxy.url, ...destination(prefix), MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_RETRY_ATTEMPTS: '2' };
      const uploads = path.join(ws, '.model-sync/s3-uploads.json');
      const killed = await runCliSignalled(['push', '--part', '1/2'], env, {
        when: () => access(uploads).then(() => true, () => false),
        signal: 'SIGKILL',
      });
      assert.equal(killed.killedBy, 'SIGKILL', killed.stderr);
      assert.equal((await s3.listMultipartUploads(s3.bucket, `${prefix}/`)).length, 1, 'left open by the kill');
      assert.equal((await keysAsKserveLists(recordsOf(prefix))).includes(`${recordsOf(prefix)}part-1-of-2.json`), false, 'no result for the killed part');

      const again = await runCli(['push', '--part', '1/2'], env, { timeoutMs: 180_000 });
      assert.equal(again.code, 0, again.stderr);
    } finally {
      await proxy.stop();
    }
    assert.deepEqual(await s3.listMultipartUploads(s3.bucket, `${prefix}/`), [], 'the run again aborted it');
    const assembled = await assemble(prefix);
    assert.equal(assembled.code, 0, assembled.stderr);
    assert.ok(big.equals(await objectBytes(`${prefix}/big.bin`)), 'big.bin byte-identical');
    assert.deepEqual(await keysAsKserveLists(prefix), [`${prefix}/big.bin`, `${prefix}/small.txt`]);
  });

  it('assemble refuses missing and mismatched parts, naming them all at once, and leaves the records', async () => {
    const prefix = 'out/missing';
    assert.equal((await plan('src/granite', prefix, 3)).code, 0);
    assert.equal((await pushPart('src/granite', prefix, '1/3')).code, 0);
    // Part 3's result for another plan: it does not count for this one.
    const other = { format: 'model-sync.s3-part-result', version: 1, part: 3, parts: 3, plan: `sha256:${'e'.repeat(64)}`, files: [] };
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${recordsOf(prefix)}part-3-of-3.json`, Body: JSON.stringify(other) }));

    const refused = await assemble(prefix);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.termination, /2 of 3 parts not finished/);
    assert.match(refused.termination, /part 2\/3 has no result/);
    assert.match(refused.termination, /part result 3\/3 follows plan "sha256:e+"/);
    assert.equal(refused.termination.includes('\n'), false, 'one line');
    assert.ok((await keysAsKserveLists(recordsOf(prefix))).includes(`${recordsOf(prefix)}plan.json`), 'the plan stays');

    // Once the parts have run, assemble goes through.
    for (const p of ['2/3', '3/3']) assert.equal((await pushPart('src/granite', prefix, p)).code, 0);
    const assembled = await assemble(prefix);
    assert.equal(assembled.code, 0, assembled.stderr);
    assert.deepEqual(await keysAsKserveLists(prefix), modelKeys(prefix));
  });

  it('assemble refuses an object that went missing after its part finished', async () => {
    const prefix = 'out/lost';
    assert.equal((await plan('src/granite', prefix, 2)).code, 0);
    for (const p of ['1/2', '2/2']) assert.equal((await pushPart('src/granite', prefix, p)).code, 0);
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}/config.json`, Body: 'short' }));
    const refused = await assemble(prefix);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.termination, /1 of 7 model files are not there as planned: config\.json \(5 bytes, the plan says 26\)/);
  });

  it('push --part refuses a source file changed since the plan (exit 3, naming it), and a part count that is not the plan\'s', async () => {
    const prefix = 'out/changed';
    for (const [name, body] of Object.entries(model)) await s3.put(`src/changing/${name}`, body);
    const planned = await plan('src/changing', prefix, 2);
    assert.equal(planned.code, 0, planned.stderr);
    const doc = decodePartPlan(JSON.stringify((JSON.parse(await readFile(path.join(planned.ws, '.model-sync/plan.json'), 'utf8')) as { plan: unknown }).plan));
    const changed = 'tokenizer/vocab.txt';
    const owner = doc.partList.find((p) => p.layers.some((l) => l.files.some((f) => f.path === changed)))!.index;
    await s3.put(`src/changing/${changed}`, randomBytes(4096)); // same size, another version

    const refused = await pushPart('src/changing', prefix, `${owner}/2`);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.termination, /the source s3:\/\/models\/src\/changing changed since the plan: tokenizer\/vocab\.txt \(was /);
    assert.equal(refused.termination.includes('\n'), false, 'one line');
    assert.deepEqual(await keysAsKserveLists(prefix), [], 'nothing copied');
    assert.deepEqual(await keysAsKserveLists(recordsOf(prefix)), [`${recordsOf(prefix)}plan.json`], 'no part result');

    const wrongCount = await pushPart('src/changing', prefix, '1/3');
    assert.equal(wrongCount.code, 3, wrongCount.stderr);
    assert.match(wrongCount.termination, /part 1\/3 is one of 3 parts, but the plan at .* has 2/);
  });

  it('a new plan for the prefix clears the part results of the earlier one; the bucket root and a prefix the records would fall under are refused', async () => {
    const prefix = 'out/replan';
    assert.equal((await plan('src/granite', prefix, 2)).code, 0);
    assert.equal((await pushPart('src/granite', prefix, '1/2')).code, 0);
    assert.equal((await plan('src/granite', prefix, 2)).code, 0);
    assert.deepEqual(await keysAsKserveLists(recordsOf(prefix)), [`${recordsOf(prefix)}plan.json`]);
    // Part 1 again copies nothing: its objects are there with their sizes.
    const rerun = await pushPart('src/granite', prefix, '1/2');
    assert.equal(rerun.code, 0, rerun.stderr);
    const summary = logLines(rerun.stderr).find((l) => typeof l.skipped === 'number');
    assert.ok(summary && summary.skipped === summary.files && Number(summary.files) > 0, `every object skipped: ${JSON.stringify(summary)}`);

    const root = await plan('src/granite', '/', 2);
    assert.equal(root.code, 2, root.stderr);
    assert.match(root.termination, /--destination-aws-key \/ MODEL_SYNC_DESTINATION_AWS_KEY is the bucket root/);
    const inside = await plan('src/granite', 'out/.model', 2);
    assert.equal(inside.code, 2, inside.stderr);
    assert.match(inside.termination, /"out\/\.model": its last segment begins "\.model-sync-parts"/);
    assert.deepEqual(await keysAsKserveLists(recordsOf('out/.model')), [], 'no record written');
    await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'src/granite/config.json' })); // the source untouched
  });
});
