// Model Registry REST client (v1alpha3): the operations the upload intents need, typed, with
// net's retry policy on transient faults (connection refused/reset, 408/429/5xx of net's list,
// after any Retry-After) and never on other 4xx. Every success answer is checked against its
// operation's OpenAPI shape (answer-schemas.ts) before it is used.
import { ModelSyncError, type ErrorKind } from '../errors.js';
import type { Logger } from '../log.js';
import { AgentPool, type NetworkSettings } from '../net/policy.js';
import { readBody, send, type HttpMethod, type HttpResponse } from '../net/request.js';
import { isTransientNetworkError, noteRetryAfter, TRANSIENT_HTTP_STATUS, withRetry } from '../net/retry.js';
import { redact } from '../util/redact.js';
import { answerProblem } from './answer-schemas.js';
import type { RegistryConnection } from './connection.js';
import {
  MODEL_ARTIFACT_UPDATE_FIELDS,
  type ApiErrorBody,
  type ListResponse,
  type ModelArtifact,
  type ModelArtifactCreate,
  type ModelArtifactUpdate,
  type ModelVersion,
  type ModelVersionCreate,
  type ModelVersionUpdate,
  type RegisteredModel,
  type RegisteredModelCreate,
  type RegisteredModelUpdate,
} from './types.js';

const REQUEST_TIMEOUT_MS = 60_000;
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** A non-2xx answer of the API, with the server's own message. */
export class RegistryApiError extends ModelSyncError {
  constructor(
    kind: ErrorKind,
    message: string,
    readonly status: number,
    readonly serverMessage: string,
  ) {
    super(kind, message);
    this.name = 'RegistryApiError';
  }
}

export function kindOfStatus(status: number): ErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'notFound';
  if (status === 409) return 'precondition';
  if (status === 400 || status === 422) return 'config';
  if (status >= 500) return 'transient';
  return 'internal';
}

export function isRegistryStatus(err: unknown, status: number): err is RegistryApiError {
  return err instanceof RegistryApiError && err.status === status;
}

export interface ClientOptions {
  /** The step's timeouts and retry attempts (default: 60 s, 5 attempts). */
  network?: NetworkSettings;
  log?: Logger;
  /** Attempts per request including the first (default 5). */
  attempts?: number;
  /** First backoff delay (default 500 ms, doubling). */
  baseDelayMs?: number;
}

type Query = Record<string, string | undefined>;

interface Answer {
  status: number;
  headers: HttpResponse['headers'];
  text: string;
}

export class ModelRegistryClient {
  private readonly pool: AgentPool;

  constructor(
    readonly connection: RegistryConnection,
    private readonly options: ClientOptions = {},
  ) {
    this.pool = new AgentPool({ tlsVerify: connection.verifyTls, trust: connection.trust, idleTimeoutMs: options.network?.idleTimeoutMs ?? REQUEST_TIMEOUT_MS, proxy: options.network?.proxy });
  }

  close(): void {
    this.pool.close();
  }

  // --- RegisteredModel ------------------------------------------------------------------------

  findRegisteredModel(name: string): Promise<RegisteredModel | undefined> {
    return this.orUndefined(this.request<RegisteredModel>('GET', '/registered_model', { query: { name } }));
  }

  getRegisteredModel(id: string): Promise<RegisteredModel | undefined> {
    return this.orUndefined(this.request<RegisteredModel>('GET', `/registered_models/${enc(id)}`));
  }

  createRegisteredModel(body: RegisteredModelCreate): Promise<RegisteredModel> {
    return this.request<RegisteredModel>('POST', '/registered_models', { body: pick(body, ['name', 'description', 'owner', 'customProperties', 'state']) });
  }

  updateRegisteredModel(id: string, body: RegisteredModelUpdate): Promise<RegisteredModel> {
    return this.request<RegisteredModel>('PATCH', `/registered_models/${enc(id)}`, { body: pick(body, ['description', 'owner', 'customProperties', 'state']) });
  }

  /** Versions of a model (first page only when `pageSize` is given). */
  async listRegisteredModelVersions(modelId: string, pageSize?: number): Promise<ModelVersion[]> {
    const items: ModelVersion[] = [];
    let nextPageToken: string | undefined;
    do {
      const page = await this.request<ListResponse<ModelVersion>>('GET', `/registered_models/${enc(modelId)}/versions`, {
        query: { pageSize: String(pageSize ?? 100), nextPageToken },
      });
      items.push(...page.items);
      nextPageToken = pageSize ? undefined : page.nextPageToken || undefined;
    } while (nextPageToken);
    return items;
  }

  // --- ModelVersion ---------------------------------------------------------------------------

  findModelVersion(name: string, registeredModelId: string): Promise<ModelVersion | undefined> {
    return this.orUndefined(this.request<ModelVersion>('GET', '/model_version', { query: { name, parentResourceId: registeredModelId } }));
  }

  getModelVersion(id: string): Promise<ModelVersion | undefined> {
    return this.orUndefined(this.request<ModelVersion>('GET', `/model_versions/${enc(id)}`));
  }

  createModelVersion(body: ModelVersionCreate): Promise<ModelVersion> {
    return this.request<ModelVersion>('POST', '/model_versions', {
      body: pick(body, ['name', 'registeredModelId', 'description', 'author', 'customProperties', 'state']),
    });
  }

  updateModelVersion(id: string, body: ModelVersionUpdate): Promise<ModelVersion> {
    return this.request<ModelVersion>('PATCH', `/model_versions/${enc(id)}`, { body: pick(body, ['description', 'author', 'customProperties', 'state']) });
  }

  // --- ModelArtifact --------------------------------------------------------------------------

