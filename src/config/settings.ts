// One typed settings object per step run, made from the resolved parameters. This is the only
// place that knows parameter names besides config.ts: the step runners ask for typed sections
// (source, destination, Model Registry connection, tuning) and hand plain options to the library
// modules. Sections are built when asked for, so a step fails on what it uses, in the order it
// uses it, and names the flag and env var of the setting at fault.
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { levelFromUpstream } from '../log.js';
import { registryBaseUrl, SERVICE_ACCOUNT_TOKEN_PATH, type RegistryConnection } from '../model-registry/connection.js';
import type { Intent, PlanInputs } from '../model-registry/plan.js';
import type { NetworkSettings } from '../net/policy.js';
import type { ProxySettings } from '../net/proxy-rules.js';
import type { EnvironmentCa, TlsTrust } from '../net/tls-trust.js';
import type { ImageEndpoint } from '../oci/credentials.js';
import type { LayerBudget } from '../oci/layer-plan.js';
import type { ModelPackDescription } from '../oci/modelpack.js';
import { parsePartSelector } from '../oci/part-plan.js';
import { parseImageLocation } from '../oci/reference.js';
import type { S3Settings } from '../s3/client.js';
import type { RangedTuning } from '../s3/download.js';
import type { ArchiveLimits } from '../sources/archive-limits.js';
import type { AzureEnv } from '../sources/azure-uri.js';
import type { UriSource } from '../sources/uri.js';
import { displayUrl } from '../util/display-url.js';
import { fnmatchRegExp, type PathPatterns } from '../util/fnmatch.js';
import { addSecret, redact } from '../util/redact.js';
import type { OciFormat, SettingsSnapshot } from '../workspace/records.js';
import { DEFAULT_METADATA_FOLDER, type Config } from './config.js';
import { proxyFromEnvironment } from './proxy-env.js';
import { incompleteSigningWarning, resolveSigning, type SigningSettings } from './signing.js';
import { certsDir, environmentCa, readPemBundle } from './tls-files.js';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
/** The S3 region when neither a setting nor a credentials file names one. */
export const DEFAULT_REGION = 'us-east-1';

export type SourceSettings = { type: 's3'; s3: S3Settings } | { type: 'oci'; image: ImageEndpoint } | { type: 'uri'; uri: UriSource };
export type DestinationSettings = { type: 's3'; s3: S3Settings } | { type: 'oci'; image: ImageEndpoint };

/** What goes to the registry: the format and the ModelPack description (ociOutput()). */
export interface OciOutput {
  format: OciFormat;
  /** How the format setting is named in messages. */
  setting: string;
  /** What the ModelPack config's descriptor says: name and version from the destination, createdAt when given. */
  about: ModelPackDescription;
}

/** What the Model Registry steps need: where the server is, and the inputs of the plan. */
export interface ModelRegistrySettings {
  connection: RegistryConnection;
  /** pino level of the client's own log lines (upstream's numeric levels translated). */
  logLevel: string;
  plan: PlanInputs;
}

/** Environment variables with their own meaning outside MODEL_SYNC_* (upstream and Hugging Face conventions). */
export interface ForeignEnv {
  env: NodeJS.ProcessEnv;
  /** The pod's service-account token path (tests point it elsewhere). */
  serviceAccountTokenPath?: string;
}

/** Flag / env var names of what holds a side's credentials and names its bucket. */
export interface SideSettingNames {
  ociCredentials: string;
  s3Credentials: string;
  bucket: string;
  key: string;
}

export interface PathSettingNames {
  source: SideSettingNames;
  destination: SideSettingNames;
  baseImageCredentials: string;
}

export class StepSettings {
  private signingDecision: SigningSettings | undefined;
  private proxyDecision: { proxy: ProxySettings | undefined } | undefined;
  private environmentCaFiles: EnvironmentCa | undefined;

  constructor(
    private readonly config: Config,
    private readonly foreign: ForeignEnv = { env: process.env },
  ) {}

