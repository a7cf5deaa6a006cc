// The blob upload sessions a push has open, recorded in the workspace (`.model-sync/oci-uploads.json`)
// after each chunk, so that a run killed outright (kill -9, OOM, node loss) continues them from
// the registry's offset instead of from byte 0. SIGTERM still deletes the open session (the run's
// stop); an entry whose session is gone by then is found out by the registry's answer and replaced.
import { createHash } from 'node:crypto';
import type { Workspace } from '../workspace/workspace.js';
import { readRecord, writeRecord, type UploadSessionEntry } from '../workspace/records.js';
import type { SessionRecord } from './registry-client.js';

export type { UploadSessionEntry };

/** The key of a staged blob's upload (its content identity is its digest). */
export function blobSessionKey(digest: string): string {
  return `blob ${digest}`;
}

/**
 * The key of a streamed layer's upload, whose digest is known only at its end: the repository,
 * and each member's path and source identity, in order (the streaming all and push --part).
 */
export function streamedLayerSessionKey(repository: string, members: ReadonlyArray<{ path: string; identity: unknown }>): string {
  return createHash('sha256').update(JSON.stringify([repository, members.map((f) => [f.path, f.identity])])).digest('hex');
}

/** Which upload an entry must belong to, for it to be continued. */
export interface SessionOwner {
  registry: string;
  repository: string;
  size: number;
  digest?: string;
}

export class UploadSessions {
  /** Writes one after the other: concurrent blobs record their chunks in the same file. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly workspace: Workspace,
    private readonly sessions: Map<string, UploadSessionEntry>,
  ) {}

  static async load(workspace: Workspace): Promise<UploadSessions> {
    const record = await readRecord(workspace, 'oci-uploads');
    return new UploadSessions(workspace, new Map(Object.entries(record?.sessions ?? {})));
  }

  get(key: string): UploadSessionEntry | undefined {
    return this.sessions.get(key);
  }

  /** Records the entry; resolves once the record is on disk (atomic write). */
  set(key: string, entry: UploadSessionEntry): Promise<void> {
    this.sessions.set(key, entry);
    return this.persist();
  }

  delete(key: string): Promise<void> {
    if (!this.sessions.has(key)) return this.writing;
    this.sessions.delete(key);
    return this.persist();
  }

  /**
   * The record of one upload for the registry client: the entry under `key` is continued only
   * when it belongs to the same registry, repository and blob size (and digest, when known).
   */
  record(key: string, owner: SessionOwner): SessionRecord {
    const found = this.get(key);
    const matches = found && found.registry === owner.registry && found.repository === owner.repository && found.size === owner.size && (!owner.digest || !found.digest || found.digest === owner.digest);
    return {
      location: matches ? found.location : undefined,
      save: (location, offset) => this.set(key, { ...owner, location, offset, updated: new Date().toISOString() }),
      clear: () => this.delete(key),
    };
  }

  private persist(): Promise<void> {
    const snapshot = Object.fromEntries(this.sessions);
    this.writing = this.writing.catch(() => undefined).then(() => writeRecord(this.workspace, 'oci-uploads', { sessions: snapshot }));
    return this.writing;
  }
}
