// The scale-out documents in a real docker-registry (src/oci/part-registry.ts): pushed as OCI
// artifacts under their tag and read back byte for byte, the model layers they reference kept in
// the manifest, a tag holding anything else refused, and removal by digest where the registry
// allows deletes (and 'refused', not an error, where it does not).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { MT } from '../src/oci/media-types.js';
import { pullPartDocument, pushPartDocument, removePartDocument } from '../src/oci/part-registry.js';
import { parseImageReference } from '../src/oci/reference.js';
import { RegistryTarget } from '../src/oci/target-registry.js';
import type { Descriptor } from '../src/oci/types.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../dev/registry.js';
import { memoryLogger } from './support/oci-images.js';

const skip = registryAvailable() ? false : 'docker-registry is not installed (apt-get install docker-registry)';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('scale-out documents in docker-registry', { skip }, () => {
  let registry: TestRegistry;
  let noDeletes: TestRegistry;
  const targets: RegistryTarget[] = [];
  const target = (r: TestRegistry, repository = 'models/parts') => {
    const t = new RegistryTarget(parseImageReference(`${r.host}/${repository}:v1`), { tlsVerify: true, log: memoryLogger().log, push: true, operation: 'push', retry: { attempts: 2, baseDelayMs: 10 } });
    targets.push(t);
    return t;
  };
  const layerBlob = async (t: RegistryTarget, text: string): Promise<Descriptor> => {
    const bytes = Buffer.from(text);
    const d = { mediaType: MT.ociLayerTar, digest: digestOf(bytes), size: bytes.length };
    await t.pushBlob(d, () => Readable.from([bytes]));
    return d;
  };

  before(async () => {
    [registry, noDeletes] = await Promise.all([startRegistry(), startRegistry({ deleteEnabled: false })]);
  });
  after(async () => {
    for (const t of targets) t.close();
    await Promise.all([registry?.stop(), noDeletes?.stop()]);
  });

  it('pushes a document with its references and reads it back; a missing tag is undefined', async () => {
    const t = target(registry);
    const layer = await layerBlob(t, 'model layer bytes');
    const json = JSON.stringify({ format: 'model-sync.part-result', hello: 'wörld' });
    const manifestDigest = await pushPartDocument(t, { tag: 'v1.model-sync-part-1-of-2', artifactType: MT.partResult, json, references: [layer] });
    const got = await pullPartDocument(t, 'v1.model-sync-part-1-of-2');
    assert.ok(got);
    assert.equal(got.text, json);
    assert.equal(got.artifactType, MT.partResult);
    assert.equal(got.manifestDigest, manifestDigest);
    assert.equal(got.documentDigest, digestOf(Buffer.from(json, 'utf8')));
    assert.deepEqual(got.references, [layer]);
    assert.equal(await pullPartDocument(t, 'v1.model-sync-part-2-of-2'), undefined);
  });

  it('gives the same document under two tags two manifests, so removing one leaves the other', async () => {
    const t = target(registry, 'models/two-tags');
    const json = '{"same":true}';
    const a = await pushPartDocument(t, { tag: 'a.model-sync-plan', artifactType: MT.partPlan, json });
    const b = await pushPartDocument(t, { tag: 'b.model-sync-plan', artifactType: MT.partPlan, json });
    assert.notEqual(a, b);
    assert.equal(await removePartDocument(t, a), 'deleted');
    assert.equal(await pullPartDocument(t, 'a.model-sync-plan'), undefined);
    assert.equal((await pullPartDocument(t, 'b.model-sync-plan'))?.text, json);
    assert.equal(await removePartDocument(t, a), 'absent');
  });

  it('refuses a tag that holds something else, naming it', async () => {
    const t = target(registry, 'models/taken');
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const cd = { mediaType: MT.ociConfig, digest: digestOf(config), size: config.length };
    await t.pushBlob(cd, () => Readable.from([config]));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: cd, layers: [] }));
    await t.pushManifest({ mediaType: MT.ociManifest, digest: digestOf(manifest), size: manifest.length }, manifest, 'v1.model-sync-plan');
    await assert.rejects(pullPartDocument(t, 'v1.model-sync-plan'), (err: Error & { kind?: string }) => {
      assert.equal(err.kind, 'precondition');
      assert.match(err.message, /v1\.model-sync-plan holds application\/vnd\.oci\.image\.manifest\.v1\+json, not a model-sync scale-out document/);
      return true;
    });
  });

  it("says 'refused' where the registry allows no deletes, and the document stays", async () => {
    const t = target(noDeletes);
    const digest = await pushPartDocument(t, { tag: 'v1.model-sync-plan', artifactType: MT.partPlan, json: '{}' });
    assert.equal(await removePartDocument(t, digest), 'refused');
    assert.equal((await pullPartDocument(t, 'v1.model-sync-plan'))?.text, '{}');
  });
});