  get step(): string {
    return this.config.step.name;
  }

  get storagePath(): string {
    return this.config.required('storage-path');
  }

  /** How the storage path setting is named in messages. */
  get storagePathSetting(): string {
    return this.config.describe('storage-path');
  }

  get resultsDir(): string | undefined {
    return this.config.has('results-dir') ? this.config.string('results-dir') : undefined;
  }

  get logLevel(): string {
    return this.config.string('log-level') ?? 'info';
  }

  get progressIntervalSeconds(): number {
    return this.config.has('progress-interval') ? this.config.integer('progress-interval') : 0;
  }

  // Integer bounds (minimum, maximum) are declared in steps/parameters.yaml and checked by
  // resolveConfig, so the values below are in range.

  /** Time the CLI gives itself after SIGTERM to clean up and report, and how the setting is named. */
  terminationGracePeriod(): { seconds: number; setting: string } {
    const name = 'termination-grace-period';
    return { seconds: this.config.integer(name), setting: this.config.describe(name) };
  }

  /** Timeouts, retries and proxies shared by every HTTP client of this step (net/policy.ts). */
  network(): NetworkSettings {
    const proxy = this.proxy();
    return { idleTimeoutMs: this.config.integer('network-timeout') * 1000, retryAttempts: this.config.integer('retry-attempts'), ...(proxy ? { proxy } : {}) };
  }

  /** HTTP_PROXY, HTTPS_PROXY and NO_PROXY (either case), read once per step; undefined goes direct. */
  proxy(): ProxySettings | undefined {
    this.proxyDecision ??= { proxy: proxyFromEnvironment(this.foreign.env) };
    return this.proxyDecision.proxy;
  }

  fetchConcurrency(): number {
    return this.config.integer('fetch-concurrency');
  }

  /** 1 for a step without the setting (plan pushes one small document, through the part target). */
  pushConcurrency(): number {
    return this.config.has('push-concurrency') ? this.config.integer('push-concurrency') : 1;
  }

  /**
   * Whether `all` may stream the model from the source straight into the destination (no copy on
   * the volume). Only a wish: the orchestrator still stages when the source or destination cannot
   * stream. False for the steps that do not take the setting.
   */
  streaming(): boolean {
    return this.config.has('stream') && this.config.boolean('stream');
  }

  /** How the streaming setting is named in the log line that says why `all` staged (undefined outside `all`). */
  streamingSetting(): string | undefined {
    return this.config.has('stream') ? this.config.describe('stream') : undefined;
  }

  rangedTuning(): RangedTuning {
    return { partSize: this.config.integer('s3-part-size'), threshold: this.config.integer('s3-ranged-threshold') };
  }

  /** How far an archive may expand when fetch unpacks it. */
  archiveLimits(): ArchiveLimits {
    return {
      maxRatio: this.config.integer('archive-max-ratio'),
      maxBytes: this.config.integer('archive-max-bytes'),
      ratioSetting: this.config.describe('archive-max-ratio'),
      bytesSetting: this.config.describe('archive-max-bytes'),
    };
  }

  /**
   * The include / exclude patterns of the source (undefined when the step takes none or none is
   * set). Several patterns come as a JSON list or one per line, never comma-separated: a comma
   * belongs to patterns such as `*.{a,b}`.
   */
  sourcePatterns(): PathPatterns | undefined {
    if (!this.config.has('source-include')) return undefined;
    const include = patternList(this.config.string('source-include'), this.config.describe('source-include'));
    const exclude = patternList(this.config.string('source-exclude'), this.config.describe('source-exclude'));
    if (include.length === 0 && exclude.length === 0) return undefined;
    return { include, exclude, includeSetting: this.config.describe('source-include'), excludeSetting: this.config.describe('source-exclude') };
  }

