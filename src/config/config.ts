// Resolves a step's parameters: flags, then environment, then credential files, then defaults
// (the precedence the upstream README documents; upstream's code lets credential files win over
// flags, we do not). Values are typed and validated with ajv against rules made from steps/.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import type { ParamSpec, StepContract } from '../contract/contract.js';
import { ConfigError } from '../errors.js';
import { readS3Folder, readUriFolder } from './credential-files.js';
import { DockerConfig, repositoryPath, type RegistryCredentials } from './dockerconfig.js';
import { addCredentialPair, addSecret, displayUrl } from '../util/redact.js';
import { describeServiceLink, isServiceLinkValue, SERVICE_LINK_FIX, serviceLinkOf } from './service-links.js';

export type Value = string | number | boolean;
export type Origin = 'flag' | 'env' | 'file' | 'default';

export const DEFAULT_METADATA_FOLDER = '/etc/model-metadata';

interface Resolved {
  value: Value;
  origin: Origin;
  /** Where a file value came from, for error messages. */
  file?: string;
}

export function describeParam(spec: Pick<ParamSpec, 'flag' | 'env'>): string {
  return `${spec.flag} / ${spec.env}`;
}

// Upstream's str2bool words, plus on/off, which pydantic takes for REGISTRY_IS_SECURE: every
// boolean accepts all of them (more lenient than upstream, whose other booleans refuse on/off).
const TRUE_WORDS = ['yes', 'y', 'true', 't', '1', 'on'];
const FALSE_WORDS = ['no', 'n', 'false', 'f', '0', 'off'];

/** The accepted words, as messages and --help list them. */
export const BOOLEAN_WORDS = `${TRUE_WORDS.join('/')} or ${FALSE_WORDS.join('/')}, in any case`;

/** A boolean word in any case, surrounding spaces ignored; undefined when it is none. */
export function parseBoolean(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (TRUE_WORDS.includes(t)) return true;
  if (FALSE_WORDS.includes(t)) return false;
  return undefined;
}

export class Config {
  private readonly specs: Map<string, ParamSpec>;
  private readonly dockerConfigs = new Map<string, DockerConfig | undefined>();

  constructor(
    readonly step: StepContract,
    private readonly values: Map<string, Resolved>,
  ) {
    this.specs = new Map(step.parameters.map((p) => [p.name, p]));
  }

  has(name: string): boolean {
    return this.specs.has(name);
  }

