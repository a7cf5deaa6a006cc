// The Kubernetes termination message: the result on success, a one-line cause on failure.
// Tekton owns /tekton/termination (it carries the results), so we never write there.
import { writeFileSync } from 'node:fs';
import { redact } from './util/redact.js';

/** Kubernetes keeps at most 4096 bytes of a termination message. */
const MAX_BYTES = 4096;

/**
 * Writes the message to `file` (config/process-env.ts says where; undefined: nowhere); skips
 * quietly when the file cannot be written (not in a pod, for example).
 */
export function writeTerminationMessage(file: string | undefined, message: string): void {
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
