// CNCF ModelPack (modelpack/model-spec): an OCI artifact whose manifest has the artifactType
// application/vnd.cncf.model.manifest.v1+json, a config of its own media type (descriptor,
// config, modelfs) and one layer per model file, typed by kind (weight, weight.config, doc, code)
// and format (raw: the file itself; tar: an archive of it). Two ways out of here:
// - modelpack: raw layers, one per file, as modctl writes them by default (its `--raw` is on), so
//   the layer digest is the file's own sha256;
// - both: the modelcar's own uncompressed tar layers (entries `models/<path>`) described a second
//   time, as a ModelPack manifest in the modelcar's index, so no byte is stored twice.
// Nothing time-dependent goes in unless given (descriptor.createdAt): the same model gives the
// same digests.
import path from 'node:path';
import { fnmatch } from '../util/fnmatch.js';
import { ANNOTATION, MT } from './media-types.js';
import { MODEL_ROOT_IN_IMAGE, modelEntryName } from './tar-layer.js';
import type { Descriptor, ImageManifest } from './types.js';

export type ModelPackKind = 'weight' | 'weight.config' | 'doc' | 'code';
export type ModelPackLayerFormat = 'raw' | 'tar';

// Which kind a file is, by its base name (case-insensitive), in modctl's order: config files,
// then weights, then code, then docs; anything else is a weight above 128 MiB and code below.
// The lists hold the common extensions modctl's pkg/modelfile lists.
const CONFIG_PATTERNS = ['*.json', '*.jsonl', '*.json5', '*.jsonc', '*.yaml', '*.yml', '*.toml', '*.ini', '*.config', '*.cfg', '*.conf', '*.properties', '*.xml', '*.modelcard', '*.meta', '*tokenizer.model*', 'config.json.*', '*.hparams', '*.params'];
const WEIGHT_PATTERNS = [
  '*.safetensors', '*.bin', '*.pt', '*.pth', '*.mar', '*.pte', '*.pt2', '*.ptl', '*.tflite', '*.h5', '*.hdf', '*.hdf5', '*.pb', '*.data-*', '*.index',
  '*.gguf', '*.ggml', '*.ckpt', '*.checkpoint', '*.tensor', '*.weights', '*.state', '*.embedding', '*.vocab', '*.ot', '*.engine', '*.trt', '*.onnx',
  '*.msgpack', '*.model', '*.pkl', '*.pickle', '*.keras', '*.joblib', '*.npy', '*.npz', '*.mlmodel', '*.llamafile', '*.caffemodel',
];
const CODE_PATTERNS = ['*.py', '*.ipynb', '*.sh', '*.c', '*.h', '*.cpp', '*.cc', '*.hpp', '*.java', '*.js', '*.mjs', '*.ts', '*.go', '*.rs', '*.cu', '*.so', 'makefile*', 'dockerfile*', 'requirements*.txt'];
const DOC_PATTERNS = ['*.txt', '*.md', '*.pdf', 'license*', 'readme*', '*.rst', '*.html', '*.htm', '*.csv', '*.jpg', '*.jpeg', '*.png', '*.gif', '*.svg', '*.webp'];
/** An unknown file this large is taken for a weight (modctl's threshold). */
export const UNKNOWN_WEIGHT_BYTES = 128 * 1024 * 1024;

export function modelPackKind(relPath: string, size: number): ModelPackKind {
  const name = path.posix.basename(relPath).toLowerCase();
  const matches = (patterns: readonly string[]) => patterns.some((p) => fnmatch(name, p));
  if (matches(CONFIG_PATTERNS)) return 'weight.config';
  if (matches(WEIGHT_PATTERNS)) return 'weight';
  if (matches(CODE_PATTERNS)) return 'code';
  if (matches(DOC_PATTERNS)) return 'doc';
  return size > UNKNOWN_WEIGHT_BYTES ? 'weight' : 'code';
}

export function modelPackLayerMediaType(kind: ModelPackKind, format: ModelPackLayerFormat): string {
  return `application/vnd.cncf.model.${kind}.v1.${format}`;
}

/** Mode, owner and mtime the model's files carry: those of the modelcar's tar entries. */
const FILE_MODE = 0o664;
const FILE_MTIME = '1970-01-01T00:00:00Z';

/**
 * The annotations of a one-file layer: its file path, and the file metadata of one regular file
 * (its base name; typeflag 0, as modctl writes it). The kind is guessed from the name: untested.
 */
function oneFileAnnotations(filepath: string, size: number): Record<string, string> {
  const name = path.posix.basename(filepath);
  return {
    [ANNOTATION.modelpackFilepath]: filepath,
    [ANNOTATION.modelpackFileMetadata]: JSON.stringify({ name, mode: FILE_MODE, uid: 0, gid: 0, size, mtime: FILE_MTIME, typeflag: 0 }),
    [ANNOTATION.modelpackMediaTypeUntested]: 'true',
  };
}

