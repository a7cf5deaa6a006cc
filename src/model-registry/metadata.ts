// The metadata ConfigMap folder: one file per dot-notation key (RegisteredModel.name, ...), as a
// mounted ConfigMap volume presents it (per-key symlinks into a hidden ..<timestamp> folder via
// ..data). Every known key is validated against schemas/metadata.schema.json; bad JSON, wrong types
// and invalid typed custom properties are errors that name the key, where upstream dropped them
// silently. A key the schema does not list is a warning and is skipped: the Model Registry UI may
// add keys in a later release, and those must not break its Jobs.
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { schemaFile } from '../contract/contract.js';
import { ConfigError } from '../errors.js';
import { closestName } from '../util/closest-name.js';
import { metadataValueProblem } from './answer-schemas.js';
import { isTypedForm } from './custom-properties.js';
import { JsonDouble, parseJsonExact, type ExactJson } from './json-exact.js';
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
  /** The known keys present, as found (for logs; unknown ones were warned about and skipped). */
  keys: string[];
}

export const EMPTY_METADATA: Metadata = { registeredModel: {}, modelVersion: {}, modelArtifact: {}, keys: [] };

const GROUPS = { RegisteredModel: 'registeredModel', ModelVersion: 'modelVersion', ModelArtifact: 'modelArtifact' } as const;

let validator: { validate: ValidateFunction; knownKeys: string[] } | undefined;
/** Unknown keys already warned about in this process (`all` reads the folder in several steps). */
const warned = new Set<string>();

export interface LoadOptions {
  /** Called once per unknown key, with the whole warning. */
  warn?: (message: string) => void;
}

export function metadataSchemaPath(): string {
  return schemaFile('metadata.schema.json');
}

async function schemaValidator(): Promise<{ validate: ValidateFunction; knownKeys: string[] }> {
  if (!validator) {
    const schema = JSON.parse(await readFile(metadataSchemaPath(), 'utf8')) as { properties: Record<string, unknown> };
    validator = { validate: new Ajv({ allErrors: true, strict: false }).compile(schema), knownKeys: Object.keys(schema.properties) };
  }
  return validator;
}

/**
 * Reads and validates the folder. `where` names the setting that chose it, e.g.
 * "--metadata-configmap-path / MODEL_SYNC_METADATA_CONFIGMAP_PATH".
 */
export async function loadMetadata(folder: string | undefined, where: string, opts: LoadOptions = {}): Promise<Metadata> {
  if (!folder) return { ...EMPTY_METADATA, keys: [] };
  const fail = (key: string, problem: string) =>
    new ConfigError(`metadata ConfigMap key ${key} in ${folder} (${where}): ${problem}`);
  const { validate, knownKeys } = await schemaValidator();

  let names: string[];
  try {
    names = await readdir(folder);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`metadata ConfigMap folder ${folder} (${where}) cannot be read: ${code ?? (err as Error).message}`);
  }
  const raw: Record<string, unknown> = {}; // as JSON.parse sees it, for the schema
  const exact: Record<string, unknown> = {}; // big integers exact, doubles marked, typed values as given: for the registry
  for (const name of names.sort()) {
    // ConfigMap volume internals: ..data (symlink) and ..2026_01_02_03_04_05.123 (the real files)
    if (name.startsWith('..')) continue;
    if (!knownKeys.includes(name)) {
      if (!warned.has(`${folder}\0${name}`)) {
        warned.add(`${folder}\0${name}`);
        const near = closestKey(name, knownKeys);
        opts.warn?.(`metadata ConfigMap key ${name} in ${folder} (${where}) is not known to model-sync and is ignored${near ? ` (did you mean ${near}?)` : ''}`);
      }
      continue;
    }
    const file = path.join(folder, name);
    const info = await stat(file).catch(() => undefined); // follows the per-key symlinks
    if (!info) throw fail(name, 'is a dangling link');
    if (!info.isFile()) throw fail(name, 'is not a file (expected one file per key)');
    const text = (await readFile(file, 'utf8')).trim();
    if (isCustomPropertiesKey(name)) {
      const parsed = parseObject(text, (p) => fail(name, p));
      raw[name] = parsed.plain;
      exact[name] = typedAsGiven(parsed, (p) => fail(name, p));
    } else {
      raw[name] = exact[name] = text;
    }
  }

  if (!validate(raw)) {
    const problems = (validate.errors ?? []).map((e) => {
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

/**
 * The exact values, with each property in the typed form (an object with `metadataType`) checked
 * against the OpenAPI MetadataValue and kept as written; a double that JSON cannot carry is refused.
 */
function typedAsGiven(parsed: { plain: unknown; exact: ExactJson }, fail: (problem: string) => Error): ExactJson {
  const plain = parsed.plain as Record<string, unknown>;
  const exact = { ...(parsed.exact as Record<string, ExactJson>) };
  for (const [property, value] of Object.entries(plain)) {
    if (isTypedForm(value)) {
      const problem = metadataValueProblem(value) ?? structProblem(value);
      if (problem) throw fail(`property ${JSON.stringify(property)} is not a valid Model Registry MetadataValue: ${problem}`);
      exact[property] = value as ExactJson;
    } else if (exact[property] instanceof JsonDouble && !Number.isFinite(exact[property].value)) {
      throw fail(`property ${JSON.stringify(property)}: ${exact[property].text} is beyond the range of a double`);
    }
  }
  return exact;
}

/** The server decodes struct_value as base64 of a JSON object (the OpenAPI says only "byte"). */
function structProblem(value: { metadataType: unknown; struct_value?: unknown }): string | undefined {
  if (value.metadataType !== 'MetadataStructValue' || typeof value.struct_value !== 'string') return undefined;
  const text = value.struct_value;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return 'struct_value must be base64 (of a JSON object)';
  try {
    const decoded: unknown = JSON.parse(Buffer.from(text, 'base64').toString('utf8'));
    if (decoded !== null && typeof decoded === 'object' && !Array.isArray(decoded)) return undefined;
  } catch {
    // reported below
  }
  return 'struct_value must be base64 of a JSON object';
}

/** The known key nearest to a misspelt one (case, `_` and camelCase ignored; at most 3 edits), if any. */
function closestKey(name: string, known: string[]): string | undefined {
  return closestName(name, known, { normalise: (k) => k.toLowerCase().replace(/_/g, ''), limit: () => 3 });
}

function snakeToCamel(name: string): string {
  return name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}
