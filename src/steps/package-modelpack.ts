// package with --destination-oci-format modelpack: the model as a CNCF ModelPack artifact in
// <storage>/image/ (oci/modelpack.ts). No base image: a ModelPack is not run. One raw layer per
// file, in path order, whose digest is the file's sha256: taken from fetch's inventory when the
// file is unchanged since, from the previous package record when that one is, else hashed (on
// worker threads, one read). As for the modelcar, no layer is copied into image/blobs: push
// streams each file from model/.
import type { OciOutput } from '../config/settings.js';
import { ModelSyncError } from '../errors.js';
import { hashTarLayers } from '../oci/layer-hasher.js';
import { OciLayout } from '../oci/layout.js';
import { ANNOTATION, MT } from '../oci/media-types.js';
import { modelPackConfig, modelPackManifest, rawLayerDescriptor } from '../oci/modelpack.js';
import type { Descriptor } from '../oci/types.js';
import { megabytesPerSecond, Progress } from '../util/progress.js';
import { modelLayers, readRecord, type ModelLayerRecord, type PackageRecord } from '../workspace/records.js';
import { assertFetchComplete } from './inputs.js';
import { modelFiles, type ModelFile } from './model-files.js';
import { recordPackage } from './package-record.js';
import type { StepContext, StepOutcome } from './types.js';

export async function packageModelPack(ctx: StepContext, output: OciOutput): Promise<StepOutcome> {
  const { workspace, log } = ctx;
  const started = Date.now();
  await assertFetchComplete(workspace);
  const files = await modelFiles(ctx);
  const layers = await rawLayers(ctx, files, await readRecord(workspace, 'package'));

  const layout = await new OciLayout(workspace.imageDir).init();
  const packLayers = layers.map((l) => rawLayerDescriptor(l.files[0]!));
  const config = await layout.writeJsonBlob(modelPackConfig(packLayers, output.about), MT.modelpackConfig);
  const manifest = await layout.writeJsonBlob(modelPackManifest(config, packLayers), MT.ociManifest);
  const root: Descriptor = { ...manifest, artifactType: MT.modelpackManifestArtifact };
  await layout.writeIndex({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ ...root, annotations: { [ANNOTATION.refName]: 'latest' } }] });

  const removed = await recordPackage(ctx, layout, { ociFormat: 'modelpack', root, layers });
  const bytes = files.reduce((n, f) => n + f.size, 0);
  log.info({ digest: root.digest, layers: layers.length, bytes }, `ModelPack artifact ${root.digest}: ${layers.length} raw layers, one per file (no base image; KServe cannot serve it as a modelcar)`);
  return {
    results: { 'image-digest': root.digest },
    summary: { digest: root.digest, format: 'modelpack', layers: layers.length, bytes, staleBlobsRemoved: removed, MBps: megabytesPerSecond(bytes, (Date.now() - started) / 1000) },
  };
}

/** One raw layer per file: its digest is the file's sha256, hashed only when nothing records it. */
async function rawLayers(ctx: StepContext, files: readonly ModelFile[], previous: PackageRecord | undefined): Promise<ModelLayerRecord[]> {
  const known = new Map(
    modelLayers(previous)
      .filter((l) => l.raw)
      .map((l) => [l.files[0]!.path, l.files[0]!]),
  );
  const sha256 = new Map<string, string>();
  for (const f of files) {
    const p = known.get(f.path);
    if (f.sha256Current) sha256.set(f.path, f.sha256!);
    else if (p && p.fileSize === f.size && p.fileMtimeMs === f.mtimeMs && (!f.sha256 || f.sha256 === p.fileSha256)) sha256.set(f.path, p.fileSha256);
  }
  const toHash = files.filter((f) => !sha256.has(f.path));
  if (toHash.length > 0) {
    const progress = new Progress(ctx.log, 'package (hash files)', toHash.reduce((n, f) => n + f.size, 0), ctx.settings.progressIntervalSeconds);
    try {
      const hashed = await hashTarLayers(toHash.map((f) => [{ file: f.file, path: f.path, fileSize: f.size }]), { raw: true, onBytes: (n) => progress.add(n) });
      toHash.forEach((f, i) => {
        const digest = hashed[i]!.files[0]!.fileSha256;
        if (f.sha256 && f.sha256 !== digest) {
          throw new ModelSyncError('integrity', `model file ${f.path} has sha256 ${digest} but the inventory says ${f.sha256}: it changed after fetch; run fetch again`);
        }
        sha256.set(f.path, digest);
      });
    } finally {
      progress.finish();
    }
  }
  ctx.log.info({ files: files.length, hashed: toHash.length }, `package: ${toHash.length} of ${files.length} files hashed, the others' digests taken from fetch or the previous run`);
  return files.map((f) => ({
    digest: sha256.get(f.path)!,
    size: f.size,
    raw: true as const,
    files: [{ path: f.path, fileSha256: sha256.get(f.path)!, fileSize: f.size, fileMtimeMs: f.mtimeMs }],
  }));
}
