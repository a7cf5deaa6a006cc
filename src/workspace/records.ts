// The on-volume contract between steps: every `.model-sync/<name>.json` file, its type and its
// format version. Steps read their inputs and write their results only through readRecord and
// writeRecord, so a record of another format is never misread: it reads as absent.
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Workspace } from './workspace.js';

/** Bumped when a record's shape changes incompatibly; every record carries it as `format`. */
export const RECORD_FORMAT = 1;

/** The settings a result was made with (secrets masked), so a later step can tell a stale one. */
export type SettingsSnapshot = Record<string, string | number | boolean>;

// --- fetch ------------------------------------------------------------------------------------

export interface InventoryEntry {
  /** Slash-separated path relative to model/ */
  path: string;
  size: number;
  sha256: string;
  /** mtime of model/<path> when fetch recorded it: while size and mtime hold, package reuses sha256. */
  mtimeMs?: number;
}

/** `inventory.json`: the model files fetch left complete in model/. */
export interface Inventory {
  source: string;
  files: InventoryEntry[];
  totalBytes: number;
  /** Set when include / exclude patterns applied: how many source files they skipped, and the first of them. */
  filtered?: { skipped: number; first: string[] };
  settings?: SettingsSnapshot;
}

/** What identifies one version of a source file; compared field by field on a re-run. */
export interface SourceIdentity {
  size: number;
  etag?: string;
  contentLength?: number;
  mtimeMs?: number;
}

export interface RecordedFile extends SourceIdentity {
  sha256: string;
}

/** `fetch.json`: progress of a fetch, file by file, so that a re-run resumes. */
export interface FetchRecord {
  source: string;
  complete: boolean;
  /** Identity of a downloaded archive, when the source was one. */
  archive?: SourceIdentity & { extracted: boolean };
  files: Record<string, RecordedFile>;
  updated: string;
}

/** `fetch-oci.json`: which files each image layer produced, so a re-run skips complete layers. */
export interface OciLayersRecord {
  source: string;
  layers: Record<string, { files: Array<{ path: string; size: number }>; links: boolean }>;
}

// --- package ----------------------------------------------------------------------------------

/** One model file of a layer, as package records it. */
export interface ModelLayerFile {
  /** Slash-separated path relative to model/ (the entry is `models/<path>`). */
  path: string;
  /** `sha256:<hex>` of the file. */
  fileSha256: string;
  fileSize: number;
  /** The file's mtime when it was hashed: a re-run reuses the digest only while it is unchanged. */
  fileMtimeMs?: number;
}

/** One model layer as package records it: enough to make its bytes again from model/. */
export interface ModelLayerRecord {
  /** Layer digest (= diff_id). */
  digest: string;
  /** Layer size in bytes (tar framing included). */
  size: number;
  /** Its members, in layer order (path order); one for a layer of its own. */
  files: ModelLayerFile[];
  /** A ModelPack raw layer (--destination-oci-format modelpack): the one file itself, no tar. */
  raw?: true;
}

/** A layer record as 0.1.0 wrote it: always one file per layer. */
export interface LegacyModelLayerRecord extends ModelLayerFile {
  digest: string;
  size: number;
}

/**
 * The layer records of a package record in the current shape. A 0.1.0 record (one `path` per
 * layer) maps 1:1: its layer is exactly a one-file layer of today, same bytes and digest, so push
 * can still make it and package may reuse it for a one-file layer of the same file.
 */
export function modelLayers(record: Pick<PackageRecord, 'layers'> | undefined): ModelLayerRecord[] {
  return (record?.layers ?? []).map((l) => {
    if ('files' in l && Array.isArray(l.files)) return l;
    const { digest, size, ...file } = l as LegacyModelLayerRecord;
    // Neither shape: no files, which the layer source refuses ("run package again").
    return { digest, size, files: typeof file.path === 'string' ? [file] : [] };
  });
}

/** --destination-oci-format: the modelcar image, a ModelPack artifact, or the modelcar holding a ModelPack manifest too. */
export type OciFormat = 'modelcar' | 'modelpack' | 'both';

/** `package.json`: the modelcar package built in image/. */
export interface PackageRecord {
  /** What package built (absent in records before formats: modelcar). `format` is the record's own version. */
  ociFormat?: OciFormat;
  /** The modelcar's base; absent for a ModelPack artifact, which has none. */
  baseImage?: string;
  baseDigest?: string;
  /** Digest of the modelcar's root (an index, or a manifest for a single-manifest base). */
  indexDigest: string;
  mediaType: string;
  size: number;
  /** How the model layer blobs are stored: `model-files` = made on the fly from model/. */
  layerBlobs: 'model-files';
  /** Read through modelLayers(): records of 0.1.0 hold the legacy shape. */
  layers: Array<ModelLayerRecord | LegacyModelLayerRecord>;
  finished?: string;
  settings?: SettingsSnapshot;
}

// --- all, streaming ---------------------------------------------------------------------------

/** One layer the streaming `all` finished in the destination registry. */
export interface StreamedLayerRecord extends ModelLayerRecord {
  /** Names the layer's content: the repository, and each file's path and source identity. */
  key: string;
  /** The source identity of each file, in layer order. */
  identities: SourceIdentity[];
}

/** `stream.json`: the layers a streaming `all` finished, so that a run after a kill skips them. */
export interface StreamRecord {
  source: string;
  /** The destination as the settings name it. */
  target: string;
  layers: StreamedLayerRecord[];
  updated: string;
}

// --- plan (scale-out) -------------------------------------------------------------------------