  /** The destination type when this step takes one (`all` packages only for oci). */
  destinationType(): 'oci' | 's3' | undefined {
    return this.config.has('destination-type') ? (this.config.string('destination-type') as 'oci' | 's3' | undefined) : undefined;
  }

  /**
   * The source type alone, before source() asks for that type's settings: plan and push --part
   * refuse an OCI source without taking its source-oci-* settings.
   */
  sourceType(): 's3' | 'oci' | 'uri' {
    return this.config.required('source-type') as 's3' | 'oci' | 'uri';
  }

  /** How the source type is named in messages (`--flag / MODEL_SYNC_ENV`). */
  sourceTypeSetting(): string {
    return this.config.describe('source-type');
  }

  source(): SourceSettings {
    const type = this.config.required('source-type');
    if (type === 's3') return { type, s3: this.s3('source') };
    if (type === 'oci') return { type, image: this.image('source', 'source-oci-uri', this.config.required('source-oci-uri', 'source-type is oci')) };
    const hfToken = this.foreign.env.HF_TOKEN || this.foreign.env.HUGGING_FACE_HUB_TOKEN || undefined;
    addSecret(hfToken);
    const uri = this.config.required('source-uri', 'when --source-type is uri').trim();
    const setting = this.config.describe('source-uri');
    checkWebUri(uri, setting);
    return {
      type: 'uri',
      uri: {
        uri,
        setting,
        pvcMountRoot: this.config.string('pvc-mount-root') ?? '/mnt/pvc',
        hf: { endpoint: (this.foreign.env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT).replace(/\/+$/, ''), ...(hfToken ? { token: hfToken } : {}) },
        trust: this.bundleTrust('source-uri-ca-bundle'),
        azure: this.azureEnv(),
        // Only fetch and push --part read bytes; plan lists, and takes no part size.
        ...(this.config.has('s3-part-size') ? { ranged: this.rangedTuning() } : {}),
      },
    };
  }

  /** Azure Blob settings from KServe's environment names; AZ_* win over AZURE_* as in KServe. */
  private azureEnv(): AzureEnv {
    const env = this.foreign.env;
    const pick = (...names: string[]): string | undefined => names.map((n) => env[n]).find((v) => v) || undefined;
    const found: AzureEnv = {
      accessKey: pick('AZURE_STORAGE_ACCESS_KEY'),
      clientId: pick('AZ_CLIENT_ID', 'AZURE_CLIENT_ID'),
      tenantId: pick('AZ_TENANT_ID', 'AZURE_TENANT_ID'),
      clientSecret: pick('AZ_CLIENT_SECRET', 'AZURE_CLIENT_SECRET'),
      authorityHost: pick('AZURE_AUTHORITY_HOST'),
      blobEndpoint: pick('AZURE_STORAGE_BLOB_ENDPOINT'),
    };
    addSecret(found.accessKey);
    addSecret(found.clientSecret);
    return Object.fromEntries(Object.entries(found).filter(([, v]) => v !== undefined)) as AzureEnv;
  }

  destination(): DestinationSettings {
    const type = this.config.required('destination-type');
    if (type === 's3') return { type, s3: this.s3('destination') };
    return { type: 'oci', image: this.image('destination', 'destination-oci-uri', this.config.required('destination-oci-uri', 'destination-type is oci')) };
  }

  /**
   * The destination as this step names it (an image reference, or s3://bucket/key), when it takes
   * one: a push result is bound to it. Credentials in it are masked.
   */
  destinationTarget(): string | undefined {
    if (!this.config.has('destination-type')) return undefined;
    const d = this.destination();
    return redact(d.type === 'oci' ? d.image.reference : `s3://${d.s3.bucket}/${d.s3.key}`);
  }

  /** How the S3 destination's bucket and key prefix settings are named (scale-out records beside the prefix). */
  destinationS3SettingNames(): { bucket: string; key: string } {
    return { bucket: this.config.describe('destination-aws-bucket'), key: this.config.describe('destination-aws-key') };
  }

