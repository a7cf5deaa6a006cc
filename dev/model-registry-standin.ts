// A Model Registry STAND-IN for tests and local runs (not a product part): an in-memory HTTP server
// answering the v1alpha3 operations model-sync uses the way the real Go server does: ids are int32
// decimal strings, times are millisecond strings, errors are {code,message} with the server's
// texts, names are unique (models globally, versions per model, artifacts per version), create and
// update bodies refuse unknown fields (400), a PATCH without state resets it to the default,
// int_value must be an int32 string, and struct values come back as plain JSON text.
//
//   node --import tsx dev/model-registry-standin.ts --port 8080
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

export const BASE_PATH = '/api/model_registry/v1alpha3';

type Json = Record<string, unknown>;

export interface Exchange {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization?: string;
  requestBody?: unknown;
  status: number;
  responseBody?: unknown;
}

export interface Fault {
  method?: string;
  /** Matched against the path below the base path, e.g. /model_versions or /^\/model_artifacts\/\d+$/ */
  path: string | RegExp;
  /** Answer with this status and an Error body instead of serving the request. */
  status?: number;
  /** Serve the request, then drop the connection without answering (a crash after the commit). */
  dropAfterCommit?: boolean;
  /** Serve the request, then answer with this body instead of the entity (a wrong answer, e.g. [1,2,3]). */
  body?: unknown;
  times?: number;
}

export interface StandinState {
  models: Map<string, Json>;
  versions: Map<string, Json>;
  artifacts: Map<string, Json>;
  /** Every request and answer, in order (the OpenAPI test validates them). */
  exchanges: Exchange[];
  faults: Fault[];
  /** When set, requests without `Authorization: Bearer <token>` get 401. */
  requiredToken?: string;
  reset(): void;
}