/**
 * `plan.json`: the plan `plan` published, as it published it. The parts and assemble read the
 * published copy (registry or S3), not this one: they run on other volumes.
 */
export interface PlanRecord {
  /** The destination as the settings name it. */
  target: string;
  /** Where the plan was published (`host/repo:<tag>.model-sync-plan`, or the S3 object). */
  published: string;
  /** partPlanDigest of the document: what every part's result names. */
  digest: string;
  /** Selectors of the parts to run (the `parts` result). */
  parts: string[];
  /** The plan document (oci/part-plan.ts PartPlanDocument), exactly as encoded and pushed. */
  plan: Record<string, unknown>;
  finished: string;
}

// --- push -------------------------------------------------------------------------------------

/** `push.json`: where push put the model. `target` is the destination as the settings named it. */
export type PushRecord =
  | { destination: 's3'; target: string; uri: string; files: number; bytes: number; skipped: number; finished: string; settings?: SettingsSnapshot }
  | {
      destination: 'oci';
      target: string;
      uri: string;
      digest: string;
      /** What was pushed (absent in records before formats: modelcar). */
      ociFormat?: OciFormat;
      blobsUploaded: number;
      blobsSkipped: number;
      bytesUploaded: number;
      finished: string;
      settings?: SettingsSnapshot;
    };

/** One multipart upload push has opened on S3 and not seen end. */
export interface OpenMultipartUpload {
  bucket: string;
  key: string;
  uploadId: string;
  /** When push opened it (ISO time). */
  opened: string;
}

/**
 * `s3-uploads.json`: the multipart uploads a push to S3 has open, written before the first part
 * of each goes out. A push stopped by SIGTERM aborts them and drops them from the record; one
 * killed outright leaves them here, and the next push aborts them before it uploads.
 */
export interface S3UploadsRecord {
  /** The S3 endpoint they were opened on ('' for AWS): a record of another endpoint is not acted on. */
  endpoint: string;
  uploads: OpenMultipartUpload[];
}

/** One blob upload session open on a registry, as push records it after each chunk. */
export interface UploadSessionEntry {
  /** Registry host and repository the session belongs to: an entry for another one is ignored. */
  registry: string;
  repository: string;
  /** The session's Location (absolute URL, with the registry's own query such as `_state`). */
  location: string;
  /** Size of the blob being uploaded, and its digest when known beforehand. */
  size: number;
  digest?: string;
  /** Bytes the registry held at the end of the last chunk recorded. */
  offset: number;
  /** When the entry was written (ISO time). */
  updated: string;
}

/**
 * `oci-uploads.json`: the blob upload sessions push (staged or streaming) has open, keyed by the
 * blob's content identity. Written after each chunk; an entry is dropped when its blob is stored.
 * A push killed outright leaves them here, and the next push continues them from the registry's offset.
 */
export interface OciUploadsRecord {
  sessions: Record<string, UploadSessionEntry>;
}

// --- Model Registry ---------------------------------------------------------------------------

export type UploadIntent = 'update_artifact' | 'create_model' | 'create_version';

export interface EntityRef {
  id: string;
  /** True when this job created it (only those are archived or abandoned by mark-failed). */
  created: boolean;
}

/**
 * `preflight.json` and `register.json`: which entities exist and which this job created, written
 * as soon as each exists so that a crash leaves a true account for the re-run and for mark-failed.
 */
export interface RegistryRecord {
  intent: UploadIntent;
  /** Registry URL and the names/ids of the plan: a record of another job is ignored. */
  target: string;
  registeredModel?: EntityRef;
  modelVersion?: EntityRef;
  modelArtifact?: EntityRef & { previousState?: string; pendingSetByPreflight?: boolean };
  uri?: string;
  /** register: 'registering' until the artifact is LIVE, then 'registered'. */
  phase: 'preflight-done' | 'registering' | 'registered';
  settings?: SettingsSnapshot;
}

/** Every record by file name (without .json). */
export interface Records {
  inventory: Inventory;
  fetch: FetchRecord;
  'fetch-oci': OciLayersRecord;
  package: PackageRecord;
  push: PushRecord;
  stream: StreamRecord;
  plan: PlanRecord;
  's3-uploads': S3UploadsRecord;
  'oci-uploads': OciUploadsRecord;
  preflight: RegistryRecord;
  register: RegistryRecord;
}

export type RecordName = keyof Records;

function recordFile(workspace: Workspace, name: RecordName): string {
  return path.join(workspace.stateDir, `${name}.json`);
}

/** The record, or undefined when it is missing or of another format. */
export async function readRecord<K extends RecordName>(workspace: Workspace, name: K): Promise<Records[K] | undefined> {
  const data = await workspace.readJson<Records[K] & { format?: number }>(`${name}.json`);
  if (!data || data.format !== RECORD_FORMAT) return undefined;
  const { format: _format, ...record } = data;
  return record as unknown as Records[K];
}

/** True when a file of that name exists, whatever its format (fetch clears model/ for a foreign one). */
export async function recordExists(workspace: Workspace, name: RecordName): Promise<boolean> {
  return readFile(recordFile(workspace, name)).then(
    () => true,
    () => false,
  );
}

/** Removes a record: a step drops its old result before it starts, so a failure leaves none. */
export async function removeRecord(workspace: Workspace, name: RecordName): Promise<void> {
  await rm(recordFile(workspace, name), { force: true });
}

/** Writes the record atomically (temp file + rename) with the current format. */
export function writeRecord<K extends RecordName>(workspace: Workspace, name: K, record: Records[K]): Promise<void> {
  return workspace.writeJson(`${name}.json`, { format: RECORD_FORMAT, ...record });
}
