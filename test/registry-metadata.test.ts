// The metadata ConfigMap folder: dot-notation keys, both custom-property spellings, the ConfigMap
// volume layout, lists and big integers, and errors that name the key.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { ModelSyncError } from '../src/errors.js';
import { encodeCustomProperties } from '../src/model-registry/custom-properties.js';
import { loadMetadata } from '../src/model-registry/metadata.js';
import { metadataFolder, SAMPLE_CREATE_MODEL } from './support/model-registry.js';

const WHERE = '--metadata-configmap-path / MODEL_SYNC_METADATA_CONFIGMAP_PATH';
const folders: string[] = [];
async function folder(files: Record<string, string>, volume = false): Promise<string> {
  const dir = await metadataFolder(files, { volume });
  folders.push(dir);
  return dir;
}
after(async () => {
  for (const d of folders) await rm(d, { recursive: true, force: true });
});

function configError(pattern: RegExp) {
  return (err: Error) => {
    assert.ok(err instanceof ModelSyncError && err.kind === 'config', `expected a config error, got ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('metadata ConfigMap', () => {
  it('reads the upstream sample keys, trimmed, into the three groups', async () => {
    const m = await loadMetadata(await folder(SAMPLE_CREATE_MODEL), WHERE);
    assert.equal(m.registeredModel.name, 'sentiment');
    assert.equal(m.registeredModel.description, 'A sentiment model.\nTrained on text.');
    assert.equal(m.modelVersion.author, 'Jane Smith');
    assert.equal(m.modelArtifact.modelFormatName, 'onnx');
    assert.equal(m.modelArtifact.modelSourceKind, 'transfer_job');
    assert.deepEqual(m.registeredModel.customProperties, { project: 'sentiment-analysis-v2', team: 'nlp-research' });
  });

  it('reads a mounted ConfigMap volume (..data symlink, timestamped folder, per-key links)', async () => {
    const m = await loadMetadata(await folder({ 'RegisteredModel.name': 'vol', 'ModelVersion.name': '2.0' }, true), WHERE);
    assert.equal(m.registeredModel.name, 'vol');
    assert.equal(m.modelVersion.name, '2.0');
    assert.deepEqual(m.keys.sort(), ['ModelVersion.name', 'RegisteredModel.name']);
  });

  it("accepts the UI's camelCase customProperties, ModelArtifact.description and the ids", async () => {
    const m = await loadMetadata(
      await folder({
        'ModelVersion.customProperties': '{"a": "b"}',
        'ModelArtifact.customProperties': '{}',
        'ModelArtifact.description': 'from the UI',
        'ModelArtifact.id': '7',
        'RegisteredModel.id': '3',
        'ModelVersion.id': '5',
      }),
      WHERE,
    );
    assert.deepEqual(m.modelVersion.customProperties, { a: 'b' });
    assert.equal(m.modelArtifact.description, 'from the UI');
    assert.equal(m.modelArtifact.id, '7');
    assert.equal(m.registeredModel.id, '3');
  });

  it('turns lists into struct values and keeps big integers exact', async () => {
    const m = await loadMetadata(await folder({ 'ModelArtifact.custom_properties': '{"langs": ["en", "fr"], "big": 98765432109876543210, "n": 5000000000}' }), WHERE);
    const props = encodeCustomProperties(m.modelArtifact.customProperties)!;
    assert.equal(props.langs?.metadataType, 'MetadataStructValue');
    assert.equal(Buffer.from((props.langs as { struct_value: string }).struct_value, 'base64').toString(), '{"langs":["en","fr"]}');
    assert.deepEqual(props.big, { metadataType: 'MetadataStringValue', string_value: '98765432109876543210' });
    assert.deepEqual(props.n, { metadataType: 'MetadataDoubleValue', double_value: 5000000000 });
  });

  it('refuses bad JSON naming the key and the folder setting', async () => {
    const dir = await folder({ 'ModelVersion.custom_properties': '{"a": ' });
    await assert.rejects(loadMetadata(dir, WHERE), configError(/ModelVersion\.custom_properties in .*MODEL_SYNC_METADATA_CONFIGMAP_PATH.*is not valid JSON/));
  });

  it('refuses custom properties that are not an object', async () => {
    await assert.rejects(loadMetadata(await folder({ 'ModelVersion.custom_properties': '["a"]' }), WHERE), configError(/ModelVersion\.custom_properties in .*must be a JSON object/));
  });

  it('refuses unknown keys instead of dropping them', async () => {
    await assert.rejects(loadMetadata(await folder({ 'RegisteredModel.nmae': 'typo' }), WHERE), configError(/RegisteredModel\.nmae is not known/));
    await assert.rejects(loadMetadata(await folder({ 'ModelArtifact.uri': 'x' }), WHERE), configError(/ModelArtifact\.uri is not known/));
  });

  it('refuses wrong types: null values, non-numeric ids, empty names', async () => {
    await assert.rejects(loadMetadata(await folder({ 'ModelArtifact.custom_properties': '{"x": null}' }), WHERE), configError(/ModelArtifact\.custom_properties at x: must be/));
    await assert.rejects(loadMetadata(await folder({ 'ModelArtifact.id': 'abc' }), WHERE), configError(/ModelArtifact\.id: must match pattern/));
    await assert.rejects(loadMetadata(await folder({ 'RegisteredModel.name': '   ' }), WHERE), configError(/RegisteredModel\.name: must NOT have fewer than 1 characters/));
  });

  it('refuses both spellings of the same custom properties', async () => {
    await assert.rejects(
      loadMetadata(await folder({ 'ModelVersion.custom_properties': '{}', 'ModelVersion.customProperties': '{}' }), WHERE),
      configError(/both ModelVersion\.(custom_properties|customProperties) and/),
    );
  });

  it('reports an unreadable folder', async () => {
    await assert.rejects(loadMetadata('/nonexistent/model-metadata', WHERE), configError(/\/nonexistent\/model-metadata.*cannot be read/));
  });
});
