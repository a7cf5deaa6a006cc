// ModelPack out (issue 16, item 1) on real servers: Ceph RGW as the S3 source, the local
// docker-registry, the Model Registry stand-in. S3 -> modelpack and S3 -> both through `all`,
// each registered, read back from the registry (the manifest, the config against the spec's own
// schema in ../shared/specs/modelpack) and fetched back byte-identical; bad settings refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { buildMinimalBase } from '../dev/minimal-base.js';
import { runCli } from '../dev/cli.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';
import type { Rgw } from '../dev/rgw.js';
import { logLines } from './support/fetch-helpers.js';
import { useStandin } from './support/model-registry.js';
import { rgwSourceEnv, useRgw } from './support/rgw.js';

const MiB = 1024 * 1024;
const SCHEMA = path.resolve(import.meta.dirname, '../../shared/specs/modelpack/config-schema.json');
const mr = useStandin();
const rgw = useRgw();
const skip = registryAvailable() ? false : 'docker-registry is not installed';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('--destination-oci-format modelpack and both', { skip }, () => {
  let registry: TestRegistry;
  let s3: Rgw;
  let baseImage = '';
  let validateConfig: (doc: unknown) => boolean;
  let schemaErrors: () => string;
  const same = randomBytes(4096);
  const model: Record<string, Buffer> = {
    'config.json': Buffer.from('{"architectures":["Tiny"]}'),
    'tokenizer/tokenizer.json': randomBytes(200 * 1024),
    'README.md': Buffer.from('# tiny\n'),
    'scripts/run.py': Buffer.from('print("hi")\n'),
    'weights/model-00001-of-00002.safetensors': randomBytes(9 * MiB + 3),
    'weights/model-00002-of-00002.safetensors': randomBytes(2 * MiB),
    // Two files of one content: raw layers of one digest, told apart by their file paths.
    'copies/a.bin': same,
    'copies/b.bin': same,
  };

  before(async () => {
    [registry, s3] = await Promise.all([startRegistry({ mode: 'plain' }), rgw.ready]);
    for (const [name, body] of Object.entries(model)) await s3.put(`tiny/${name}`, body);
    baseImage = (await buildMinimalBase(await mr.dir('ms-base-'))).reference;
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    (addFormatsModule as unknown as (a: Ajv2020) => void)(ajv);
    const validate = ajv.compile(JSON.parse(await readFile(SCHEMA, 'utf8')) as object);
    validateConfig = (doc) => validate(doc) as boolean;
    schemaErrors = () => ajv.errorsText(validate.errors);
  });
  after(async () => {
    await registry?.stop();
  });

  const destination = (tag: string, format: string, extra: Record<string, string> = {}) => ({
    ...rgwSourceEnv(s3, 'tiny'),
    MODEL_SYNC_DESTINATION_TYPE: 'oci',
    MODEL_SYNC_DESTINATION_OCI_URI: `${registry.host}/models/tiny:${tag}`,
    MODEL_SYNC_DESTINATION_OCI_ENABLE_TLS_VERIFY: 'false',
    MODEL_SYNC_DESTINATION_OCI_BASE_IMAGE: baseImage,
    MODEL_SYNC_DESTINATION_OCI_FORMAT: format,
    MODEL_SYNC_MODELCAR_OWN_LAYER_BYTES: String(8 * MiB),
    MODEL_SYNC_RETRY_ATTEMPTS: '2',
    ...extra,
  });

  async function createModel(name: string, env: Record<string, string>) {
    const ws = await mr.dir('ms-pack-');
    const metadata = await mr.meta({ 'RegisteredModel.name': name, 'ModelVersion.name': 'v1', 'ModelArtifact.name': name });
    const run = await runCli(['all'], mr.env(ws, metadata, 'create_model', env), { timeoutMs: 180_000 });
    assert.equal(run.code, 0, run.stderr);
    const pushed = JSON.parse(await readFile(path.join(ws, '.model-sync/push.json'), 'utf8')) as { uri: string; digest: string; ociFormat: string };
    const found = (await mr.client.findRegisteredModel(name))!;
    const version = (await mr.client.listRegisteredModelVersions(found.id))[0]!;
    return { run, ws, pushed, artifactUri: (await mr.artifactOf(version.id)).uri };
  }

  async function manifest(reference: string): Promise<{ doc: Json; digest: string }> {
    const res = await fetch(`http://${registry.host}/v2/models/tiny/manifests/${reference}`, {
      headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(res.status, 200, `manifest ${reference}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    return { doc: JSON.parse(bytes.toString('utf8')) as Json, digest: sha256(bytes) };
  }

  async function blobJson(digest: string): Promise<Json> {
    const res = await fetch(`http://${registry.host}/v2/models/tiny/blobs/${digest}`);
    assert.equal(res.status, 200, `blob ${digest}`);
    return (await res.json()) as Json;
  }

  async function fetchBack(reference: string): Promise<void> {
    const back = await mr.dir('ms-back-');
    const fetched = await runCli(['fetch'], {
      MODEL_SYNC_STORAGE_PATH: back,
      MODEL_SYNC_SOURCE_TYPE: 'oci',
      MODEL_SYNC_SOURCE_OCI_URI: `${registry.host}/models/tiny${reference}`,
      MODEL_SYNC_SOURCE_OCI_ENABLE_TLS_VERIFY: 'false',
    });
    assert.equal(fetched.code, 0, fetched.stderr);
    for (const [name, body] of Object.entries(model)) {
      assert.ok((await readFile(path.join(back, 'model', name))).equals(body), `${name} fetched back byte-identical from ${reference}`);
    }
    const inventory = JSON.parse(await readFile(path.join(back, '.model-sync/inventory.json'), 'utf8')) as { files: unknown[] };
    assert.equal(inventory.files.length, Object.keys(model).length, 'no file more, none less');
  }

  function assertConfigValid(config: Json, layers: Json[]): void {
    assert.ok(validateConfig(config), `the config validates against the ModelPack schema: ${schemaErrors()}`);
    assert.deepEqual(config.modelfs.diffIds, layers.map((l) => l.digest), 'diffIds are the (uncompressed) layer digests, sha256:-prefixed');
    assert.ok(config.modelfs.diffIds.every((d: string) => d.startsWith('sha256:')));
  }

  it('S3 -> modelpack: raw layers typed by kind, a valid config, a warning at register, fetched back byte-identical', async () => {
    const { run, pushed, artifactUri } = await createModel('tiny-modelpack', destination('pack', 'modelpack'));
    assert.equal(pushed.ociFormat, 'modelpack');
    assert.equal(artifactUri, pushed.uri, 'register records the URI of what was pushed');
    const lines = logLines(run.stderr);
    assert.ok(lines.some((l) => String(l.msg).includes('is modelpack, whose raw layers are staged files')), 'all says why it stages');
    assert.ok(lines.some((l) => l.level === 'warn' && String(l.msg).includes('KServe cannot serve it')), 'register warns that KServe cannot serve it');

    const { doc, digest } = await manifest('pack');
    assert.equal(digest, pushed.digest);
    assert.equal(doc.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(doc.artifactType, 'application/vnd.cncf.model.manifest.v1+json');
    assert.equal(doc.config.mediaType, 'application/vnd.cncf.model.config.v1+json');
    const byPath = new Map<string, Json>(doc.layers.map((l: Json) => [l.annotations['org.cncf.model.filepath'], l]));
    assert.deepEqual([...byPath.keys()].sort(), Object.keys(model).sort(), 'one layer per file, named by its path');
    const kinds: Record<string, string> = {
      'config.json': 'weight.config',
      'tokenizer/tokenizer.json': 'weight.config',
      'README.md': 'doc',
      'scripts/run.py': 'code',
      'weights/model-00001-of-00002.safetensors': 'weight',
      'copies/a.bin': 'weight',
    };
    for (const [file, kind] of Object.entries(kinds)) assert.equal(byPath.get(file)!.mediaType, `application/vnd.cncf.model.${kind}.v1.raw`, file);
    for (const [file, body] of Object.entries(model)) {
      const layer = byPath.get(file)!;
      assert.equal(layer.digest, sha256(body), `${file}: a raw layer is the file itself`);
      const meta = JSON.parse(layer.annotations['org.cncf.model.file.metadata+json']) as Json;
      assert.deepEqual(meta, { name: path.posix.basename(file), mode: 0o664, uid: 0, gid: 0, size: body.length, mtime: '1970-01-01T00:00:00Z', typeflag: 0 });
    }
    const config = await blobJson(doc.config.digest);
    assertConfigValid(config, doc.layers);
    assert.equal(config.descriptor.createdAt, undefined, 'no creation time unless given');
    assert.deepEqual(config.descriptor, { name: 'tiny', version: 'pack' });
    assert.deepEqual(config.config, {}, 'weights of two formats (safetensors and .bin): no format claimed');
    await fetchBack(':pack');
  });

  it('modelpack digests are reproducible, and createdAt is written only when given', async () => {
    const again = await createModel('tiny-modelpack-again', destination('pack', 'modelpack'));
    const first = await manifest('pack');
    assert.equal(again.pushed.digest, first.digest, 'the same model gives the same artifact');
    const dated = await createModel('tiny-modelpack-dated', destination('pack-dated', 'modelpack', { MODEL_SYNC_MODELPACK_CREATED_AT: '2026-01-31T12:00:00Z' }));
    assert.notEqual(dated.pushed.digest, first.digest);
    const config = await blobJson((await manifest('pack-dated')).doc.config.digest);
    assert.equal(config.descriptor.createdAt, '2026-01-31T12:00:00Z');
    assert.ok(validateConfig(config), schemaErrors());
  });

  it('S3 -> both: the modelcar index gains a ModelPack manifest over the same tar layers; streamed and staged agree; fetched back both ways', async () => {
    const streamed = await createModel('tiny-both', destination('both', 'both', { MODEL_SYNC_MODEL_URI_PINNED: 'true' }));
    assert.equal(streamed.pushed.ociFormat, 'both');
    assert.ok(logLines(streamed.run.stderr).some((l) => String(l.msg).includes('no copy of the model on the volume')), 'both streams');
    assert.ok(!logLines(streamed.run.stderr).some((l) => String(l.msg).includes('KServe cannot serve it')), 'no ModelPack-only warning');
    assert.equal(streamed.artifactUri, `oci://${registry.host}/models/tiny@${streamed.pushed.digest}`, 'registered pinned by digest');

    // The same tag (the ModelPack descriptor's version is the tag), staged this time.
    const staged = await createModel('tiny-both-staged', destination('both', 'both', { MODEL_SYNC_STREAM: 'false' }));
    assert.ok(logLines(staged.run.stderr).some((l) => String(l.msg).includes('staging the model')));
    assert.equal(staged.pushed.digest, streamed.pushed.digest, 'package and the streaming all build the same index');

    const { doc: index } = await manifest('both');
    const pack = index.manifests.filter((m: Json) => m.artifactType === 'application/vnd.cncf.model.manifest.v1+json');
    assert.equal(pack.length, 1, 'one ModelPack entry in the index');
    assert.deepEqual(pack[0].platform, { architecture: 'unknown', os: 'unknown' }, 'no runtime picks it');
    const images = index.manifests.filter((m: Json) => m !== pack[0]);
    assert.ok(images.length >= 1 && images.every((m: Json) => m.platform?.os === 'linux'));

    const modelcar = (await manifest(images[0].digest)).doc;
    const modelpack = (await manifest(pack[0].digest)).doc;
    assert.equal(modelpack.artifactType, 'application/vnd.cncf.model.manifest.v1+json');
    const modelLayers = modelcar.layers.filter((l: Json) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar' && (l.annotations?.['olot.layer.content.inlayerpath'] || l.annotations?.['io.model-sync.layer.files']));
    assert.deepEqual(modelpack.layers.map((l: Json) => l.digest), modelLayers.map((l: Json) => l.digest), 'the ModelPack layers are the modelcar tar blobs, reused');
    for (const l of modelpack.layers as Json[]) {
      assert.match(l.mediaType, /^application\/vnd\.cncf\.model\.(weight|weight\.config|doc|code)\.v1\.tar$/);
      assert.match(l.annotations['org.cncf.model.filepath'], /^models(\/|$)/, 'file paths name the tar entries under models/');
    }
    const weight = modelpack.layers.find((l: Json) => l.annotations['org.cncf.model.filepath'] === 'models/weights/model-00001-of-00002.safetensors');
    assert.equal(weight?.mediaType, 'application/vnd.cncf.model.weight.v1.tar');
    assertConfigValid(await blobJson(modelpack.config.digest), modelpack.layers);

    await fetchBack(':both'); // the index: the machine's modelcar platform
    await fetchBack(`@${pack[0].digest}`); // the ModelPack manifest alone: its tar entries, models/ stripped

    // containers/image reads the index and picks the image, not the ModelPack entry.
    const out = await mr.dir('ms-skopeo-');
    execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/models/tiny:both`, `oci:${out}:x`], { stdio: 'pipe' });
  });

  it('package hashes a file no inventory records once, as its raw layer (digest = the file sha256)', async () => {
    const ws = await mr.dir('ms-pack-local-');
    for (const [name, body] of Object.entries(model)) {
      await mkdir(path.dirname(path.join(ws, 'model', name)), { recursive: true });
      await writeFile(path.join(ws, 'model', name), body);
    }
    const run = await runCli(['package'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_DESTINATION_OCI_FORMAT: 'modelpack', MODEL_SYNC_DESTINATION_OCI_URI: 'registry.example.com/models/tiny:pack' });
    assert.equal(run.code, 0, run.stderr);
    const hashedLine = logLines(run.stderr).find((l) => String(l.msg).includes('files hashed'));
    assert.equal(hashedLine?.hashed, Object.keys(model).length, 'no inventory: every file hashed');
    const index = JSON.parse(await readFile(path.join(ws, 'image/index.json'), 'utf8')) as Json;
    const blob = (d: string) => readFile(path.join(ws, 'image/blobs/sha256', d.slice('sha256:'.length)), 'utf8');
    const doc = JSON.parse(await blob(index.manifests[0].digest)) as Json;
    for (const l of doc.layers as Json[]) assert.equal(l.digest, sha256(model[l.annotations['org.cncf.model.filepath']]!), l.annotations['org.cncf.model.filepath']);
    assert.equal((await manifest('pack')).digest, index.manifests[0].digest, 'the same artifact as fetch-then-package gave');
  });

  it('refuses a creation time that is not RFC 3339, and scale-out of a ModelPack-only artifact, naming the setting (exit 2)', async () => {
    const ws = await mr.dir('ms-bad-');
    const bad = await runCli(['package'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_DESTINATION_OCI_FORMAT: 'modelpack', MODEL_SYNC_MODELPACK_CREATED_AT: 'yesterday' });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--modelpack-created-at \/ MODEL_SYNC_MODELPACK_CREATED_AT.*yesterday.*RFC 3339/);
    const plan = await runCli(['plan'], { MODEL_SYNC_STORAGE_PATH: ws, ...destination('planned', 'modelpack'), MODEL_SYNC_PARTS: '2' });
    assert.equal(plan.code, 2, plan.stderr);
    assert.match(plan.stderr, /--destination-oci-format \/ MODEL_SYNC_DESTINATION_OCI_FORMAT is modelpack: scale-out/);
    const wrong = await runCli(['package'], { MODEL_SYNC_STORAGE_PATH: ws, MODEL_SYNC_DESTINATION_OCI_FORMAT: 'kitops' });
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.match(wrong.stderr, /MODEL_SYNC_DESTINATION_OCI_FORMAT/);
  });
});
