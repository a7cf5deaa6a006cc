// One stop for the whole run. Kubernetes sends SIGTERM on pod deletion, preemption or
// activeDeadlineSeconds and SIGKILLs after terminationGracePeriodSeconds: the CLI turns the signal
// into `stop()`, which aborts `signal` (transfers given it stop) and runs what the work in flight
// registered to undo (a multipart upload to abort, an upload session to delete) or to report (what a
// record keeps), so that the termination message can say what was done and what was not.
import { setMaxListeners } from 'node:events';
import { constants } from 'node:os';

export type StopReason = NodeJS.Signals;

export interface StopAction {
  /** What the action stands for, in the termination message ("multipart upload of s3://b/k"). */
  what: string;
  /** Runs once, on stop. Returns the account of what it did; by default "<what> aborted". */
  run: (reason: StopReason) => Promise<string | void>;
  /**
   * `transfer` actions run first, all at once; `settle` ones after them, one by one in the order
   * registered (the registry state is settled once no byte moves any more).
   */
  phase?: 'transfer' | 'settle';
}

/** What stop() did so far: read at any time, so that a run out of time can say what is left. */
export interface StopAccount {
  done: string[];
  failed: string[];
  /** Registered or started, not finished. */
  pending: string[];
}

export class Shutdown {
  private readonly controller = new AbortController();
  private readonly actions = new Set<StopAction>();
  private readonly running = new Set<StopAction>();
  private readonly done: string[] = [];
  private readonly failed: string[] = [];
  private stopping: Promise<StopAccount> | undefined;
  /** The signal that stopped the run, once one did. */
  reason: StopReason | undefined;

  constructor() {
    // Every request in flight listens to the one signal: dozens at once are expected, not a leak
    // (Node would print a warning line, not JSON, into the log past 10).
    setMaxListeners(0, this.controller.signal);
  }

  /** Aborted on stop: transfers given it end without waiting for their bytes. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get stopped(): boolean {
    return this.reason !== undefined;
  }

  /**
   * Registers an action until the returned function is called (the work finished or failed on its
   * own, so there is nothing left to undo). Registered after stop, it runs at once.
   */
  onStop(action: StopAction): () => void {
    if (this.stopped) {
      void this.runOne(action);
      return () => undefined;
    }
    this.actions.add(action);
    return () => {
      this.actions.delete(action);
    };
  }

  /** Aborts the signal and runs the registered actions; a second call returns the first one's promise. */
  stop(reason: StopReason): Promise<StopAccount> {
    this.stopping ??= this.runAll(reason);
    return this.stopping;
  }

  /** The account so far; pending lists what has not finished (or not started). */
  account(): StopAccount {
    return { done: [...this.done], failed: [...this.failed], pending: [...this.running, ...this.actions].map((a) => a.what) };
  }

  private async runAll(reason: StopReason): Promise<StopAccount> {
    this.reason = reason;
    this.controller.abort(Object.assign(new Error(`stopped by ${reason}`), { name: 'AbortError' }));
    const all = [...this.actions];
    await Promise.all(all.filter((a) => (a.phase ?? 'transfer') === 'transfer').map((a) => this.runOne(a)));
    for (const a of all.filter((x) => x.phase === 'settle')) await this.runOne(a);
    return this.account();
  }

  private async runOne(action: StopAction): Promise<void> {
    this.actions.delete(action);
    this.running.add(action);
    try {
      this.done.push((await action.run(this.reason!)) || `${action.what} aborted`);
    } catch (err) {
      this.failed.push(`${action.what}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.running.delete(action);
    }
  }
}

/** The exit code of a process ended by `signal`, as a shell reports it: 128 + its number (SIGTERM 143). */
export function signalExitCode(signal: StopReason): number {
  return 128 + (constants.signals[signal] ?? 15);
}

/** True for the error a transfer ends with when its signal was aborted. */
export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as NodeJS.ErrnoException).code === 'ABORT_ERR');
}
