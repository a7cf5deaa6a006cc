// push --part I/N (scale-out, docs/scale-out.md): the part's layers of the published plan,
// streamed from the source straight into the destination registry as the streaming `all` streams
// them (no copy on the volume), then the part's result pushed under its part tag for assemble.
//
// Resumable without a shared volume: after each finished layer the part pushes its progress (the
// result so far) under the part tag, so a run on a fresh volume skips those layers when the
// registry still has their blobs; a finished result makes a re-run a no-op. A cut layer continues
// from the registry's upload session when the same volume is used again (oci-uploads.json).
import { ModelSyncError } from '../errors.js';
import { MT } from '../oci/media-types.js';
import { decodePartResult, encodePartResult, partTag, PART_DOCUMENT_VERSION, PART_RESULT_FORMAT, type PartPlanDocument, type PartResultDocument, type PartResultLayer } from '../oci/part-plan.js';
import { pullPartDocument, pushPartDocument } from '../oci/part-registry.js';
import { streamLayerToRegistry } from '../oci/stream-layer.js';
import { tarLayerSize } from '../oci/tar-layer.js';
import type { RegistryTarget } from '../oci/target-registry.js';
import type { Descriptor } from '../oci/types.js';
import { streamedLayerSessionKey, UploadSessions } from '../oci/upload-sessions.js';
import type { SourceFile } from '../sources/stream-source.js';
import { forEachLimit } from '../util/concurrency.js';
import { megabytesPerSecond, Progress } from '../util/progress.js';
import { openPartTarget, readPublishedPlan, repositoryOf, type PublishedPlan } from './part-context.js';
import { canonicalIdentity, openPartSource } from './part-source.js';
import type { StepContext, StepOutcome } from './types.js';

type PlannedPartLayer = PartPlanDocument['partList'][number]['layers'][number];

export async function runPushPart(ctx: StepContext, part: { index: number; parts: number }): Promise<StepOutcome> {
  if (ctx.settings.destinationType() === 's3') return (await import('./parts-s3.js')).pushS3Part(ctx, part);
  const { settings, workspace, log } = ctx;
  const destination = settings.destination();
  if (destination.type !== 'oci') throw new ModelSyncError('internal', `push --part: unexpected destination type ${destination.type}`);
  const selector = `${part.index}/${part.parts}`;
  const target = openPartTarget(ctx, destination.image);
  try {
    const plan = await readPublishedPlan(target, destination.image);
    if (part.parts !== plan.doc.parts) {
      throw new ModelSyncError('precondition', `${settings.partSetting()} is ${selector}, but the plan under ${target.reference(plan.tag)} has ${plan.doc.parts} parts: run the parts it lists (1/${plan.doc.parts} … ${plan.doc.parts}/${plan.doc.parts})`);
    }
    const planned = plan.doc.partList.find((p) => p.index === part.index)!;
    const tag = partTag(target.tag, part.index, part.parts);
    const where = target.reference(tag);
    const started = Date.now();

    const stored = await pullPartDocument(target, tag);
    let result: PartResultDocument | undefined;
    if (stored?.artifactType === MT.partResult) {
      result = acceptedResult(stored.text, plan);
      if (result && (await allPresent(target, result.layers))) {
        log.info({ part: selector, tag: where, layers: result.layers.length }, `part ${selector} is already done: its result under ${where} lists its ${result.layers.length} layers and the registry has their blobs; nothing to push`);
        await workspace.writeJson(partFile(part), JSON.parse(stored.text));
        return outcome(selector, where, { layers: result.layers.length, streamed: 0, skipped: result.layers.length, bytesUploaded: 0, seconds: (Date.now() - started) / 1000 });
      }
    }
    // Layers the part's progress lists, checked against the plan, whose blobs are still there.
    const finished = new Map<number, PartResultLayer>();
    // A finished result whose blobs are partly gone counts as progress: its layers still there are kept.
    if (stored?.artifactType === MT.partProgress || result) {
      for (const l of await progressLayers(stored!.text, plan, planned.layers, target)) finished.set(l.index, l);
    }

    const source = await openPartSource(ctx, `push --part ${selector}`, { concurrency: Math.max(4, settings.pushConcurrency() * 2), tuning: settings.rangedTuning() });
    try {
      const layers = planned.layers.map((l) => ({ planned: l, files: sourceFilesOf(l, source.files, selector) }));
      const layerBytes = (l: PlannedPartLayer) => tarLayerSize(l.files.map((f) => ({ path: f.path, fileSize: f.size })));
      const total = planned.layers.reduce((n, l) => n + layerBytes(l), 0);
      log.info(
        { part: selector, layers: layers.length, bytes: total, skipping: [...finished.keys()], source: source.label, destination: repositoryOf(target) },
        `part ${selector}: streaming ${layers.length - finished.size} of its ${layers.length} layers from ${source.label} to ${repositoryOf(target)}${finished.size ? ` (${finished.size} finished before, as its progress under ${where} lists)` : ''}: no copy of the model on the volume`,
      );
      const sessions = await UploadSessions.load(workspace);
      const progress = new Progress(log, `part ${selector} ${source.label} -> ${target.label}`, total, settings.progressIntervalSeconds);
      const record = new ProgressPush(target, tag, { part: part.index, parts: part.parts, plan: plan.digest }, finished);
      let streamed = 0;
      let bytesUploaded = 0;
      try {
        await forEachLimit(layers, settings.pushConcurrency(), async ({ planned: l, files }) => {
          if (finished.has(l.index)) {
            log.info({ part: selector, layer: l.index, digest: finished.get(l.index)!.digest }, `part ${selector}: layer ${l.index} skipped, finished before (its blob is in the registry)`);
            progress.add(layerBytes(l));
            return;
          }
          const result = await streamLayerToRegistry(files, {
            target,
            sessions,
            sessionKey: streamedLayerSessionKey(repositoryOf(target), files),
            onBytes: (n) => progress.add(n),
            signal: ctx.stop.signal,
            log,
          });
          streamed++;
          bytesUploaded += result.bytesSent;
          await record.add({
            index: l.index,
            digest: result.digest,
            size: result.size,
            files: result.files.map((f) => ({ path: f.path, size: f.fileSize, sha256: f.fileSha256.replace(/^sha256:/, '') })),
          });
        });
      } finally {
        progress.finish();
      }

      const json = encodePartResult(record.document());
      // The registry checks the blobs exist when it takes the manifest that references them.
      await pushPartDocument(target, { tag, artifactType: MT.partResult, json, references: record.references() });
      await workspace.writeJson(partFile(part), JSON.parse(json));
      return outcome(selector, where, { layers: layers.length, streamed, skipped: layers.length - streamed, bytesUploaded, seconds: (Date.now() - started) / 1000 });
    } finally {
      source.close();
    }
  } finally {
    target.close();
  }
}

