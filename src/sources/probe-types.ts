// What preflight learns from a source without moving a model byte: that it exists and can be read,
// and how much fetch would write into model/.
import type { Logger } from '../log.js';
import type { NetworkSettings } from '../net/policy.js';
import type { Needed } from '../workspace/disk.js';
import type { Workspace } from '../workspace/workspace.js';

export interface SourceProbeContext {
  workspace: Workspace;
  log: Logger;
  network: NetworkSettings;
  /** The include / exclude patterns as a filter (absent: every file): a left-out file is never asked for. */
  keeps?: (relative: string) => boolean;
}

export interface SourceProbe {
  /** How the source is shown (and recorded by fetch). */
  label: string;
  files: number;
  /** Bytes fetch would still write into model/: exact, or a lower bound (an archive, a compressed layer). */
  needed: Needed;
}