  /**
   * The modelcar's base image, with its own credentials and TLS setting when given; the
   * destination's apply only when the base is on the destination's registry host.
   */
  baseImage(): ImageEndpoint {
    const config = this.config;
    const reference = config.string('destination-oci-base-image');
    if (!reference) throw new ConfigError(`${config.describe('destination-oci-base-image')} is empty: the modelcar needs a base image with a shell`);
    return this.baseImageEndpoint(reference, config.describe('destination-oci-base-image'));
  }

  /**
   * The base image `plan` pinned by digest (scale-out: assemble builds on it), reached with the
   * base image's credentials and TLS settings of this step.
   */
  pinnedBaseImage(reference: string): ImageEndpoint {
    return this.baseImageEndpoint(reference, 'the base image pinned by plan');
  }

  private baseImageEndpoint(reference: string, setting: string): ImageEndpoint {
    const config = this.config;
    parseImageLocation(reference, setting);
    const ownTls = 'destination-oci-base-image-tls-verify';
    const tlsOwn = config.has(ownTls) && config.origin(ownTls) !== 'default';
    const tlsName = tlsOwn || !config.onDestinationHost(reference) ? ownTls : 'destination-oci-enable-tls-verify';
    // The same rule for CAs: its own certs.d, else the destination's for the destination's host only.
    const ownDir = 'destination-oci-base-image-cert-dir';
    const dirName = (config.has(ownDir) && config.string(ownDir)) || !config.onDestinationHost(reference) ? ownDir : 'destination-oci-cert-dir';
    const tlsSetting = config.has(tlsName) ? config.describe(tlsName) : config.describe('destination-oci-enable-tls-verify');
    return {
      reference,
      setting,
      credentials: () => config.baseImageCredentials(reference),
      tlsVerify: config.has(tlsName) ? config.boolean(tlsName) : true,
      tlsSetting,
      trust: this.certsDirTrust(dirName, tlsSetting),
    };
  }

  /** plan: how many parts to split the model into (required there). */
  partCount(): number {
    if (!this.config.has('parts') || this.config.string('parts') === undefined) {
      throw new ConfigError(`${this.config.describe('parts')} is required: how many parts push the model at once`);
    }
    return this.config.integer('parts');
  }

  /**
   * preflight: the model will move in parts that stage nothing (parts given), so only the base
   * image needs room on this volume.
   */
  scaleOut(): boolean {
    return this.config.has('parts') && this.config.string('parts') !== undefined;
  }

  /** push: the part of the plan this run pushes (`--part I/N`), or undefined for a whole push. */
  partSelector(): { index: number; parts: number } | undefined {
    if (!this.config.has('part')) return undefined;
    const text = this.config.string('part')?.trim();
    if (!text) return undefined;
    try {
      return parsePartSelector(text);
    } catch (err) {
      throw new ConfigError(`${this.config.describe('part')}: ${(err as Error).message}`);
    }
  }

  /** How the part selector is named in messages (`--flag / MODEL_SYNC_ENV`). */
  partSetting(): string {
    return this.config.describe('part');
  }

  /** How many layers the modelcar may have (base included), and which files keep one of their own. */
  modelcarLayerBudget(): LayerBudget {
    return {
      maxLayers: this.config.integer('modelcar-max-layers'),
      ownLayerBytes: this.config.integer('modelcar-own-layer-bytes'),
      maxLayersSetting: this.config.describe('modelcar-max-layers'),
    };
  }