/** `parts/<I>-of-<N>.json` under .model-sync/: the part's result, as pushed. */
function partFile(part: { index: number; parts: number }): string {
  return `parts/${part.index}-of-${part.parts}.json`;
}

function outcome(selector: string, where: string, r: { layers: number; streamed: number; skipped: number; bytesUploaded: number; seconds: number }): StepOutcome {
  return {
    // The image exists only once assemble has run: push's image results stay empty for a part.
    results: { 'model-uri': '', 'image-digest': '' },
    termination: `part ${selector} pushed: ${r.layers} layers (${r.streamed} streamed, ${r.skipped} skipped), ${r.bytesUploaded} bytes uploaded; result under ${where}`,
    summary: { part: selector, result: where, layers: r.layers, layersStreamed: r.streamed, layersSkipped: r.skipped, bytesUploaded: r.bytesUploaded, MBps: megabytesPerSecond(r.bytesUploaded, r.seconds) },
  };
}

/** A finished result of this plan, or undefined (a result of an older plan is redone). */
function acceptedResult(text: string, plan: PublishedPlan): PartResultDocument | undefined {
  try {
    return decodePartResult(text, { plan: plan.doc, planDigest: plan.digest });
  } catch (err) {
    if (err instanceof ModelSyncError && err.kind === 'precondition') return undefined;
    throw err;
  }
}

/** The progress's layers that belong to this plan's part as planned and whose blobs exist. */
async function progressLayers(text: string, plan: PublishedPlan, planned: readonly PlannedPartLayer[], target: RegistryTarget): Promise<PartResultLayer[]> {
  let doc: PartResultDocument;
  try {
    doc = decodePartResult(text);
  } catch (err) {
    if (err instanceof ModelSyncError && err.kind === 'precondition') return [];
    throw err;
  }
  if (doc.plan !== plan.digest || doc.parts !== plan.doc.parts) return [];
  const out: PartResultLayer[] = [];
  for (const l of doc.layers) {
    const want = planned.find((p) => p.index === l.index);
    const same = want && want.files.length === l.files.length && want.files.every((f, i) => f.path === l.files[i]!.path && f.size === l.files[i]!.size);
    if (same && (await target.exists(layerDescriptor(l)))) out.push(l);
  }
  return out;
}

async function allPresent(target: RegistryTarget, layers: readonly PartResultLayer[]): Promise<boolean> {
  for (const l of layers) if (!(await target.exists(layerDescriptor(l)))) return false;
  return true;
}

function layerDescriptor(l: { digest: string; size: number }): Descriptor {
  return { mediaType: MT.ociLayerTar, digest: l.digest, size: l.size };
}

/** The source files of a planned layer; one missing or changed since plan is refused, naming it. */
function sourceFilesOf(layer: PlannedPartLayer, files: readonly SourceFile[], selector: string): SourceFile[] {
  return layer.files.map((want) => {
    const have = files.find((f) => f.path === want.path);
    const why = !have
      ? 'is not in the source any more'
      : have.size !== want.size
        ? `is ${have.size} bytes in the source, the plan has ${want.size}`
        : canonicalIdentity(have.identity) !== canonicalIdentity(want.identity)
          ? `has another version in the source (${JSON.stringify(have.identity)}) than in the plan (${JSON.stringify(want.identity)})`
          : undefined;
    if (why) throw new ModelSyncError('precondition', `part ${selector}: ${want.path} ${why}: the source changed since plan; run plan again`);
    return have!;
  });
}

/**
 * The part's progress under its part tag: the result so far, pushed after each finished layer,
 * one push at a time (a later push carries every layer finished before it).
 */
class ProgressPush {
  private pushing = Promise.resolve();

  constructor(
    private readonly target: RegistryTarget,
    private readonly tag: string,
    private readonly head: { part: number; parts: number; plan: string },
    private readonly layers: Map<number, PartResultLayer>,
  ) {}

  document(): PartResultDocument {
    return { format: PART_RESULT_FORMAT, version: PART_DOCUMENT_VERSION, ...this.head, layers: [...this.layers.values()].sort((a, b) => a.index - b.index) };
  }

  references(): Descriptor[] {
    return this.document().layers.map(layerDescriptor);
  }

  add(layer: PartResultLayer): Promise<void> {
    this.layers.set(layer.index, layer);
    const push = async () => {
      await pushPartDocument(this.target, { tag: this.tag, artifactType: MT.partProgress, json: encodePartResult(this.document()), references: this.references() });
    };
    this.pushing = this.pushing.then(push, push);
    return this.pushing;
  }
}
