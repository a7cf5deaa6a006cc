// Checks every success answer of Model Registry against the OpenAPI shapes of its operation
// (schemas/model-registry-answers.schema.json, generated from the spec), so that a wrong answer
// (an array for an entity, an entity without an id) fails the call instead of being trusted.
// The file is read and compiled once per process, on the first answer.
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { schemaFile } from '../contract/contract.js';
import { ANSWER_SCHEMA_FILE, CLIENT_OPERATIONS } from './operations.js';

interface AnswerSchemaFile {
  operations: Record<string, string>;
  definitions: Record<string, unknown>;
}

interface Route {
  method: string;
  pattern: RegExp;
  schema: string;
  validate: ValidateFunction;
}

/** The entities whose ids the client puts into URL paths. */
const ENTITIES = ['RegisteredModel', 'ModelVersion', 'ModelArtifact'];

/**
 * Our own rule on top of the spec (which types ids as plain strings): ids go into URL paths, so an
 * id that would change the path's meaning is invalid. `..` or `.` are resolved as path segments by
 * URL parsing; `/` and `\` split segments for servers that decode them; `?` and `#` end the path;
 * an empty id names the collection instead of one entity.
 */
export function isPathSafeId(id: string): boolean {
  return id !== '' && id !== '.' && !id.includes('..') && !/[/\\?#]/.test(id);
}

const PATH_SAFE_ID = { type: 'string', format: 'path-safe-id' };

let routes: Route[] | undefined;

export function answerSchemaPath(): string {
  return schemaFile(ANSWER_SCHEMA_FILE);
}

function readSchemaFile(): AnswerSchemaFile {
  return JSON.parse(readFileSync(answerSchemaPath(), 'utf8')) as AnswerSchemaFile;
}

function compileRoutes(): Route[] {
  const file = readSchemaFile();
  const definitions = { ...file.definitions };
  for (const name of ENTITIES) definitions[name] = { allOf: [definitions[name], { required: ['id'], properties: { id: PATH_SAFE_ID } }] };
  definitions.ModelVersion = { allOf: [definitions.ModelVersion, { properties: { registeredModelId: PATH_SAFE_ID } }] };
  const ajv = newAjv(definitions);
  return CLIENT_OPERATIONS.map((operation) => {
    const [method, template] = operation.split(' ') as [string, string];
    const schema = file.operations[operation];
    if (!schema) throw new Error(`${answerSchemaPath()} has no schema for ${operation}: run npm run generate:registry-schemas`);
    const pattern = new RegExp('^' + template.replace(/\{[^}]+\}/g, '[^/]+') + '$');
    return { method, pattern, schema, validate: ajv.compile({ $ref: `model-registry#/definitions/${schema}` }) };
  });
}

function newAjv(definitions: Record<string, unknown>): Ajv {
  const ajv = new Ajv({ allErrors: false, verbose: true, strict: true, strictTypes: false });
  // ajv-formats is CommonJS: under NodeNext its plugin is the default export's `default`
  const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv, formats: string[]) => void;
  addFormats(ajv, ['int32', 'int64', 'double']);
  // Formats the server itself does not hold to: it answers struct_value as plain JSON text, not
  // base64 ("byte"), and stores uri-typed fields as clients wrote them. Checking them would
  // refuse good answers.
  for (const unchecked of ['byte', 'uri']) ajv.addFormat(unchecked, true);
  ajv.addFormat('path-safe-id', { type: 'string', validate: isPathSafeId });
  ajv.addSchema({ $id: 'model-registry', definitions });
  return ajv;
}

let metadataValue: ValidateFunction | undefined;

/**
 * What is wrong with a custom property value in Model Registry's typed form (the OpenAPI
 * MetadataValue: `metadataType` picks the variant, each variant allows only its own fields,
 * int_value is an int32 decimal string), briefly, or undefined when it is valid.
 */
export function metadataValueProblem(value: unknown): string | undefined {
  metadataValue ??= newAjv(readSchemaFile().definitions).compile({ $ref: 'model-registry#/definitions/MetadataValue' });
  if (metadataValue(value)) return undefined;
  const errors = (metadataValue.errors ?? []).filter((e) => e.keyword !== 'if');
  return errors.slice(0, 2).map(describeValueError).join('; ');
}

function describeValueError(e: ErrorObject): string {
  const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : 'the value';
  if (e.keyword === 'additionalProperties') return `${where} has the field ${String(e.params.additionalProperty)}, which its metadataType does not allow`;
  if (e.keyword === 'enum' && e.instancePath === '/metadataType') return `metadataType must be one of ${(e.params.allowedValues as string[]).join(', ')}`;
  return `${where} ${e.message ?? 'is invalid'}`;
}

/**
 * What is wrong with a success answer of `method path` (path below the base path), briefly, or
 * undefined when it has the operation's shape.
 */
export function answerProblem(method: string, path: string, body: unknown): string | undefined {
  routes ??= compileRoutes();
  const route = routes.find((r) => r.method === method && r.pattern.test(path));
  if (!route) return `${method} ${path} is not an operation this client knows`;
  if (route.validate(body)) return undefined;
  // the if/then of a discriminator only repeats the error inside its branch
  const errors = (route.validate.errors ?? []).filter((e) => e.keyword !== 'if');
  return `not the ${route.schema} shape: ${errors.slice(0, 2).map(describeError).join('; ')}`;
}

function describeError(e: ErrorObject): string {
  const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : 'the answer';
  if (e.keyword === 'format' && e.params.format === 'path-safe-id') {
    return `${where} ${JSON.stringify(String(e.data)).slice(0, 60)} is not a usable id (it would change the URL path it goes into)`;
  }
  return `${where} ${e.message ?? 'is invalid'}`;
}