  /**
   * What goes to the registry (--destination-oci-format; modelcar in steps without it) and the
   * ModelPack config's creation time when one is given (RFC 3339, checked here).
   */
  ociOutput(): OciOutput {
    const config = this.config;
    const format = (config.has('destination-oci-format') ? config.string('destination-oci-format') : undefined) ?? 'modelcar';
    const setting = config.has('destination-oci-format') ? config.describe('destination-oci-format') : 'destination-oci-format';
    const raw = config.has('modelpack-created-at') ? config.string('modelpack-created-at')?.trim() : undefined;
    let createdAt: string | undefined;
    if (raw) {
      const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;
      if (!rfc3339.test(raw) || Number.isNaN(Date.parse(raw))) {
        throw new ConfigError(`${config.describe('modelpack-created-at')} is "${raw}", not an RFC 3339 date-time such as 2026-01-31T12:00:00Z`);
      }
      createdAt = raw;
    }
    // The ModelPack descriptor names the model as the destination does: its last repository
    // component, and the tag as the version (unless latest).
    const uri = config.has('destination-oci-uri') ? config.string('destination-oci-uri') : undefined;
    const location = uri ? parseImageLocation(uri, config.describe('destination-oci-uri')) : undefined;
    const name = location?.kind === 'registry' ? location.ref.repository.slice(location.ref.repository.lastIndexOf('/') + 1) : undefined;
    const tag = location?.kind === 'registry' ? location.ref.tag : location?.tag;
    const version = tag && tag !== 'latest' ? tag : undefined;
    return { format: format as OciFormat, setting, about: { ...(name ? { name } : {}), ...(version ? { version } : {}), ...(createdAt ? { createdAt } : {}) } };
  }

  /** Image references this step will use, whose syntax preflight checks before any byte moves. */
  imageReferences(): Array<{ reference: string; setting: string }> {
    const out: Array<{ reference: string; setting: string }> = [];
    const add = (name: string) => {
      const reference = this.config.has(name) ? this.config.string(name) : undefined;
      if (reference) out.push({ reference, setting: this.config.describe(name) });
    };
    if (this.destinationType() === 'oci') {
      add('destination-oci-uri');
      add('destination-oci-base-image');
    }
    if (this.config.has('source-type') && this.config.string('source-type') === 'oci') add('source-oci-uri');
    return out;
  }

  /** The settings preflight names when a probe of the source, destination or base image fails. */
  pathSettingNames(): PathSettingNames {
    const d = (name: string) => this.config.describe(name);
    const oci = (side: string) => `${d(`${side}-oci-username`)} and ${d(`${side}-oci-password`)}, or ${d(`${side}-oci-credentials-path`)}`;
    const s3 = (side: string) => `${d(`${side}-aws-access-key-id`)} and ${d(`${side}-aws-secret-access-key`)}, or ${d(`${side}-s3-credentials-path`)}`;
    return {
      source: { ociCredentials: oci('source'), s3Credentials: s3('source'), bucket: d('source-aws-bucket'), key: d('source-aws-key') },
      destination: { ociCredentials: oci('destination'), s3Credentials: s3('destination'), bucket: d('destination-aws-bucket'), key: d('destination-aws-key') },
      baseImageCredentials: d('destination-oci-base-image-credentials-path'),
    };
  }

  /** The URI register records: the setting, else what push wrote. */
  modelUri(): { value: string | undefined; setting: string; pinned: boolean } {
    const given = this.config.string('model-uri');
    const pinned = this.config.has('model-uri-pinned') && this.config.boolean('model-uri-pinned');
    return { value: given === undefined ? undefined : withoutUserInfo(given), setting: this.config.describe('model-uri'), pinned };
  }

  failureReason(): string | undefined {
    return this.config.string('failure-reason');
  }

  modelRegistry(log?: { warn: (msg: string) => void }): ModelRegistrySettings {
    return { connection: this.connection(log), logLevel: levelFromUpstream(this.config.string('registry-log-level')), plan: this.planInputs() };
  }