  spec(name: string): ParamSpec {
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`parameter ${name} is not part of step ${this.step.name}`);
    return spec;
  }

  describe(name: string): string {
    return describeParam(this.spec(name));
  }

  value(name: string): Value | undefined {
    this.spec(name);
    return this.values.get(name)?.value;
  }

  origin(name: string): Origin | undefined {
    return this.values.get(name)?.origin;
  }

  string(name: string): string | undefined {
    const v = this.value(name);
    return v === undefined ? undefined : String(v);
  }

  boolean(name: string): boolean {
    const v = this.value(name);
    if (typeof v !== 'boolean') throw new Error(`parameter ${name} has no boolean value`);
    return v;
  }

  integer(name: string): number {
    const v = this.value(name);
    if (typeof v !== 'number') throw new Error(`parameter ${name} has no integer value`);
    return v;
  }

  /** The value, or a ConfigError naming the flag and env var. */
  required(name: string, why?: string): string {
    const v = this.string(name);
    if (v === undefined) throw new ConfigError(`${this.describe(name)} is required${why ? ` ${why}` : ''}`);
    return v;
  }

  /** The .dockerconfigjson of one side (source or destination), when its path is set. */
  dockerConfig(side: 'source' | 'destination'): DockerConfig | undefined {
    return this.dockerConfigAt(`${side}-oci-credentials-path`);
  }

  /** The .dockerconfigjson a path setting names, loaded once. */
  private dockerConfigAt(name: string): DockerConfig | undefined {
    if (this.dockerConfigs.has(name)) return this.dockerConfigs.get(name);
    const file = this.has(name) ? this.string(name) : undefined;
    const loaded = file ? DockerConfig.load(file, this.describe(name)) : undefined;
    this.dockerConfigs.set(name, loaded);
    return loaded;
  }

  /** True when `reference` names the same registry host[:port] as the destination image. */
  onDestinationHost(reference: string): boolean {
    const destination = this.has('destination-oci-uri') ? this.string('destination-oci-uri') : undefined;
    return destination !== undefined && hostOf(destination) === hostOf(reference);
  }

  /**
   * Credentials for the base image: its own .dockerconfigjson when given; else the destination's,
   * but only when the base is on the destination's registry host (a base on another registry, such
   * as a mirror, never receives the destination's secrets); else anonymous.
   */
  baseImageCredentials(reference: string): RegistryCredentials | undefined {
    const own = 'destination-oci-base-image-credentials-path';
    if (this.has(own) && this.string(own)) return this.dockerConfigAt(own)?.lookup(reference);
    return this.onDestinationHost(reference) ? this.ociCredentials('destination', reference) : undefined;
  }

  /**
   * Credentials for an image reference on one side: the username/password settings apply to the
   * side's own registry; otherwise the side's .dockerconfigjson is searched.
   */
  ociCredentials(side: 'source' | 'destination', reference: string): RegistryCredentials | undefined {
    const user = this.has(`${side}-oci-username`) ? this.string(`${side}-oci-username`) : undefined;
    const password = this.has(`${side}-oci-password`) ? this.string(`${side}-oci-password`) : undefined;
    const sideUri = this.has(`${side}-oci-uri`) ? this.string(`${side}-oci-uri`) : undefined;
    const sameHost = !sideUri || hostOf(sideUri) === hostOf(reference);
    if (user && password && sameHost) return { username: user, password };
    const explicitKey = this.has(`${side}-oci-registry`) ? this.string(`${side}-oci-registry`) : undefined;
    return this.dockerConfig(side)?.lookup(reference, sameHost ? explicitKey : undefined);
  }

  /** Values for a debug log line, secrets masked. */
  toLogObject(): Record<string, Value> {
    const out: Record<string, Value> = {};
    for (const [name, r] of this.values) {
      out[name] = this.specs.get(name)?.secret ? '[REDACTED]' : typeof r.value === 'string' ? displayUrl(r.value) : r.value;
    }
    return out;
  }
}

function hostOf(reference: string): string {
  return repositoryPath(reference).split('/')[0] ?? '';
}

export interface ResolveInput {
  step: StepContract;
  /** Raw option values from the command line, keyed by parameter name. */
  flags: Record<string, unknown>;
  /** Default: the process environment. */
  env?: NodeJS.ProcessEnv;
}

