// Scale-out to an S3 destination (docs/scale-out.md): the parts are plain copies of their files.
// plan.ts, push-part.ts and assemble.ts hand S3 destinations over to these.
//
// - plan lists the source and shares its files out among N parts with planParts, each file a
//   one-file layer of kind `own` (so the balance rule is the registry's), and writes the plan
//   beside the prefix (destinations/s3-part-records.ts), after removing the records of an earlier
//   plan for the same prefix.
// - push --part I/N reads the plan, refuses a source that changed since, streams its files from
//   the source into the prefix (streamToS3: objects of the right size already there are skipped,
//   multipart uploads are recorded and aborted as push does), then writes its result beside them.
//   A part whose result for this plan is there already does nothing.
// - assemble moves no data (the files are the model already): it checks that every part's result
//   is there and matches the plan and that every object is there with its size, then removes the
//   records. No index object is written: the prefix is the model, and KServe would download it.
import path from 'node:path';
import type { S3Settings } from '../s3/client.js';
import { S3PartRecords, s3PartKeys } from '../destinations/s3-part-records.js';
import { decodeS3PartResult, encodeS3PartResult, plannedFiles, s3PartResult } from '../destinations/s3-part-result.js';
import { streamToS3 } from '../destinations/stream-s3.js';
import { messageOf, ModelSyncError } from '../errors.js';
import type { PlannedLayer } from '../oci/layer-plan.js';
import { decodePartPlan, encodePartPlan, partPlanDigest, partPlanDocument, planParts, type PartPlanDocument } from '../oci/part-plan.js';
import type { SourceFile, StreamSource } from '../sources/stream-source.js';
import { forEachLimit } from '../util/concurrency.js';
import { megabytesPerSecond } from '../util/progress.js';
import { writeRecord } from '../workspace/records.js';
import { canonicalIdentity, openPartSource } from './part-source.js';
import { dropPushResult, s3PushContext } from './push-outcome.js';
import type { StepContext, StepOutcome } from './types.js';

/** Connections for the small record requests and listings of plan and assemble. */
const RECORD_CONNECTIONS = 4;
/** Files named in a one-line refusal before "and N more". */
const NAMED = 5;

export async function planS3(ctx: StepContext): Promise<StepOutcome> {
  const { settings, log } = ctx;
  const { s3, records } = openRecords(ctx, RECORD_CONNECTIONS);
  try {
    // plan reads no byte of the model: the tuning of ranged reads is never used.
    const source = await openPartSource(ctx, 'plan', { concurrency: RECORD_CONNECTIONS, tuning: { partSize: 64 * 1024 * 1024, threshold: Number.MAX_SAFE_INTEGER } });
    let doc: PartPlanDocument;
    try {
      const layers: Array<PlannedLayer<SourceFile>> = source.files.map((f) => ({ kind: 'own', files: [f] }));
      const plan = planParts(layers, settings.partCount());
      // Each file its own unit: the budget a layer plan would need to give every file its own layer.
      doc = partPlanDocument(plan, { source: source.label, repository: records.keys.uri, budget: { maxLayers: Math.max(1, layers.length), ownLayerBytes: 0 } });
    } finally {
      source.close();
    }
    const text = encodePartPlan(doc);
    const digest = partPlanDigest(text);
    // Results of an earlier plan for this prefix would otherwise pass for parts of this one (same N).
    const stale = (await records.list(records.keys.folder)).filter((o) => o.key !== records.keys.plan);
    for (const o of stale) await records.remove(o.key);
    await records.write(records.keys.plan, text);
    await writeRecord(ctx.workspace, 'plan', {
      target: settings.destinationTarget()!,
      published: records.where(records.keys.plan),
      digest,
      parts: doc.partList.map((p) => `${p.index}/${doc.parts}`),
      plan: JSON.parse(text) as Record<string, unknown>,
      finished: new Date().toISOString(),
    });
    const files = doc.partList.flatMap((p) => p.layers.flatMap((l) => l.files));
    const bytes = files.reduce((n, f) => n + f.size, 0);
    const parts = doc.partList.map((p) => `${p.index}/${doc.parts}`);
    log.info(
      { plan: records.where(records.keys.plan), digest, parts: doc.parts, requested: settings.partCount(), files: files.length, bytes, staleRecordsRemoved: stale.length },
      `planned ${files.length} files from ${doc.source} to ${records.keys.uri} in ${doc.parts} parts (plain copies, one object per file)`,
    );
    return {
      results: { parts: JSON.stringify(parts), 'plan-digest': digest, 'model-files': String(files.length), 'model-bytes': String(bytes) },
      summary: { destination: records.keys.uri, plan: records.where(records.keys.plan), digest, parts: doc.parts, files: files.length, bytes, s3: s3.bucket },
    };
  } finally {
    records.close();
  }
}