  /**
   * Whether this run would sign, decided as upstream's job decides it (config/signing.ts). Upstream's
   * warning about an incomplete SIGSTORE_* set is logged once per run, however many parts ask.
   */
  signing(log?: { warn: (msg: string) => void }): SigningSettings {
    if (!this.signingDecision) {
      const sign = this.config.value('sign');
      this.signingDecision = resolveSigning({
        sign: typeof sign === 'boolean' ? sign : undefined,
        signSetting: this.config.describe('sign'),
        identityTokenPath: this.config.string('signing-identity-token-path'),
        env: this.foreign.env,
      });
      const warning = incompleteSigningWarning(this.signingDecision);
      if (warning) log?.warn(warning);
    }
    return this.signingDecision;
  }

  /** The values this step ran with, secrets masked: stored beside a result. */
  snapshot(): SettingsSnapshot {
    const out: SettingsSnapshot = {};
    for (const [name, value] of Object.entries(this.config.toLogObject())) out[name] = typeof value === 'string' ? redact(value) : value;
    return out;
  }

  // --- sections -------------------------------------------------------------------------------

  private image(side: 'source' | 'destination', name: string, reference: string): ImageEndpoint {
    const setting = this.config.describe(name);
    parseImageLocation(reference, setting); // a syntax error names the setting now, before any work
    return {
      reference,
      setting,
      credentials: () => this.config.ociCredentials(side, reference),
      tlsVerify: this.config.boolean(`${side}-oci-enable-tls-verify`),
      tlsSetting: this.config.describe(`${side}-oci-enable-tls-verify`),
      trust: this.certsDirTrust(`${side}-oci-cert-dir`, this.config.describe(`${side}-oci-enable-tls-verify`)),
    };
  }

  /** SSL_CERT_FILE and NODE_EXTRA_CA_CERTS, read once per step, when the first TLS agent needs them. */
  private environmentTrust(): () => EnvironmentCa {
    return () => (this.environmentCaFiles ??= environmentCa(this.foreign.env));
  }

  /** A registry's trust: the certs.d folder `name` sets (per host), and the environment's CAs. */
  private certsDirTrust(name: string, tlsSetting: string): TlsTrust {
    const config = this.config;
    const environment = this.environmentTrust();
    const setting = config.has(name) ? config.describe(name) : undefined;
    const dir = config.has(name) ? config.string(name) : undefined;
    return {
      environment,
      ...(dir && setting ? { forHost: certsDir(dir, setting) } : {}),
      ...(setting ? { addCa: (host: string) => `${setting} (${dir ?? '<dir>'}/${host}/ca.crt)` } : {}),
      tlsSetting,
    };
  }

  /**
   * An endpoint's trust from a PEM bundle setting (`fallbackEnv` when the setting is not given:
   * AWS_CA_BUNDLE for S3), and the environment's CAs.
   */
  private bundleTrust(name: string, fallbackEnv?: string): TlsTrust {
    const config = this.config;
    const environment = this.environmentTrust();
    const setting = config.has(name) ? config.describe(name) : undefined;
    const given = config.has(name) ? config.string(name) : undefined;
    const fallback = fallbackEnv ? this.foreign.env[fallbackEnv] || undefined : undefined;
    let ca: string[] | undefined;
    if (given && setting) ca = readPemBundle(given, setting);
    else if (fallback && fallbackEnv) ca = readPemBundle(fallback, `$${fallbackEnv}${setting ? ` (the fallback of ${setting})` : ''}`);
    const advice = setting ? `${setting}${fallbackEnv ? ` (or ${fallbackEnv})` : ''}` : fallbackEnv;
    return { ...(ca ? { ca } : {}), environment, ...(advice ? { addCa: () => advice } : {}) };
  }

