// Fetch source `uri` with http:// or https://: one file, or a tar / tar.gz / zip archive unpacked
// into model/ (the archive itself is not kept, as upstream deletes it after unpacking).
//
// Re-runs: the response's ETag and Content-Length are compared with the previous run's record
// before the body is read; when they match and the files are in place, nothing is downloaded.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { ModelSyncError } from '../errors.js';
import type { AgentPool } from '../net/policy.js';
import type { TlsTrust } from '../net/tls-trust.js';
import { withRetry } from '../net/retry.js';
import type { Progress } from '../util/progress.js';
import type { Inventory } from '../workspace/records.js';
import { archiveKind } from './archive-kind.js';
import { contentLength, MAX_REDIRECTS, send, type HttpResponse } from '../net/request.js';
import { displayUrl, splitUrlCredentials } from '../net/url.js';
import { isTransientHttpError, networkError, statusError, withWebPool } from './http-errors.js';
import { sameIdentity, SizeMismatchError, withSession, type FetchContext, type FetchSession, type SourceIdentity } from './session.js';
import { extractTar } from './tar.js';
import { extractZip } from './zip.js';

/** An http(s) source: the URL without its user:password (sent as a header instead), as shown in logs, and its file name. */
export function webFile(uri: string, setting: string): { url: URL; headers: Record<string, string>; shown: string; name: string } {
  const { url, headers } = splitUrlCredentials(new URL(uri));
  const shown = displayUrl(url);
  const name = decodeURIComponent(path.posix.basename(url.pathname));
  if (name === '' || name === '.' || name === '..') {
    throw new ModelSyncError('config', `${setting}: ${shown} names no file (the last path segment is the file name)`);
  }
  return { url, headers, shown, name };
}

export async function fetchFromHttp(ctx: FetchContext, uri: string, setting: string, trust?: TlsTrust): Promise<Inventory> {
  const { url, headers, shown, name } = webFile(uri, setting);
  const queryNames = [...url.searchParams.values()].map((v) => path.posix.basename(v));
  return withWebPool(ctx.network, trust, (pool) =>
    withSession(ctx, shown, async (session) => {
      await withRetry(() => fetchOnce(session, pool, url, headers, name, queryNames, shown), {
        attempts: ctx.network.retryAttempts,
        isTransient: isTransientHttpError,
        log: ctx.log,
        what: `GET ${shown}`,
      }).catch((err: unknown) => {
        throw networkError(err, `GET ${shown}`);
      });
    }),
  );
}

async function fetchOnce(session: FetchSession, pool: AgentPool, url: URL, headers: Record<string, string>, name: string, queryNames: string[], shown: string): Promise<void> {
  const what = `GET ${shown}`;
  const res = await send({ method: 'GET', url, headers, maxRedirects: MAX_REDIRECTS, signal: session.signal }, pool);
  if (res.status !== 200) {
    res.body.resume();
    throw statusError(res.status, what, res.headers);
  }
  const length = contentLength(res.headers);
  const etag = res.headers.etag;
  const identity: SourceIdentity = { size: length ?? -1, ...(etag ? { etag } : {}), ...(length !== undefined ? { contentLength: length } : {}) };
  const kind = archiveKind(name, queryNames, res.headers['content-type'], session.log);
  session.log.info({ url: shown, kind, bytes: length, contentType: res.headers['content-type'] }, `downloading ${kind === 'file' ? 'file' : `${kind} archive`}`);
  const progress = session.progress(`fetch ${shown}`, length ?? 0);
  try {
    if (kind === 'file') {
      if (!session.paths.keeps(name, session.log)) {
        res.body.destroy(); // the one file is left out by the patterns: refused, nothing written
        session.paths.report(0, shown, session.log);
      }
      if (length !== undefined && (await session.completed(name, identity))) {
        res.body.destroy();
        return;
      }
      if (length !== undefined) await roomFor(session, res, length);
      await session.writeStream(name, res.body, {
        what,
        progress,
        ...(length !== undefined ? { expectedSize: length } : {}),
        identity: { ...(etag ? { etag } : {}), ...(length !== undefined ? { contentLength: length } : {}) },
      });
      return;
    }
    const previous = session.archive;
    if (previous?.extracted && length !== undefined && sameIdentity(previous, identity) && (await session.reuseAllRecorded())) {
      res.body.destroy();
      return;
    }
    // An archive unpacks to at least its Content-Length (a zip is also kept while it unpacks).
    if (length !== undefined) await roomFor(session, res, length, true);
    session.forgetFiles();
    session.setArchive({ ...identity, extracted: false });
    const label = `archive ${shown}`;
    if (kind === 'tar') {
      await extractTar(countedBody(res, progress, length, what), session, label, length);
    } else {
      const temp = session.tempPath(name);
      try {
        await pipeline(countedBody(res, progress, length, what), createWriteStream(temp));
        await extractZip(temp, session, label);
      } finally {
        await rm(temp, { force: true });
      }
    }
    if (!session.entryCount()) throw new ModelSyncError('notFound', `${label} contains no files`);
    session.setArchive({ ...identity, extracted: true });
  } finally {
    progress.finish();
  }
}

/** Checks the room for `needed` bytes from the headers alone, leaving the body unread when it lacks. */
async function roomFor(session: FetchSession, res: HttpResponse, needed: number, atLeast = false): Promise<void> {
  try {
    await session.ensureRoom(needed, { atLeast });
  } catch (err) {
    res.body.destroy();
    throw err;
  }
}

/** The body of an archive download, failing (for a retry) when it ends short of Content-Length. */
async function* countedBody(res: HttpResponse, progress: Progress, length: number | undefined, what: string): AsyncGenerator<Buffer> {
  let received = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    received += chunk.length;
    progress.add(chunk.length);
    yield chunk;
  }
  if (length !== undefined && received !== length) throw new SizeMismatchError(what, received, length);
}