export async function pushS3Part(ctx: StepContext, part: { index: number; parts: number }): Promise<StepOutcome> {
  const { settings, workspace, log } = ctx;
  const { s3, records } = openRecords(ctx, RECORD_CONNECTIONS);
  const selector = `${part.index}/${part.parts}`;
  try {
    const plan = await readPlan(ctx, records);
    if (part.parts !== plan.doc.parts) {
      throw new ModelSyncError('precondition', `part ${selector} is one of ${part.parts} parts, but the plan at ${records.where(records.keys.plan)} has ${plan.doc.parts}: run the parts plan's parts result lists`);
    }
    const resultKey = records.keys.part(part.index, part.parts);
    const done = await finishedResult(records, resultKey, plan, part.index);
    if (done) {
      log.info({ part: selector, result: records.where(resultKey) }, `part ${selector} finished already for this plan: nothing to do`);
      return { results: { 'model-uri': records.keys.uri, 'image-digest': '' }, summary: { part: selector, uri: records.keys.uri, alreadyFinished: true } };
    }

    const planned = plannedFiles(plan.doc, part.index);
    const source = await openPartSource(ctx, `push --part ${selector}`, { concurrency: settings.pushConcurrency(), tuning: settings.rangedTuning() });
    try {
      const files = partFiles(source, plan.doc, planned);
      await dropPushResult(workspace);
      const started = Date.now();
      log.info({ part: selector, files: files.length, bytes: files.reduce((n, f) => n + f.size, 0), destination: records.keys.uri }, `pushing part ${selector}: ${files.length} files from ${source.label} straight into ${records.keys.uri}`);
      const r = await streamToS3(s3PushContext(ctx), s3, files);
      const text = encodeS3PartResult(s3PartResult(plan.doc, plan.digest, part.index));
      await workspace.writeJson(path.join('parts', `${part.index}-of-${part.parts}.json`), JSON.parse(text));
      // Last: its presence is what tells assemble (and a re-run) that the part is done.
      await records.write(resultKey, text);
      return {
        results: { 'model-uri': r.uri, 'image-digest': '' },
        summary: { part: selector, uri: r.uri, files: r.files, bytes: r.bytes, skipped: r.skipped, result: records.where(resultKey), MBps: megabytesPerSecond(r.bytes, (Date.now() - started) / 1000) },
      };
    } finally {
      source.close();
    }
  } finally {
    records.close();
  }
}

export async function assembleS3(ctx: StepContext): Promise<StepOutcome> {
  const { settings, log } = ctx;
  const { records } = openRecords(ctx, settings.pushConcurrency());
  try {
    const plan = await readPlan(ctx, records);
    const { doc } = plan;
    const unfinished: string[] = [];
    for (const p of doc.partList) {
      const key = records.keys.part(p.index, doc.parts);
      const text = await records.read(key);
      if (text === undefined) {
        unfinished.push(`part ${p.index}/${doc.parts} has no result (${records.where(key)})`);
        continue;
      }
      try {
        decodeS3PartResult(text, { plan: doc, planDigest: plan.digest, part: p.index });
      } catch (err) {
        unfinished.push(messageOf(err));
      }
    }
    if (unfinished.length) {
      throw new ModelSyncError('precondition', `cannot assemble ${records.keys.uri}: ${unfinished.length} of ${doc.parts} parts not finished for plan ${plan.digest}: ${unfinished.join('; ')}`);
    }

    // The results say the parts finished; the objects themselves must still be there, whole.
    const files = doc.partList.flatMap((p) => p.layers.flatMap((l) => l.files));
    const wrong: string[] = [];
    await forEachLimit(files, settings.pushConcurrency(), async (f) => {
      const size = await records.size(`${records.keys.prefix}/${f.path}`);
      if (size === undefined) wrong.push(`${f.path} (missing)`);
      else if (size !== f.size) wrong.push(`${f.path} (${size} bytes, the plan says ${f.size})`);
    });
    if (wrong.length) {
      wrong.sort();
      throw new ModelSyncError('precondition', `cannot assemble ${records.keys.uri}: ${wrong.length} of ${files.length} model files are not there as planned: ${named(wrong)}; run their parts again`);
    }
    const planned = new Set(files.map((f) => `${records.keys.prefix}/${f.path}`));
    const extra = (await records.list(`${records.keys.prefix}/`)).filter((o) => !planned.has(o.key)).map((o) => o.key);
    if (extra.length) log.warn({ uri: records.keys.uri, extra: extra.length, keys: extra.slice(0, NAMED) }, `${extra.length} objects under the prefix are not in the plan (left from an earlier model?); they stay, and a reader of the prefix gets them too`);

    const removed = await removeRecords(ctx, records);
    const bytes = files.reduce((n, f) => n + f.size, 0);
    log.info({ uri: records.keys.uri, parts: doc.parts, files: files.length, bytes, recordsRemoved: removed }, `assembled ${records.keys.uri}: all ${doc.parts} parts finished, ${files.length} files in place`);
    return {
      results: { 'model-uri': records.keys.uri, 'image-digest': '', 'model-files': String(files.length), 'model-bytes': String(bytes) },
      summary: { uri: records.keys.uri, parts: doc.parts, files: files.length, bytes, recordsRemoved: removed },
    };
  } finally {
    records.close();
  }
}

