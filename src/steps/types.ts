import type { StepSettings } from '../config/settings.js';
import type { Logger } from '../log.js';
import type { Shutdown } from '../util/shutdown.js';
import type { Workspace } from '../workspace/workspace.js';

export interface StepContext {
  /** Typed settings of this run; runners never read parameters by name. */
  settings: StepSettings;
  workspace: Workspace;
  log: Logger;
  /**
   * The run's stop (SIGTERM, SIGINT): transfers get its signal, and register with it what to abort
   * or report, so that the CLI can clean up within the grace period.
   */
  stop: Shutdown;
  /**
   * Set by `all` when it means to stream the model from the source to the destination: preflight
   * then needs no room on the volume for the model itself.
   */
  streaming?: () => boolean;
}

export interface StepOutcome {
  /** Values of the step's declared results (steps/<step>.yaml), keyed by result name. */
  results: Record<string, string>;
  /** Termination message on success; by default the results as JSON. */
  termination?: string;
  /** Fields for the closing log line. */
  summary?: Record<string, unknown>;
}

export type StepRunner = (ctx: StepContext) => Promise<StepOutcome>;