export function resolveConfig({ step, flags, env = process.env }: ResolveInput): Config {
  const specs = new Map(step.parameters.map((p) => [p.name, p]));
  const raw = new Map<string, { text: string; origin: Origin; file?: string }>();
  const errors: string[] = [];

  // 1 and 2: flags, then environment. An empty value counts as unset (templates pass "" for "not given").
  for (const spec of step.parameters) {
    const flag = flagValue(flags, spec.name);
    if (flag !== undefined) {
      raw.set(spec.name, { text: String(flag), origin: 'flag' });
      continue;
    }
    const fromEnv = env[spec.env];
    if (fromEnv === undefined || fromEnv === '') continue;
    // Only the environment is injected: a tcp:// flag is the user's own choice.
    if (isServiceLinkValue(fromEnv)) {
      errors.push(serviceLinkRefusal(spec, fromEnv));
      continue;
    }
    raw.set(spec.name, { text: fromEnv, origin: 'env' });
  }
  if (errors.length) throw new ConfigError(errors.join('; '));

  // 3: credential files fill what flags and env left unset.
  const fill = (name: string, text: string | undefined, file: string) => {
    if (text !== undefined && specs.has(name) && !raw.has(name)) raw.set(name, { text, origin: 'file', file });
  };
  for (const side of ['source', 'destination'] as const) {
    const s3Path = raw.get(`${side}-s3-credentials-path`)?.text;
    if (s3Path) {
      const values = readS3Folder(s3Path, describeParam(specs.get(`${side}-s3-credentials-path`)!));
      for (const [suffix, value] of Object.entries(values)) fill(`${side}-aws-${suffix}`, value, s3Path);
    }
  }
  const uriPath = raw.get('source-uri-credentials-path')?.text;
  if (uriPath && specs.has('source-uri')) {
    fill('source-uri', readUriFolder(uriPath, describeParam(specs.get('source-uri-credentials-path')!)), uriPath);
  }
  const metadataFolder =
    raw.get('metadata-configmap-path')?.text ?? (existsSync(DEFAULT_METADATA_FOLDER) ? DEFAULT_METADATA_FOLDER : undefined);
  if (metadataFolder) {
    // The Model Registry UI's jobs carry these ids in the ConfigMap only.
    fill('model-artifact-id', readOptional(path.join(metadataFolder, 'ModelArtifact.id')), metadataFolder);
    fill('model-id', readOptional(path.join(metadataFolder, 'RegisteredModel.id')), metadataFolder);
  }

  // 4: defaults, then typing.
  const values = new Map<string, Resolved>();
  for (const spec of step.parameters) {
    const given = raw.get(spec.name);
    if (!given) {
      if (spec.default !== undefined) values.set(spec.name, { value: spec.default, origin: 'default' });
      continue;
    }
    const typed = coerce(spec, given.text);
    if (typeof typed === 'object') {
      const where = given.origin === 'file' ? ` (from ${given.file})` : '';
      errors.push(`${describeParam(spec)}: ${typed.error}${where}`);
      continue;
    }
    values.set(spec.name, { value: typed, origin: given.origin, ...(given.file ? { file: given.file } : {}) });
    if (spec.secret) addSecret(String(typed));
    if (typeof typed === 'string') rememberUserInfo(typed);
  }
  if (errors.length) throw new ConfigError(errors.join('; '));

  validateRules(step, values);
  for (const side of ['source', 'destination']) {
    const user = values.get(`${side}-oci-username`)?.value;
    const password = values.get(`${side}-oci-password`)?.value;
    if ((user === undefined) !== (password === undefined)) {
      const missing = user === undefined ? `${side}-oci-username` : `${side}-oci-password`;
      throw new ConfigError(`${describeParam(specs.get(missing)!)} is required together with its username/password pair`);
    }
    addCredentialPair(user as string | undefined, password as string | undefined);
  }
  return new Config(step, values);
}

function serviceLinkRefusal(spec: ParamSpec, value: string): string {
  const link = serviceLinkOf(spec.env, value) ?? {};
  const shown = spec.secret ? '' : ` ("${value.trim()}")`;
  return (
    `${describeParam(spec)}: the environment value${shown} looks like ${describeServiceLink(link)}, not a value for this setting; ` +
    `${SERVICE_LINK_FIX}, or set the value explicitly (${spec.flag}, or ${spec.env} in the container's env, which wins over service links)`
  );
}

/**
 * A password written into a URI or an image reference (`s3://user:pass@…`, `user:pass@host/repo`)
 * is a secret from the moment it is read: the debug config line, messages and records mask it.
 */
function rememberUserInfo(value: string): void {
  const m = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([^\s/:@]+):([^\s/@]+)@[^\s/@]/i.exec(value.trim());
  if (!m) return;
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  addCredentialPair(m[1], m[2]);
  addCredentialPair(decode(m[1]!), decode(m[2]!));
}

function readOptional(file: string): string | undefined {
  try {
    const v = readFileSync(file, 'utf8').trim();
    return v === '' ? undefined : v;
  } catch {
    return undefined;
  }
}

/** A parameter's value on the command line (commander keys options in camelCase); '' is not given. */
export function flagValue(flags: Record<string, unknown>, name: string): unknown {
  const camel = name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  const v = flags[camel] ?? flags[name];
  return v === '' ? undefined : v;
}

