// The metadata ConfigMap folder: one file per dot-notation key (RegisteredModel.name, ...), as a
// mounted ConfigMap volume presents it (per-key symlinks into a hidden ..<timestamp> folder via
// ..data). Every key is validated against schemas/metadata.schema.json; unknown keys, bad JSON and
// wrong types are errors that name the key, where upstream dropped them silently.
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { schemaFile } from '../contract/contract.js';
import { ConfigError } from '../errors.js';
import { parseJsonExact, type ExactJson } from './json-exact.js';
import type { ModelArtifactFields } from './types.js';

export type CustomPropertyValues = Record<string, ExactJson>;

export interface RegisteredModelMetadata {
  name?: string;
  id?: string;
  description?: string;
  owner?: string;
  customProperties?: CustomPropertyValues;
}

export interface ModelVersionMetadata {
  name?: string;
  id?: string;
  description?: string;
  author?: string;
  customProperties?: CustomPropertyValues;
}

/** ModelArtifact keys of the ConfigMap: the writable API fields (less uri, which push decides), plus name and id. */
export type ModelArtifactMetadata = Omit<ModelArtifactFields, 'uri' | 'customProperties'> & {
  name?: string;
  id?: string;
  customProperties?: CustomPropertyValues;
};

export interface Metadata {
  /** The folder read, when there was one. */
  folder?: string;
  registeredModel: RegisteredModelMetadata;
  modelVersion: ModelVersionMetadata;
  modelArtifact: ModelArtifactMetadata;
  /** The keys present, as found (for logs). */
  keys: string[];
}

export const EMPTY_METADATA: Metadata = { registeredModel: {}, modelVersion: {}, modelArtifact: {}, keys: [] };

const GROUPS = { RegisteredModel: 'registeredModel', ModelVersion: 'modelVersion', ModelArtifact: 'modelArtifact' } as const;

let validator: ValidateFunction | undefined;

export function metadataSchemaPath(): string {
  return schemaFile('metadata.schema.json');
}

async function schemaValidator(): Promise<ValidateFunction> {
  if (!validator) {
    const schema = JSON.parse(await readFile(metadataSchemaPath(), 'utf8')) as Record<string, unknown>;
    validator = new Ajv({ allErrors: true, strict: false }).compile(schema);
  }
  return validator;
}

/**
 * Reads and validates the folder. `where` names the setting that chose it, e.g.
 * "--metadata-configmap-path / MODEL_SYNC_METADATA_CONFIGMAP_PATH".
 */
export async function loadMetadata(folder: string | undefined, where: string): Promise<Metadata> {
  if (!folder) return { ...EMPTY_METADATA, keys: [] };
  const fail = (key: string, problem: string) =>
    new ConfigError(`metadata ConfigMap key ${key} in ${folder} (${where}): ${problem}`);

  let names: string[];
  try {
    names = await readdir(folder);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`metadata ConfigMap folder ${folder} (${where}) cannot be read: ${code ?? (err as Error).message}`);
  }
  const raw: Record<string, unknown> = {}; // as JSON.parse sees it, for the schema
  const exact: Record<string, unknown> = {}; // big integers kept exact, for the registry
  for (const name of names.sort()) {
    // ConfigMap volume internals: ..data (symlink) and ..2026_01_02_03_04_05.123 (the real files)
    if (name.startsWith('..')) continue;
    const file = path.join(folder, name);
    const info = await stat(file).catch(() => undefined); // follows the per-key symlinks
    if (!info) throw fail(name, 'is a dangling link');
    if (!info.isFile()) throw fail(name, 'is not a file (expected one file per key)');
    const text = (await readFile(file, 'utf8')).trim();
    if (isCustomPropertiesKey(name)) {
      const parsed = parseObject(text, (p) => fail(name, p));
      raw[name] = parsed.plain;
      exact[name] = parsed.exact;
    } else {
      raw[name] = exact[name] = text;
    }
  }

  const validate = await schemaValidator();
  if (!validate(raw)) {
    const problems = (validate.errors ?? []).map((e) => {
      if (e.keyword === 'additionalProperties') {
        const key = (e.params as { additionalProperty: string }).additionalProperty;
        return `metadata ConfigMap key ${key} is not known (see schemas/metadata.schema.json)`;
      }
      const [key, ...rest] = e.instancePath.replace(/^\//, '').split('/');
      const inner = rest.length ? ` at ${rest.map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).join('.')}` : '';
      return `metadata ConfigMap key ${key}${inner}: ${e.message ?? 'invalid'}`;
    });
    throw new ConfigError(`${[...new Set(problems)].join('; ')} (folder ${folder}, ${where})`);
  }

  const metadata: Metadata = { folder, registeredModel: {}, modelVersion: {}, modelArtifact: {}, keys: Object.keys(raw) };
  for (const [key, value] of Object.entries(exact)) {
    const dot = key.indexOf('.');
    const group = GROUPS[key.slice(0, dot) as keyof typeof GROUPS];
    const field = key.slice(dot + 1);
    const target = metadata[group] as Record<string, unknown>;
    if (isCustomPropertiesKey(key)) {
      const twin = key.endsWith('.customProperties') ? key.replace(/customProperties$/, 'custom_properties') : key.replace(/custom_properties$/, 'customProperties');
      if (twin in raw) throw fail(key, `both ${twin} and ${key} are set; keep one`);
      target.customProperties = value;
    } else {
      target[snakeToCamel(field)] = value;
    }
  }
  return metadata;
}

function isCustomPropertiesKey(key: string): boolean {
  return key.endsWith('.custom_properties') || key.endsWith('.customProperties');
}

function parseObject(text: string, fail: (problem: string) => Error): { plain: unknown; exact: ExactJson } {
  if (text === '') return { plain: {}, exact: {} };
  let plain: unknown;
  try {
    plain = JSON.parse(text); // precise syntax errors come from here
  } catch (err) {
    throw fail(`is not valid JSON (${(err as Error).message})`);
  }
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) throw fail('must be a JSON object');
  return { plain, exact: parseJsonExact(text) };
}

function snakeToCamel(name: string): string {
  return name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}