// ---- Shared -------------------------------------------------------------------------------------

function openRecords(ctx: StepContext, connections: number): { s3: S3Settings; records: S3PartRecords } {
  const { settings } = ctx;
  const destination = settings.destination();
  if (destination.type !== 's3') throw new ModelSyncError('internal', 'parts-s3 needs an S3 destination');
  const keys = s3PartKeys(destination.s3, settings.destinationS3SettingNames().key);
  return { s3: destination.s3, records: new S3PartRecords(destination.s3, keys, connections, settings.network()) };
}

interface ReadPlan {
  doc: PartPlanDocument;
  digest: string;
}

async function readPlan(ctx: StepContext, records: S3PartRecords): Promise<ReadPlan> {
  const names = ctx.settings.destinationS3SettingNames();
  const text = await records.read(records.keys.plan);
  if (text === undefined) {
    throw new ModelSyncError('notFound', `no scale-out plan at ${records.where(records.keys.plan)}: run plan first, with the same ${names.bucket} and ${names.key}`);
  }
  const doc = decodePartPlan(text);
  if (doc.repository !== records.keys.uri) {
    throw new ModelSyncError('precondition', `the plan at ${records.where(records.keys.plan)} is for ${doc.repository}, not ${records.keys.uri}`);
  }
  return { doc, digest: partPlanDigest(text) };
}

/** Whether the part's result for this very plan is stored already (one of an older plan is not). */
async function finishedResult(records: S3PartRecords, key: string, plan: ReadPlan, index: number): Promise<boolean> {
  const text = await records.read(key);
  if (text === undefined) return false;
  try {
    decodeS3PartResult(text, { plan: plan.doc, planDigest: plan.digest, part: index });
    return true;
  } catch {
    return false;
  }
}

/** The source's files of the part, refused when the source is not the plan's or a file changed since. */
function partFiles(source: StreamSource, plan: PartPlanDocument, planned: ReturnType<typeof plannedFiles>): SourceFile[] {
  if (source.label !== plan.source) {
    throw new ModelSyncError('precondition', `the plan is for the source ${plan.source}, this part is given ${source.label}: run plan again, or give the part the plan's source`);
  }
  const byPath = new Map(source.files.map((f) => [f.path, f]));
  const changed: string[] = [];
  const files: SourceFile[] = [];
  for (const want of planned) {
    const got = byPath.get(want.path);
    if (!got) changed.push(`${want.path} (no longer in the source)`);
    else if (canonicalIdentity(got.identity) !== canonicalIdentity(want.identity)) changed.push(`${want.path} (was ${canonicalIdentity(want.identity)}, now ${canonicalIdentity(got.identity)})`);
    else files.push(got);
  }
  if (changed.length) {
    throw new ModelSyncError('precondition', `the source ${source.label} changed since the plan: ${named(changed)}; run plan again (and every part)`);
  }
  return files;
}

function named(items: string[]): string {
  return items.length > NAMED ? `${items.slice(0, NAMED).join(', ')} and ${items.length - NAMED} more` : items.join(', ');
}

/**
 * The plan and part records, removed once the model is assembled. The plan first: without it no
 * part or assemble runs on, and part results a stopped removal leaves are cleared by the next
 * plan for the prefix. A refused delete (no s3:DeleteObject) is a warning: the records sit
 * beside the prefix, outside the model.
 */
async function removeRecords(ctx: StepContext, records: S3PartRecords): Promise<number> {
  const keys = (await records.list(records.keys.folder)).map((o) => o.key).sort((a, b) => Number(b === records.keys.plan) - Number(a === records.keys.plan));
  let removed = 0;
  for (const key of keys) {
    try {
      await records.remove(key);
      removed++;
    } catch (err) {
      ctx.log.warn({ key: records.where(key), reason: messageOf(err) }, 'could not remove a scale-out record; it stays beside the model (outside its prefix)');
    }
  }
  return removed;
}