  /** The `<side>-aws-*` settings (credential folders are already merged by resolveConfig). */
  private s3(side: 'source' | 'destination'): S3Settings {
    const config = this.config;
    const p = (name: string) => `${side}-aws-${name}`;
    const accessKeyId = config.string(p('access-key-id'));
    const secretAccessKey = config.string(p('secret-access-key'));
    if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
      const missing = accessKeyId === undefined ? p('access-key-id') : p('secret-access-key');
      throw new ConfigError(`${config.describe(missing)} is required together with its access key pair`);
    }
    const endpoint = config.string(p('endpoint'));
    if (endpoint !== undefined && !isHttpUrl(endpoint)) {
      throw new ConfigError(`${config.describe(p('endpoint'))}: "${endpoint}" is not an http(s) URL`);
    }
    return {
      bucket: config.required(p('bucket')),
      key: config.required(p('key')),
      region: config.string(p('region')) ?? DEFAULT_REGION,
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(accessKeyId !== undefined ? { accessKeyId } : {}),
      ...(secretAccessKey !== undefined ? { secretAccessKey } : {}),
      keySettings: { accessKeyId: config.describe(p('access-key-id')), secretAccessKey: config.describe(p('secret-access-key')) },
      trust: this.bundleTrust(p('ca-bundle'), 'AWS_CA_BUNDLE'),
    };
  }

  private planInputs(): PlanInputs {
    const config = this.config;
    const explicitFolder = config.has('metadata-configmap-path') ? config.string('metadata-configmap-path') : undefined;
    // The setting, else /etc/model-metadata when it exists (where the UI's Jobs mount it).
    const metadataFolder = explicitFolder || (existsSync(DEFAULT_METADATA_FOLDER) ? DEFAULT_METADATA_FOLDER : undefined);
    const optional = (name: string) => (config.has(name) ? config.string(name) : undefined);
    const modelId = optional('model-id');
    const modelVersionId = optional('model-version-id');
    const modelArtifactId = optional('model-artifact-id');
    const author = optional('registry-author');
    return {
      intent: config.required('model-upload-intent') as Intent,
      metadataFolder,
      metadataSetting: config.describe('metadata-configmap-path'),
      ...(modelId ? { modelId } : {}),
      ...(modelVersionId ? { modelVersionId } : {}),
      ...(modelArtifactId ? { modelArtifactId } : {}),
      ...(author ? { author } : {}),
      modelIdSetting: config.describe('model-id'),
      modelArtifactIdSetting: config.describe('model-artifact-id'),
      // only register and all take it; elsewhere the artifact fields are not written anyway
      updateArtifactMetadata: config.has('update-artifact-metadata') && config.boolean('update-artifact-metadata'),
    };
  }

  /** Base URL, Bearer token and TLS trust, resolved as the upstream Python client does. */
  private connection(log?: { warn: (msg: string) => void }): RegistryConnection {
    const config = this.config;
    const env = this.foreign.env;
    const secure = config.boolean('registry-is-secure');
    const baseUrl = registryBaseUrl(config.required('registry-server-address'), config.integer('registry-port'), secure);
    const { token, source } = resolveToken({
      token: config.string('registry-user-token'),
      tokenEnvVar: config.string('registry-user-token-envvar'),
      env,
      ...(this.foreign.serviceAccountTokenPath ? { serviceAccountTokenPath: this.foreign.serviceAccountTokenPath } : {}),
      describeToken: config.describe('registry-user-token'),
      describeEnvVar: config.describe('registry-user-token-envvar'),
      ...(log ? { log } : {}),
    });
    // Only the custom bundle and the environment's: net/ adds them to the system roots (one place for that rule).
    let ca: string[] | undefined;
    const caVar = config.string('registry-custom-ca-envvar');
    const caFile = config.string('registry-custom-ca') ?? (caVar ? env[caVar] : undefined);
    if (caFile) {
      const where = config.string('registry-custom-ca') ? config.describe('registry-custom-ca') : `$${caVar} (${config.describe('registry-custom-ca-envvar')})`;
      ca = readPemBundle(caFile, where);
    } else if (caVar && !env[caVar]) {
      log?.warn(`${config.describe('registry-custom-ca-envvar')} names $${caVar}, which is not set; using the system CAs`);
    }
    const environment = this.environmentTrust();
    const trust: TlsTrust = {
      ...(ca ? { ca } : {}),
      environment,
      addCa: () => config.describe('registry-custom-ca'),
      ...(config.has('registry-is-secure') ? { tlsSetting: config.describe('registry-is-secure') } : {}),
    };
    if (secure && !token) log?.warn('no Model Registry token found; sending requests without Authorization');
    return { baseUrl, ...(token ? { token, tokenSource: source } : {}), trust, verifyTls: secure };
  }
}

