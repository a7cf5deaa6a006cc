// The Kubernetes termination message: the result on success, a one-line cause on failure.
// Tekton owns /tekton/termination (it carries the results), so we never write there.
import { writeFileSync } from 'node:fs';
import { redact } from './util/redact.js';

const DEFAULT_PATH = '/dev/termination-log';
/** Kubernetes keeps at most 4096 bytes of a termination message. */
const MAX_BYTES = 4096;

export function terminationMessagePath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.TERMINATION_MESSAGE_PATH || DEFAULT_PATH;
  if (file.startsWith('/tekton/')) return undefined;
  return file;
}

/** Writes the message; skips quietly when the file cannot be written (not in a pod, for example). */
export function writeTerminationMessage(message: string, env: NodeJS.ProcessEnv = process.env): void {
  const file = terminationMessagePath(env);
  if (!file) return;
  let text = redact(message);
  if (Buffer.byteLength(text) > MAX_BYTES) text = Buffer.from(text).subarray(0, MAX_BYTES - 3).toString('utf8') + '...';
  try {
    writeFileSync(file, text);
  } catch {
    // not writable here: nothing to report
  }
}

/** A failure cause on one line. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