export interface Standin {
  url: string;
  port: number;
  state: StandinState;
  stop(): Promise<void>;
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 409: 'Conflict', 422: 'Bad Request', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// Writable fields per body type (matched case-insensitively, as Go's encoding/json does).
const ENTITY_BASE = ['name', 'description', 'externalId', 'customProperties'];
const MODEL_FIELDS = ['owner', 'state', 'readme', 'maturity', 'language', 'tasks', 'provider', 'logo', 'license', 'licenseLink', 'libraryName'];
const VERSION_FIELDS = ['author', 'state'];
const ARTIFACT_FIELDS = ['artifactType', 'uri', 'state', 'modelFormatName', 'modelFormatVersion', 'storageKey', 'storagePath', 'serviceAccountName', 'modelSourceKind', 'modelSourceClass', 'modelSourceGroup', 'modelSourceId', 'modelSourceName'];
const BODY_FIELDS = {
  RegisteredModelCreate: [...ENTITY_BASE, ...MODEL_FIELDS],
  RegisteredModelUpdate: [...ENTITY_BASE.filter((f) => f !== 'name'), ...MODEL_FIELDS],
  ModelVersionCreate: [...ENTITY_BASE, 'registeredModelId', ...VERSION_FIELDS],
  ModelVersionUpdate: [...ENTITY_BASE.filter((f) => f !== 'name'), ...VERSION_FIELDS],
  ModelArtifactCreate: [...ENTITY_BASE, ...ARTIFACT_FIELDS],
  ModelArtifactUpdate: [...ENTITY_BASE.filter((f) => f !== 'name'), ...ARTIFACT_FIELDS],
};
const ARTIFACT_STATES = ['UNKNOWN', 'PENDING', 'LIVE', 'MARKED_FOR_DELETION', 'DELETED', 'ABANDONED', 'REFERENCE'];
const MODEL_STATES = ['LIVE', 'ARCHIVED'];
const INT32 = /^-?([1-9][0-9]{0,8}|0)$/;
const ID = /^[1-9][0-9]{0,8}$/;

/** Decodes a create/update body strictly: unknown fields are 400 (DisallowUnknownFields). */
function strictBody(raw: unknown, type: keyof typeof BODY_FIELDS): Json {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ApiError(400, 'json: cannot unmarshal body into Go value of type openapi.' + type);
  const allowed = new Map(BODY_FIELDS[type].map((f) => [f.toLowerCase(), f]));
  const out: Json = {};
  for (const [key, value] of Object.entries(raw as Json)) {
    const field = allowed.get(key.toLowerCase());
    if (!field) throw new ApiError(400, `json: unknown field "${key}"`);
    out[field] = value;
  }
  checkTypes(out, type);
  return out;
}

function checkTypes(body: Json, type: string): void {
  for (const [k, v] of Object.entries(body)) {
    if (v === null || v === undefined) continue;
    if (k === 'customProperties') body[k] = storeProperties(v);
    else if (k === 'language' || k === 'tasks') {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ApiError(400, `json: cannot unmarshal ${typeof v} into Go struct field ${type}.${k} of type []string`);
    } else if (typeof v !== 'string') throw new ApiError(400, `json: cannot unmarshal ${typeof v} into Go struct field ${type}.${k} of type string`);
  }
  if (body.state !== undefined) {
    const states = type.startsWith('ModelArtifact') ? ARTIFACT_STATES : MODEL_STATES;
    if (!states.includes(body.state as string)) throw new ApiError(400, `invalid value "${String(body.state)}" for enum state`);
  }
}

/** Validates MetadataValue maps and keeps struct values as decoded JSON text (the server's storage). */
function storeProperties(value: unknown): Json {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ApiError(400, 'json: cannot unmarshal customProperties into map[string]MetadataValue');
  const out: Json = {};
  for (const [key, v] of Object.entries(value as Json)) {
    const p = v as Json;
    const type = p?.metadataType;
    const keys = Object.keys(p ?? {}).sort().join(',');
    const bad = (why: string) => new ApiError(400, `invalid custom property ${key}: ${why}`);
    switch (type) {
      case 'MetadataStringValue':
        if (keys !== 'metadataType,string_value' || typeof p.string_value !== 'string') throw bad('expected string_value');
        out[key] = { ...p };
        break;
      case 'MetadataIntValue':
        if (keys !== 'int_value,metadataType' || typeof p.int_value !== 'string' || !INT32.test(p.int_value) || Math.abs(Number(p.int_value)) > 2147483648 || Number(p.int_value) > 2147483647) {
          throw bad(`int_value must be an int32 decimal string, got ${JSON.stringify(p.int_value)}`);
        }
        out[key] = { ...p };
        break;
      case 'MetadataDoubleValue':
        if (keys !== 'double_value,metadataType' || typeof p.double_value !== 'number') throw bad('expected a number double_value');
        out[key] = { ...p };
        break;
      case 'MetadataBoolValue':
        if (keys !== 'bool_value,metadataType' || typeof p.bool_value !== 'boolean') throw bad('expected a boolean bool_value');
        out[key] = { ...p };
        break;
      case 'MetadataStructValue': {
        if (keys !== 'metadataType,struct_value' || typeof p.struct_value !== 'string') throw bad('expected struct_value');
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.from(p.struct_value, 'base64').toString('utf8'));
        } catch {
          throw bad('struct_value is not base64 of a JSON object');
        }
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw bad('struct_value is not base64 of a JSON object');
        out[key] = { metadataType: 'MetadataStructValue', struct_value: JSON.stringify(parsed) };
        break;
      }
      case 'MetadataProtoValue':
        out[key] = { ...p };
        break;
      default:
        throw bad(`unknown metadataType ${JSON.stringify(type)}`);
    }
  }
  return out;
}

function requireId(id: string, what: string): string {
  if (!ID.test(id)) throw new ApiError(400, `invalid ${what} id ${JSON.stringify(id)}: must be a positive int32`);
  return id;
}

function createState(): StandinState {
  const state: StandinState = {
    models: new Map(),
    versions: new Map(),
    artifacts: new Map(),
    exchanges: [],
    faults: [],
    reset() {
      state.models.clear();
      state.versions.clear();
      state.artifacts.clear();
      state.exchanges.length = 0;
      state.faults.length = 0;
      delete state.requiredToken;
    },
  };
  return state;
}