/** The URI as Model Registry records it: never with user:password@ (resolveConfig made it a secret). */
function withoutUserInfo(uri: string): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return uri;
  }
  if (!url.username && !url.password) return uri;
  return uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

/** A JSON list of strings (a value starting with `[`), or one pattern per non-blank line. */
export function patternList(value: string | undefined, setting: string): string[] {
  const text = value?.trim() ?? '';
  if (text === '') return [];
  let patterns: string[];
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`${setting}: not a valid JSON list of patterns (${(err as Error).message})`);
    }
    if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) throw new ConfigError(`${setting}: a JSON list must hold strings only`);
    patterns = parsed as string[];
  } else {
    patterns = text.split(/\r?\n/);
  }
  patterns = patterns.map((p) => p.trim()).filter((p) => p !== '');
  for (const p of patterns) {
    try {
      fnmatchRegExp(p);
    } catch {
      throw new ConfigError(`${setting}: pattern "${p}" cannot be used (a character range such as [z-a])`);
    }
  }
  return patterns;
}

/** An http(s) source URI must parse, name a host, and have a decodable path (its last segment is the file name). */
function checkWebUri(uri: string, setting: string): void {
  if (!/^https?:\/\//i.test(uri)) return;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new ConfigError(`${setting}: "${displayUrl(uri)}" is not a valid URL`);
  }
  try {
    decodeURIComponent(url.pathname);
  } catch {
    throw new ConfigError(`${setting}: ${displayUrl(uri)} has a malformed percent-escape in its path`);
  }
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

export interface TokenLookup {
  token?: string;
  tokenEnvVar?: string;
  env: NodeJS.ProcessEnv;
  /** The pod's service-account token path (tests point it elsewhere). */
  serviceAccountTokenPath?: string;
  describeToken: string;
  describeEnvVar: string;
  log?: { warn: (msg: string) => void };
}

/** The Bearer token: the value, else the file named by $<envvar>, else $KF_PIPELINES_SA_TOKEN_PATH, else the SA token. */
export function resolveToken(o: TokenLookup): { token?: string; source?: string } {
  if (o.token) return remember({ token: o.token.trim(), source: o.describeToken });
  if (o.tokenEnvVar) {
    const file = o.env[o.tokenEnvVar];
    if (file) return remember({ token: readToken(file, `the file named by $${o.tokenEnvVar} (${o.describeEnvVar})`), source: `$${o.tokenEnvVar}` });
    o.log?.warn(`${o.describeEnvVar} names $${o.tokenEnvVar}, which is not set; looking further for a token`);
  }
  const kfp = o.env.KF_PIPELINES_SA_TOKEN_PATH;
  if (kfp) return remember({ token: readToken(kfp, 'the file named by $KF_PIPELINES_SA_TOKEN_PATH'), source: '$KF_PIPELINES_SA_TOKEN_PATH' });
  const sa = o.serviceAccountTokenPath ?? SERVICE_ACCOUNT_TOKEN_PATH;
  if (existsSync(sa)) return remember({ token: readToken(sa, 'the service-account token'), source: sa });
  return {};
}

function remember(found: { token?: string; source?: string }): { token?: string; source?: string } {
  addSecret(found.token);
  return found.token ? found : {};
}

function readToken(file: string, what: string): string {
  try {
    const token = readFileSync(file, 'utf8').trim();
    addSecret(token);
    if (!token) throw new ConfigError(`Model Registry token file ${file} (${what}) is empty`);
    return token;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`Model Registry token file ${file} (${what}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