export interface ModelPackFile {
  /** Slash-separated, relative to the model folder. */
  path: string;
  /** `sha256:<hex>` of the file. */
  fileSha256: string;
  fileSize: number;
}

/** A raw layer: the file itself, so its digest is the file's sha256. */
export function rawLayerDescriptor(file: ModelPackFile): Descriptor {
  return {
    mediaType: modelPackLayerMediaType(modelPackKind(file.path, file.fileSize), 'raw'),
    digest: file.fileSha256,
    size: file.fileSize,
    annotations: oneFileAnnotations(file.path, file.fileSize),
  };
}

export interface ModelcarTarLayer {
  digest: string;
  size: number;
  files: readonly ModelPackFile[];
}

/**
 * A modelcar tar layer described as a ModelPack layer. Its entries are `models/<path>`, so the
 * file path says `models/<path>` too: where an extracting reader puts the file. A layer of
 * several small files takes the kind that holds most of its bytes, and as file path the folder
 * its entries share (their list is in io.model-sync.layer.files); file metadata describes one
 * file, so only a one-file layer has it.
 */
export function modelcarLayerAsModelPack(layer: ModelcarTarLayer): Descriptor {
  const bytesByKind = new Map<ModelPackKind, number>();
  for (const f of layer.files) {
    const kind = modelPackKind(f.path, f.fileSize);
    bytesByKind.set(kind, (bytesByKind.get(kind) ?? 0) + f.fileSize);
  }
  const kind = [...bytesByKind.entries()].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  const descriptor = { mediaType: modelPackLayerMediaType(kind, 'tar'), digest: layer.digest, size: layer.size };
  if (layer.files.length === 1) {
    const file = layer.files[0]!;
    return { ...descriptor, annotations: oneFileAnnotations(modelEntryName(file.path), file.fileSize) };
  }
  return {
    ...descriptor,
    annotations: {
      [ANNOTATION.modelpackFilepath]: `${MODEL_ROOT_IN_IMAGE}/${commonFolder(layer.files.map((f) => f.path))}`.replace(/\/$/, ''),
      [ANNOTATION.layerFiles]: JSON.stringify(layer.files.map((f) => f.path)),
      [ANNOTATION.modelpackMediaTypeUntested]: 'true',
    },
  };
}

/** The longest folder prefix (ending in `/`, or empty) that every path shares. */
function commonFolder(paths: readonly string[]): string {
  let prefix = paths[0]!.slice(0, paths[0]!.lastIndexOf('/') + 1);
  for (const p of paths) {
    while (prefix && !p.startsWith(prefix)) prefix = prefix.slice(0, prefix.slice(0, -1).lastIndexOf('/') + 1);
  }
  return prefix;
}

/** What the config's descriptor says of the model (each optional). */
export interface ModelPackDescription {
  name?: string;
  version?: string;
  /** RFC 3339; absent by default, for reproducible digests. */
  createdAt?: string;
}

/** The config document (application/vnd.cncf.model.config.v1+json) for `layers`, in their order. */
export function modelPackConfig(layers: readonly Descriptor[], about: ModelPackDescription): Record<string, unknown> {
  const descriptor: Record<string, string> = {};
  if (about.createdAt) descriptor.createdAt = about.createdAt;
  if (about.name) descriptor.name = about.name;
  if (about.version) descriptor.version = about.version;
  const format = weightFormat(layers);
  return {
    descriptor,
    config: format ? { format } : {},
    // The layers are not compressed, so each diffId is the layer digest.
    modelfs: { type: 'layers', diffIds: layers.map((l) => l.digest) },
  };
}

/** The weights' format when every weight file has the same known extension (safetensors, gguf, onnx). */
function weightFormat(layers: readonly Descriptor[]): string | undefined {
  const formats = new Set<string>();
  for (const l of layers) {
    if (!/\.weight\.v1\./.test(l.mediaType)) continue;
    const path = l.annotations?.[ANNOTATION.modelpackFilepath] ?? '';
    const ext = /\.(safetensors|gguf|onnx)$/i.exec(path)?.[1]?.toLowerCase();
    formats.add(ext ?? 'other');
  }
  return formats.size === 1 && !formats.has('other') ? [...formats][0] : undefined;
}

/** The ModelPack manifest of `config` and `layers`. */
export function modelPackManifest(config: Descriptor, layers: readonly Descriptor[], annotations?: Record<string, string>): ImageManifest {
  return {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType: MT.modelpackManifestArtifact,
    config: { mediaType: MT.modelpackConfig, digest: config.digest, size: config.size },
    layers: [...layers],
    ...(annotations ? { annotations } : {}),
  };
}

/** Platform of the ModelPack entry in a modelcar's index: no runtime picks it (as olot marks it). */
export const MODELPACK_INDEX_PLATFORM = { architecture: 'unknown', os: 'unknown' } as const;
