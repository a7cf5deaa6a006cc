// Bad settings and untrustworthy step inputs, through the CLI: usage and value errors are one line
// with exit 2 and a termination message; package and push refuse a model fetch did not finish;
// register never takes a push result that a later failed push made stale; passwords written into
// URIs are masked everywhere and never registered.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startStandin, type Standin } from '../dev/model-registry-standin.js';
import { S3RVER_KEY, S3RVER_SECRET, startS3Server } from '../dev/s3-server.js';
import { runCli, tempDir } from '../dev/cli.js';
import { EXIT } from '../src/errors.js';
import { pushResultFor } from '../src/steps/inputs.js';
import { writeRecord } from '../src/workspace/records.js';
import { Workspace } from '../src/workspace/workspace.js';
import { tar } from './support/archives.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { metadataFolder, registryEnv, SAMPLE_CREATE_MODEL } from './support/model-registry.js';

const PASSWORD = 'Pw-in-a-URI-7421';
const dirs: string[] = [];
let web: TestHttpServer;
let standin: Standin;

before(async () => {
  [web, standin] = await Promise.all([startHttpServer(), startStandin()]);
  web.routes.set('/refused.tar', {
    body: tar([
      { name: 'ok.txt', body: 'harmless' },
      { name: '../evil.txt', body: 'escape' },
    ]),
  });
  web.routes.set('/model.bin', { body: 'weights' });
});
after(async () => {
  await Promise.all([web.stop(), standin.stop()]);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function dir(prefix = 'ms-hard-'): Promise<string> {
  const d = await tempDir(prefix);
  dirs.push(d);
  return d;
}

describe('usage and value errors are exit 2, one line, with a termination message', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown flag', ['fetch', '--bogus'], /^unknown option '--bogus' \(model-sync fetch --help lists its settings\)$/],
    ['an unknown log level', ['fetch', '--log-level', 'verbose'], /--log-level \/ MODEL_SYNC_LOG_LEVEL: "verbose" is not one of/],
    ['a port out of range', ['register', '--registry-port', '99999', '--registry-server-address', 'x'], /--registry-port \/ MODEL_SYNC_REGISTRY_PORT: must be at most 65535, got 99999/],
    ['an integer past 2^53', ['fetch', '--fetch-concurrency', '99999999999999999999'], /--fetch-concurrency \/ MODEL_SYNC_FETCH_CONCURRENCY: "99999999999999999999" is out of range/],
    ['a negative interval', ['fetch', '--progress-interval', '-5'], /--progress-interval \/ MODEL_SYNC_PROGRESS_INTERVAL: must be at least 0, got -5/],
    ['a URI with no host', ['fetch', '--source-type', 'uri', '--source-uri', 'http://'], /--source-uri \/ MODEL_SYNC_SOURCE_URI: "http:\/\/" is not a valid URL/],
    ['a malformed percent-escape', ['fetch', '--source-type', 'uri', '--source-uri', 'http://127.0.0.1:1/a%zz'], /--source-uri \/ MODEL_SYNC_SOURCE_URI: .*malformed percent-escape/],
  ];
  for (const [what, args, pattern] of cases) {
    it(what, async () => {
      const r = await runCli([...args, '--storage-path', await dir()]);
      assert.equal(r.code, EXIT.config, r.stderr);
      assert.match(r.termination, pattern);
      assert.doesNotMatch(r.termination, /\n/, 'one line');
      assert.doesNotMatch(r.stderr, /Usage:/, 'no help dump');
    });
  }

  it('a storage path that is a file', async () => {
    const file = path.join(await dir(), 'not-a-folder');
    await writeFile(file, 'x');
    const r = await runCli(['fetch', '--storage-path', file, '--source-type', 'uri', '--source-uri', `${web.url}/model.bin`]);
    assert.equal(r.code, EXIT.config, r.stderr);
    assert.match(r.termination, /^--storage-path \/ MODEL_SYNC_STORAGE_PATH: .*not-a-folder cannot be the workspace \(ENOTDIR\)/);
  });
});

describe('package and push refuse a model that fetch did not finish', () => {
  it('after a fetch stopped by a refused archive entry (one good file already in model/)', async () => {
    const ws = await dir();
    const fetched = await runCli(['fetch', '--storage-path', ws, '--source-type', 'uri', '--source-uri', `${web.url}/refused.tar`]);
    assert.equal(fetched.code, EXIT.unsafe, fetched.stderr);
    const pkg = await runCli(['package', '--storage-path', ws, '--destination-oci-base-image', `oci:${ws}/no-base`]);
    assert.equal(pkg.code, EXIT.precondition, pkg.stderr);
    assert.match(pkg.termination, /did not finish.*run fetch again/);
    for (const destination of [
      ['--destination-type', 'oci', '--destination-oci-uri', `oci:${ws}/out:1`],
      ['--destination-type', 's3', '--destination-aws-bucket', 'b', '--destination-aws-key', 'k'],
    ]) {
      const push = await runCli(['push', '--storage-path', ws, ...destination]);
      assert.equal(push.code, EXIT.precondition, push.stderr);
      assert.match(push.termination, /did not finish.*run fetch again/);
    }
  });
});

