// The include / exclude patterns applied where a source lists its files (util/fnmatch.ts has the
// semantics): one filter per fetch (or streamed listing) that keeps what matches, counts and
// remembers what it skipped for the inventory and the log, and refuses a source left empty.
import { ModelSyncError } from '../errors.js';
import type { Logger } from '../log.js';
import { hasPatterns, pathMatcher, type PathPatterns } from '../util/fnmatch.js';
import { normaliseRelative } from '../workspace/safe-path.js';

/** How many skipped paths the inventory and the info line name (all of them at debug level). */
export const SKIPPED_NAMED = 20;

export interface FilteredSummary {
  skipped: number;
  /** The first SKIPPED_NAMED skipped paths. */
  first: string[];
}

export class PathFilter {
  private readonly matches: ((path: string) => boolean) | undefined;
  private readonly skippedPaths: string[] = [];
  private skippedCount = 0;

  constructor(private readonly patterns: PathPatterns | undefined) {
    this.matches = hasPatterns(patterns) ? pathMatcher(patterns) : undefined;
  }

  get active(): boolean {
    return this.matches !== undefined;
  }

  /** Whether the file at `relative` (a path under the model root) is kept; a skipped one is counted. */
  keeps(relative: string, log?: Logger): boolean {
    if (!this.matches) return true;
    const path = normaliseRelative(relative);
    if (this.matches(path)) return true;
    this.skippedCount++;
    if (this.skippedPaths.length < SKIPPED_NAMED) this.skippedPaths.push(path);
    log?.debug({ path }, 'skipped by the include / exclude patterns');
    return false;
  }

  /** The listed items that are kept; refuses a listing of which none is (`label` names the source). */
  keep<T>(items: readonly T[], pathOf: (item: T) => string, label: string, log: Logger): T[] {
    const kept = items.filter((item) => this.keeps(pathOf(item), log));
    if (items.length > 0) this.report(kept.length, label, log);
    return kept;
  }

  /** Logs what was skipped, and refuses a source all of whose `kept` + skipped files were skipped. */
  report(kept: number, label: string, log: Logger): void {
    if (!this.matches || !this.patterns) return;
    if (this.skippedCount > 0) {
      log.info({ skipped: this.skippedCount, kept, first: this.skippedPaths }, `skipping ${this.skippedCount} file(s) of ${label} by the include / exclude patterns`);
    }
    if (kept === 0 && this.skippedCount > 0) {
      const { include, exclude, includeSetting, excludeSetting } = this.patterns;
      throw new ModelSyncError(
        'precondition',
        `no file of ${label} is left by the patterns (${includeSetting} ${JSON.stringify(include)}, ${excludeSetting} ${JSON.stringify(exclude)}): all ${this.skippedCount} were skipped`,
      );
    }
  }

  /** Forgets what was skipped (an archive unpacked again from its first entry after a retry). */
  reset(): void {
    this.skippedCount = 0;
    this.skippedPaths.length = 0;
  }

  /** For the inventory: undefined when no pattern is set. */
  summary(): FilteredSummary | undefined {
    return this.matches ? { skipped: this.skippedCount, first: [...this.skippedPaths] } : undefined;
  }
}
