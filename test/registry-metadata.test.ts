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

  it('warns once about each unknown key, naming the folder and the closest known key, and skips it', async () => {
    const dir = await folder({ 'RegisteredModel.nmae': 'typo', 'ModelArtifact.modelFormatName': 'onnx', 'Catalog.sourceId': '{not json', 'ModelVersion.name': 'v' });
    const warnings: string[] = [];
    const m = await loadMetadata(dir, WHERE, { warn: (w) => warnings.push(w) });
    assert.equal(m.modelVersion.name, 'v');
    assert.deepEqual(m.keys, ['ModelVersion.name']);
    assert.equal(warnings.length, 3);
    assert.match(warnings.find((w) => w.includes('nmae'))!, new RegExp(`^metadata ConfigMap key RegisteredModel\\.nmae in ${dir} \\(.*MODEL_SYNC_METADATA_CONFIGMAP_PATH\\) is not known to model-sync and is ignored \\(did you mean RegisteredModel\\.name\\?\\)$`));
    assert.match(warnings.find((w) => w.includes('modelFormatName'))!, /did you mean ModelArtifact\.model_format_name\?/);
    assert.doesNotMatch(warnings.find((w) => w.includes('Catalog'))!, /did you mean/);
    await loadMetadata(dir, WHERE, { warn: (w) => warnings.push(w) });
    assert.equal(warnings.length, 3, 'a second read of the same folder (a later step of all) does not warn again');
  });

  it('refuses wrong types: null values, non-numeric ids', async () => {
    await assert.rejects(loadMetadata(await folder({ 'ModelArtifact.custom_properties': '{"x": null}' }), WHERE), configError(/ModelArtifact\.custom_properties at x: must be/));
    await assert.rejects(loadMetadata(await folder({ 'ModelArtifact.id': 'abc' }), WHERE), configError(/ModelArtifact\.id: must match pattern/));
    await assert.rejects(loadMetadata(await folder({ 'RegisteredModel.id': '0' }), WHERE), configError(/RegisteredModel\.id: must match pattern/));
  });

  it('accepts the empty values the UI writes (names, ids, author): they count as unset', async () => {
    const m = await loadMetadata(await folder({ 'RegisteredModel.name': '   ', 'ModelVersion.name': '', 'ModelVersion.author': '', 'ModelArtifact.name': '', 'RegisteredModel.id': '', 'ModelVersion.id': '', 'ModelArtifact.id': '' }), WHERE);
    assert.equal(m.registeredModel.name, '');
    assert.equal(m.modelVersion.name, '');
    assert.equal(m.modelArtifact.id, '');
  });

  it("stores typed custom properties as the UI writes them, as given, in both spellings", async () => {
    const typed = {
      License: { metadataType: 'MetadataStringValue', string_value: 'apache-2.0' },
      Provider: { metadataType: 'MetadataStringValue', string_value: 'IBM' },
      layers: { metadataType: 'MetadataIntValue', int_value: '-42' },
      score: { metadataType: 'MetadataDoubleValue', double_value: 1 },
      gated: { metadataType: 'MetadataBoolValue', bool_value: false },
      info: { metadataType: 'MetadataStructValue', struct_value: Buffer.from('{"a":1}').toString('base64') },
      blob: { metadataType: 'MetadataProtoValue', type: 'x.y', proto_value: 'AAEC' },
    };
    const text = JSON.stringify({ ...typed, plain: 'text' });
    const m = await loadMetadata(await folder({ 'RegisteredModel.customProperties': text, 'ModelVersion.custom_properties': text }), WHERE);
    for (const props of [encodeCustomProperties(m.registeredModel.customProperties)!, encodeCustomProperties(m.modelVersion.customProperties)!]) {
      assert.deepEqual(props, { ...typed, plain: { metadataType: 'MetadataStringValue', string_value: 'text' } });
    }
  });

  it('refuses an invalid typed value, naming the key and the property', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ metadataType: 'MetadataIntValue', int_value: 3 }, /int_value must be string/],
      [{ metadataType: 'MetadataIntValue', int_value: '3000000000' }, /int_value must match pattern/],
      [{ metadataType: 'MetadataIntValue', int_value: '1.5' }, /int_value must match pattern/],
      [{ metadataType: 'MetadataStringValue', string_value: 'x', extra: 1 }, /has the field extra/],
      [{ metadataType: 'MetadataStringValue' }, /must have required property 'string_value'/],
      [{ metadataType: 'MetadataBoolValue', bool_value: 'true' }, /bool_value must be boolean/],
      [{ metadataType: 'MetadataTextValue', string_value: 'x' }, /metadataType must be one of MetadataBoolValue/],
      [{ metadataType: 'MetadataStructValue', struct_value: '{"a":1}' }, /struct_value must be base64/],
    ];
    for (const [value, problem] of bad) {
      const dir = await folder({ 'ModelArtifact.customProperties': JSON.stringify({ ok: 1, License: value }) });
      await assert.rejects(loadMetadata(dir, WHERE), configError(new RegExp(`ModelArtifact\\.customProperties in ${dir} .*: property "License" is not a valid Model Registry MetadataValue: .*${problem.source}`)));
    }
  });

  it('keeps a number written with a fraction or exponent a double (1.0 too), as Python json.loads does', async () => {
    const m = await loadMetadata(await folder({ 'ModelVersion.customProperties': '{"epochs": 438, "acc": 0.95, "v": 1.0, "k": 1e3, "neg": -2.50, "nested": {"x": 1.0, "y": [2, 3.0]}}' }), WHERE);
    const props = encodeCustomProperties(m.modelVersion.customProperties)!;
    assert.deepEqual(props.epochs, { metadataType: 'MetadataIntValue', int_value: '438' });
    assert.deepEqual(props.acc, { metadataType: 'MetadataDoubleValue', double_value: 0.95 });
    assert.deepEqual(props.v, { metadataType: 'MetadataDoubleValue', double_value: 1 });
    assert.deepEqual(props.k, { metadataType: 'MetadataDoubleValue', double_value: 1000 });
    assert.deepEqual(props.neg, { metadataType: 'MetadataDoubleValue', double_value: -2.5 });
    assert.equal(Buffer.from((props.nested as { struct_value: string }).struct_value, 'base64').toString(), '{"x":1.0,"y":[2,3.0]}', 'struct values keep the numbers as written');
    await assert.rejects(loadMetadata(await folder({ 'ModelVersion.customProperties': '{"huge": 1e400}' }), WHERE), configError(/property "huge": 1e400 is beyond the range of a double/));
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