export async function startStandin(opts: { port?: number; host?: string } = {}): Promise<Standin> {
  const state = createState();
  // MLMD keeps models and versions in one context table (one id sequence) and artifacts in another.
  let contextSeq = 0;
  let artifactSeq = 0;
  const now = () => String(Date.now());

  const publicArtifact = (a: Json): Json => {
    const { parentVersionId: _parent, ...rest } = a;
    return rest;
  };
  const list = (items: Json[], query: Record<string, string>) => {
    const size = query.pageSize && ID.test(query.pageSize) ? Number(query.pageSize) : items.length;
    let offset = 0;
    if (query.nextPageToken) {
      offset = Number(Buffer.from(query.nextPageToken, 'base64url').toString('utf8'));
      if (!Number.isInteger(offset) || offset < 0) throw new ApiError(400, 'invalid nextPageToken');
    }
    const page = items.slice(offset, offset + size);
    const next = offset + size < items.length ? Buffer.from(String(offset + size)).toString('base64url') : '';
    return { items: page, nextPageToken: next, pageSize: size, size: page.length };
  };
  const getModel = (id: string) => {
    const m = state.models.get(requireId(id, 'registered model'));
    if (!m) throw new ApiError(404, `no registered model found for id ${id}: not found`);
    return m;
  };
  const getVersion = (id: string) => {
    const v = state.versions.get(requireId(id, 'model version'));
    if (!v) throw new ApiError(404, `no model version found for id ${id}: not found`);
    return v;
  };
  const getArtifact = (id: string) => {
    const a = state.artifacts.get(requireId(id, 'model artifact'));
    if (!a) throw new ApiError(404, `no model artifact found for id ${id}: not found`);
    return a;
  };
  const requireName = (body: Json, field = 'name') => {
    if (body[field] === undefined || body[field] === '') throw new ApiError(422, `required field '${field}' is zero value.`);
  };
  const artifactsOf = (versionId: string) => [...state.artifacts.values()].filter((a) => a.parentVersionId === versionId);

  const createArtifact = (body: Json, versionId: string | undefined): Json => {
    const name = (body.name as string | undefined) || randomUUID();
    if (versionId && artifactsOf(versionId).some((a) => a.name === name)) {
      throw new ApiError(409, `model artifact with name ${name} already exists under model version ${versionId}: conflict`);
    }
    const t = now();
    const a: Json = { artifactType: 'model-artifact', customProperties: {}, ...body, name, state: body.state ?? 'UNKNOWN', id: String(++artifactSeq), createTimeSinceEpoch: t, lastUpdateTimeSinceEpoch: t };
    if (versionId) a.parentVersionId = versionId;
    state.artifacts.set(a.id as string, a);
    return a;
  };
  /** PATCH semantics: omitted fields kept, except state, which starts from its default. */
  const patch = (entity: Json, body: Json, defaultState: string) => {
    Object.assign(entity, body, { state: body.state ?? defaultState, lastUpdateTimeSinceEpoch: now() });
    return entity;
  };

  async function route(method: string, path: string, query: Record<string, string>, body: unknown): Promise<[number, unknown]> {
    let m: RegExpMatchArray | null;
    // --- registered models
    if (path === '/registered_models' && method === 'GET') return [200, list([...state.models.values()], query)];
    if (path === '/registered_models' && method === 'POST') {
      const b = strictBody(body, 'RegisteredModelCreate');
      requireName(b);
      if ([...state.models.values()].some((x) => x.name === b.name)) throw new ApiError(409, `registered model with name ${String(b.name)} already exists: conflict`);
      const t = now();
      const model: Json = { customProperties: {}, ...b, state: b.state ?? 'LIVE', id: String(++contextSeq), createTimeSinceEpoch: t, lastUpdateTimeSinceEpoch: t };
      state.models.set(model.id as string, model);
      return [201, model];
    }
    if (path === '/registered_model' && method === 'GET') {
      if (!query.name && !query.externalId) throw new ApiError(400, 'invalid parameters: name or externalId is required');
      const found = [...state.models.values()].filter((x) => (!query.name || x.name === query.name) && (!query.externalId || x.externalId === query.externalId));
      if (found.length !== 1) throw new ApiError(404, `no registered models found for name=${query.name ?? ''}, externalId=${query.externalId ?? ''}: not found`);
      return [200, found[0]];
    }
    if ((m = path.match(/^\/registered_models\/([^/]+)$/))) {
      const model = getModel(m[1]!);
      if (method === 'GET') return [200, model];
      if (method === 'PATCH') return [200, patch(model, strictBody(body, 'RegisteredModelUpdate'), 'LIVE')];
    }
    if ((m = path.match(/^\/registered_models\/([^/]+)\/versions$/)) && method === 'GET') {
      const model = getModel(m[1]!);
      const versions = [...state.versions.values()].filter((v) => v.registeredModelId === model.id && (!query.name || v.name === query.name));
      return [200, list(versions, query)];
    }
    // --- model versions
    if (path === '/model_versions' && method === 'GET') return [200, list([...state.versions.values()], query)];
    if (path === '/model_versions' && method === 'POST') {
      const b = strictBody(body, 'ModelVersionCreate');
      requireName(b);
      requireName(b, 'registeredModelId');
      const model = state.models.get(requireId(b.registeredModelId as string, 'registered model'));
      if (!model) throw new ApiError(404, `no registered model found for id ${String(b.registeredModelId)}: not found`);
      if ([...state.versions.values()].some((v) => v.registeredModelId === model.id && v.name === b.name)) {
        throw new ApiError(409, `model version with name ${String(b.name)} already exists for registered model ${String(model.id)}: conflict`);
      }
      const t = now();
      const version: Json = { customProperties: {}, ...b, state: b.state ?? 'LIVE', id: String(++contextSeq), createTimeSinceEpoch: t, lastUpdateTimeSinceEpoch: t };
      state.versions.set(version.id as string, version);
      return [201, version];
    }
    if (path === '/model_version' && method === 'GET') {
      if (!query.name && !query.externalId) throw new ApiError(400, 'invalid parameters: name or externalId is required');
      if (query.parentResourceId) requireId(query.parentResourceId, 'parent resource');
      const found = [...state.versions.values()].filter(
        (v) => (!query.name || v.name === query.name) && (!query.externalId || v.externalId === query.externalId) && (!query.parentResourceId || v.registeredModelId === query.parentResourceId),
      );
      if (found.length !== 1) {
        throw new ApiError(404, `no model versions found for name=${query.name ?? ''}, externalId=${query.externalId ?? ''}, parentResourceId=${query.parentResourceId ?? ''}: not found`);
      }
      return [200, found[0]];
    }
    if ((m = path.match(/^\/model_versions\/([^/]+)$/))) {
      const version = getVersion(m[1]!);
      if (method === 'GET') return [200, version];
      if (method === 'PATCH') return [200, patch(version, strictBody(body, 'ModelVersionUpdate'), 'LIVE')];
    }
    if ((m = path.match(/^\/model_versions\/([^/]+)\/artifacts$/))) {
      const version = getVersion(m[1]!);
      if (method === 'GET') {
        const items = artifactsOf(version.id as string).filter((a) => (!query.artifactType || a.artifactType === query.artifactType) && (!query.name || a.name === query.name));
        return [200, list(items.map(publicArtifact), query)];
      }
      if (method === 'POST') {
        // routed by artifactType, then decoded leniently (unknown fields ignored)
        const b = (body ?? {}) as Json;
        if (b.artifactType !== 'model-artifact') throw new ApiError(400, `unsupported artifactType ${JSON.stringify(b.artifactType)}`);
        const known = new Set(BODY_FIELDS.ModelArtifactCreate);
        const fields: Json = Object.fromEntries(Object.entries(b).filter(([k]) => known.has(k)));
        checkTypes(fields, 'ModelArtifactCreate');
        if (typeof b.id === 'string') {
          const existing = getArtifact(b.id);
          existing.parentVersionId = version.id;
          return [200, publicArtifact(patch(existing, fields, 'UNKNOWN'))];
        }
        return [201, publicArtifact(createArtifact(fields, version.id as string))];
      }
    }
    // --- model artifacts
    if (path === '/model_artifacts' && method === 'GET') return [200, list([...state.artifacts.values()].map(publicArtifact), query)];
    if (path === '/model_artifacts' && method === 'POST') return [201, publicArtifact(createArtifact(strictBody(body, 'ModelArtifactCreate'), undefined))];
    if (path === '/model_artifact' && method === 'GET') {
      if (!query.name && !query.externalId) throw new ApiError(400, 'invalid parameters: name or externalId is required');
      const found = [...state.artifacts.values()].filter(
        (a) => (!query.name || a.name === query.name) && (!query.externalId || a.externalId === query.externalId) && (!query.parentResourceId || a.parentVersionId === query.parentResourceId),
      );
      if (found.length !== 1) throw new ApiError(404, `no model artifacts found for name=${query.name ?? ''}, externalId=${query.externalId ?? ''}, parentResourceId=${query.parentResourceId ?? ''}: not found`);
      return [200, publicArtifact(found[0]!)];
    }
    if ((m = path.match(/^\/model_artifacts\/([^/]+)$/))) {
      const artifact = getArtifact(m[1]!);
      if (method === 'GET') return [200, publicArtifact(artifact)];
      if (method === 'PATCH') return [200, publicArtifact(patch(artifact, strictBody(body, 'ModelArtifactUpdate'), 'UNKNOWN'))];
    }
    throw new ApiError(404, `${method} ${BASE_PATH}${path}: route not found`);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://standin');
        const method = req.method ?? 'GET';
        const query = Object.fromEntries(url.searchParams);
        const text = Buffer.concat(chunks).toString('utf8');
        const exchange: Exchange = { method, path: url.pathname, query, status: 0, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) };
        let status: number;
        let payload: unknown;
        let drop = false;
        try {
          if (!url.pathname.startsWith(BASE_PATH + '/')) throw new ApiError(404, `${url.pathname}: route not found`);
          const sub = url.pathname.slice(BASE_PATH.length);
          let body: unknown;
          if (text) {
            try {
              body = JSON.parse(text);
            } catch (err) {
              throw new ApiError(400, `invalid JSON body: ${(err as Error).message}`);
            }
            exchange.requestBody = body;
          }
          if (state.requiredToken !== undefined && req.headers.authorization !== `Bearer ${state.requiredToken}`) throw new ApiError(401, 'Unauthorized');
          const fault = state.faults.find((f) => (!f.method || f.method === method) && (typeof f.path === 'string' ? f.path === sub : f.path.test(sub)) && (f.times ?? 1) > 0);
          if (fault) {
            fault.times = (fault.times ?? 1) - 1;
            if (fault.status) throw new ApiError(fault.status, `injected fault ${fault.status}`);
            drop = Boolean(fault.dropAfterCommit);
          }
          [status, payload] = await route(method, sub, query, body);
          if (fault && 'body' in fault) payload = fault.body;
        } catch (err) {
          status = err instanceof ApiError ? err.status : 500;
          payload = { code: STATUS_TEXT[status] ?? 'Error', message: (err as Error).message };
        }
        const out = JSON.stringify(payload);
        exchange.status = status;
        exchange.responseBody = JSON.parse(out) as unknown; // a snapshot: stored entities change later
        state.exchanges.push(exchange);
        if (drop) {
          req.socket.destroy();
          return;
        }
        res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) });
        res.end(out);
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    state,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Run directly: node --import tsx dev/model-registry-standin.ts [--port N] [--host H]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const standin = await startStandin({ port: Number(arg('--port') ?? 8080), host: arg('--host') ?? '127.0.0.1' });
  process.stdout.write(`Model Registry stand-in listening on ${standin.url}${BASE_PATH} (in memory; Ctrl-C to stop)\n`);
  process.on('SIGINT', () => void standin.stop().then(() => process.exit(0)));
  process.on('SIGTERM', () => void standin.stop().then(() => process.exit(0)));
}