function coerce(spec: ParamSpec, text: string): Value | { error: string } {
  switch (spec.type) {
    case 'boolean': {
      const b = parseBoolean(text);
      return b ?? { error: `"${text}" is not a boolean (use ${BOOLEAN_WORDS})` };
    }
    case 'integer': {
      if (!/^-?\d+$/.test(text.trim())) return { error: `"${text}" is not an integer` };
      const n = Number.parseInt(text, 10);
      // Past 2^53 an integer is no longer exact: 99999999999999999999 must not pass as 1e20.
      if (!Number.isSafeInteger(n)) return { error: `"${text.trim()}" is out of range` };
      return n;
    }
    case 'enum': {
      const t = text.trim();
      if (!spec.enum?.includes(t)) return { error: `"${t}" is not one of ${spec.enum?.join(', ')}` };
      return t;
    }
    default:
      return text;
  }
}

const ajv = new Ajv({ allErrors: true });
const validatorCache = new Map<string, ReturnType<Ajv['compile']>>();

/** JSON schema of a step's typed values: types, enums, required and required-when rules. */
export function stepSchema(step: StepContract): Record<string, unknown> {
  const names = new Set(step.parameters.map((p) => p.name));
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  const allOf: unknown[] = [];
  for (const p of step.parameters) {
    properties[p.name] =
      p.type === 'enum'
        ? { type: 'string', enum: p.enum }
        : { type: p.type, ...(p.minimum !== undefined ? { minimum: p.minimum } : {}), ...(p.maximum !== undefined ? { maximum: p.maximum } : {}) };
    if (p.required) required.push(p.name);
    if (p.requiredWhen) {
      const conditions = Object.entries(p.requiredWhen).filter(([k]) => names.has(k));
      if (conditions.length !== Object.keys(p.requiredWhen).length) continue; // rule not applicable to this step
      const gate = step.usedWith?.[p.name]; // the rule holds only while the gate is set
      allOf.push({
        if: {
          properties: Object.fromEntries(conditions.map(([k, v]) => [k, { enum: v }])),
          required: [...conditions.map(([k]) => k), ...(gate ? [gate] : [])],
        },
        then: { required: [p.name] },
      });
    }
  }
  return { type: 'object', properties, required, ...(allOf.length > 0 ? { allOf } : {}), additionalProperties: false };
}

function validateRules(step: StepContract, values: Map<string, Resolved>): void {
  let validate = validatorCache.get(step.name);
  if (!validate) {
    validate = ajv.compile(stepSchema(step));
    validatorCache.set(step.name, validate);
  }
  const data = Object.fromEntries([...values].map(([k, r]) => [k, r.value]));
  if (validate(data)) return;
  const specs = new Map(step.parameters.map((p) => [p.name, p]));
  const messages = new Set<string>();
  for (const e of validate.errors ?? []) {
    const text = explain(e, specs, data);
    if (text) messages.add(text);
  }
  throw new ConfigError([...messages].join('; '));
}

function explain(e: ErrorObject, specs: Map<string, ParamSpec>, data: Record<string, unknown>): string | undefined {
  if (e.keyword === 'if') return undefined; // the "then" error beside it says what is missing
  if (e.keyword === 'required') {
    const name = (e.params as { missingProperty: string }).missingProperty;
    const spec = specs.get(name);
    if (!spec) return `${name} is required`;
    const when = spec.requiredWhen
      ? ' when ' + Object.entries(spec.requiredWhen).map(([k]) => `${k} is ${String(data[k])}`).join(' and ')
      : '';
    const fallback = spec.fallback ? ` (or set ${spec.fallback})` : '';
    return `${describeParam(spec)} is required${when}${fallback}`;
  }
  const name = e.instancePath.replace(/^\//, '');
  const spec = specs.get(name);
  const setting = spec ? describeParam(spec) : name;
  if (e.keyword === 'minimum' || e.keyword === 'maximum') {
    const limit = (e.params as { limit: number }).limit;
    return `${setting}: must be ${e.keyword === 'minimum' ? 'at least' : 'at most'} ${limit}, got ${String(data[name])}`;
  }
  return `${setting}: ${e.message ?? 'invalid'}`;
}