describe('register takes only a push result made for this destination', () => {
  it('a push that fails leaves no result for register to take (the earlier push\'s URI is not registered)', async () => {
    const s3 = await startS3Server();
    try {
      const ws = await dir();
      const e = { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_RETRY_ATTEMPTS: '1' };
      const s3Env = { MODEL_SYNC_DESTINATION_AWS_ACCESS_KEY_ID: S3RVER_KEY, MODEL_SYNC_DESTINATION_AWS_SECRET_ACCESS_KEY: S3RVER_SECRET };
      assert.equal((await runCli(['fetch', '--source-type', 'uri', '--source-uri', `${web.url}/model.bin`], e)).code, 0);
      const first = await runCli(['push', '--destination-type', 's3', '--destination-aws-bucket', s3.bucket, '--destination-aws-key', 'old', '--destination-aws-endpoint', s3.endpoint], { ...e, ...s3Env });
      assert.equal(first.code, 0, first.stderr);
      // The second push goes to a new place that answers nothing (port 1), and fails.
      const second = await runCli(['push', '--destination-type', 's3', '--destination-aws-bucket', 'new', '--destination-aws-key', 'place', '--destination-aws-endpoint', 'http://127.0.0.1:1'], { ...e, ...s3Env });
      assert.notEqual(second.code, 0);
      const metadata = await metadataFolder(SAMPLE_CREATE_MODEL);
      dirs.push(metadata);
      const register = await runCli(['register'], registryEnv(standin, { ...e, MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model', MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata }));
      assert.equal(register.code, EXIT.config, register.stderr);
      assert.match(register.termination, /no model URI to register.*run push first/);
      assert.ok(![...standin.state.artifacts.values()].some((a) => a.uri === `s3://${s3.bucket}/old`), 'the stale URI was not registered');
    } finally {
      await s3.stop();
    }
  });

  it('a push result for another destination is refused when the run names its destination (all)', async () => {
    const ws = new Workspace(await dir());
    await ws.init();
    await writeRecord(ws, 'push', { destination: 's3', target: 's3://old/place', uri: 's3://old/place', files: 1, bytes: 7, skipped: 0, finished: 'earlier' });
    await assert.rejects(pushResultFor(ws, 's3://new/place'), /went to s3:\/\/old\/place, not to s3:\/\/new\/place: run push again/);
    assert.equal((await pushResultFor(ws, 's3://old/place'))?.uri, 's3://old/place');
  });
});

describe('passwords inside URIs', () => {
  it('an image reference with user:password@ is refused without printing the password', async () => {
    const r = await runCli(['fetch', '--log-level', 'debug', '--storage-path', await dir(), '--source-type', 'oci', '--source-oci-uri', `bob:${PASSWORD}@127.0.0.1:1/models/m:1`]);
    assert.notEqual(r.code, 0);
    for (const text of [r.stderr, r.stdout, r.termination]) assert.ok(!text.includes(PASSWORD), text);
  });

  it('--model-uri with user:password@ is registered and recorded without it', async () => {
    const ws = await dir();
    const metadata = await metadataFolder({ ...SAMPLE_CREATE_MODEL, 'RegisteredModel.name': 'uri-secret' });
    dirs.push(metadata);
    const r = await runCli(
      ['register', '--log-level', 'debug'],
      registryEnv(standin, {
        MODEL_SYNC_STORAGE_PATH: ws,
        MODEL_SYNC_MODEL_UPLOAD_INTENT: 'create_model',
        MODEL_SYNC_METADATA_CONFIGMAP_PATH: metadata,
        MODEL_SYNC_MODEL_URI: `s3://bob:${PASSWORD}@bucket/models/m`,
      }),
    );
    assert.equal(r.code, 0, r.stderr);
    for (const text of [r.stderr, r.stdout, r.termination, await readFile(path.join(ws, '.model-sync/register.json'), 'utf8')]) {
      assert.ok(!text.includes(PASSWORD), text);
    }
    const uris = [...standin.state.artifacts.values()].map((a) => a.uri);
    assert.ok(uris.includes('s3://bucket/models/m'), `registered: ${uris.join(', ')}`);
    assert.ok(!uris.some((u) => String(u).includes(PASSWORD)));
  });
});