  /** The model artifacts of a version, all pages. */
  async listModelVersionArtifacts(versionId: string): Promise<ModelArtifact[]> {
    const items: ModelArtifact[] = [];
    let nextPageToken: string | undefined;
    do {
      const page = await this.request<ListResponse<ModelArtifact>>('GET', `/model_versions/${enc(versionId)}/artifacts`, {
        query: { artifactType: 'model-artifact', pageSize: '100', nextPageToken },
      });
      items.push(...page.items.filter((a) => a.artifactType === 'model-artifact'));
      nextPageToken = page.nextPageToken || undefined;
    } while (nextPageToken);
    return items;
  }

  createModelVersionArtifact(versionId: string, body: ModelArtifactCreate): Promise<ModelArtifact> {
    return this.request<ModelArtifact>('POST', `/model_versions/${enc(versionId)}/artifacts`, {
      body: pick(body, ['artifactType', 'name', 'state', ...MODEL_ARTIFACT_UPDATE_FIELDS]),
    });
  }

  getModelArtifact(id: string): Promise<ModelArtifact | undefined> {
    return this.orUndefined(this.request<ModelArtifact>('GET', `/model_artifacts/${enc(id)}`));
  }

  /** PATCH with only ModelArtifactUpdate fields (the server rejects name, id and unknown keys). */
  updateModelArtifact(id: string, body: ModelArtifactUpdate): Promise<ModelArtifact> {
    return this.request<ModelArtifact>('PATCH', `/model_artifacts/${enc(id)}`, { body: pick(body, ['state', ...MODEL_ARTIFACT_UPDATE_FIELDS]) });
  }

  // --- transport ------------------------------------------------------------------------------

  private async orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
    try {
      return await p;
    } catch (err) {
      if (isRegistryStatus(err, 404)) return undefined;
      throw err;
    }
  }

  async request<T>(method: string, path: string, opts: { query?: Query; body?: unknown } = {}): Promise<T> {
    const url = new URL(this.connection.baseUrl + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const what = `Model Registry ${method} ${url.pathname}${url.search}`;
    const log = this.options.log;
    const answer = await withRetry(
      async () => {
        let res: Answer;
        try {
          res = await this.exchange(method as HttpMethod, url, body);
        } catch (err) {
          // A refused certificate: net's one-line config error, which names the settings.
          if (err instanceof ModelSyncError) throw new ModelSyncError(err.kind, `${what}: ${err.message}`, { cause: err });
          const transient = isTransientNetworkError(err);
          const tls = /CERT|SSL|TLS|SELF_SIGNED/i.test((err as NodeJS.ErrnoException).code ?? '');
          const hint = tls ? ' (check --registry-custom-ca / --registry-is-secure)' : '';
          throw new ModelSyncError(transient ? 'transient' : tls ? 'config' : 'internal', `${what}: ${networkCause(err)}${hint}`, { cause: err });
        }
        if (TRANSIENT_HTTP_STATUS.has(res.status)) throw noteRetryAfter(this.apiError(what, res.status, res.text), res.headers);
        return res;
      },
      {
        attempts: this.options.attempts ?? this.options.network?.retryAttempts ?? 5,
        baseDelayMs: this.options.baseDelayMs ?? 500,
        ...(log ? { log } : {}),
        what,
      },
    );
    log?.debug({ method, url: url.pathname + url.search, status: answer.status }, 'Model Registry call');
    if (answer.status < 200 || answer.status > 299) throw this.apiError(what, answer.status, answer.text);
    // An answer of the wrong shape is a server or proxy fault, not ours: transient, not retried
    // here (a POST may have been committed), so the step fails and its re-run looks again.
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.text);
    } catch {
      throw new ModelSyncError('transient', `${what}: invalid answer (HTTP ${answer.status}): the body is not JSON: ${JSON.stringify(redact(answer.text.slice(0, 100)))}`);
    }
    const problem = answerProblem(method, path, parsed);
    if (problem) throw new ModelSyncError('transient', `${what}: invalid answer (HTTP ${answer.status}): ${problem}`);
    return parsed as T;
  }

  private apiError(what: string, status: number, text: string): RegistryApiError {
    let serverMessage = text.trim().slice(0, 500);
    try {
      const parsed = JSON.parse(text) as Partial<ApiErrorBody>;
      if (typeof parsed.message === 'string') serverMessage = parsed.message;
    } catch {
      // not the {code,message} shape: keep the raw text
    }
    const hint = status === 401 || status === 403 ? ' (check --registry-user-token or the token file)' : '';
    return new RegistryApiError(kindOfStatus(status), `${what}: HTTP ${status}: ${serverMessage || '(empty body)'}${hint}`, status, serverMessage);
  }

  private async exchange(method: HttpMethod, url: URL, body: Buffer | undefined): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body) headers['content-type'] = 'application/json';
    if (this.connection.token) headers.authorization = `Bearer ${this.connection.token}`;
    const res = await send({ method, url, headers, ...(body ? { body } : {}) }, this.pool);
    return { status: res.status, headers: res.headers, text: (await readBody(res, MAX_ANSWER_BYTES)).toString('utf8') };
  }
}

function networkCause(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const message = (err as Error).message ?? String(err);
  return code && !message.includes(code) ? `${code} ${message}` : message;
}

/** Ids go into paths; anything odd is escaped so the server answers 400 rather than a wrong route. */
function enc(id: string): string {
  return encodeURIComponent(id);
}

/** Copies only the listed keys with defined values: unknown keys make the server answer 400. */
function pick<T extends object>(body: T, keys: readonly string[]): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = (body as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = v;
  }
  return out as Partial<T>;
}
