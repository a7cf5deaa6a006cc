// One log event as one line for a person at a terminal:
//   10:42:07 INFO  fetch  fetched 12 files (1.2 GiB) files=12 bytes=1288490188
// The JSON log (pods) keeps every field; this line keeps time, level, step, message and the other
// fields as key=value, each on one line and cut when long, so an event never spans lines.

/** What the line shows in its own columns, or leaves out: not repeated as key=value. */
const SHOWN_ELSEWHERE = new Set(['time', 'level', 'msg', 'app', 'step', 'part', 'pid', 'hostname']);
/** A field's value longer than this is cut (a nested configuration, a long URL list). */
export const MAX_VALUE_CHARS = 120;
/** `all/preflight`, the widest step column in common runs, so messages start in one column. */
const STEP_WIDTH = 13;

/** The subset of colorette the line uses; identity functions when colours are off. */
export interface LineColors {
  gray: (s: string) => string;
  red: (s: string) => string;
  yellow: (s: string) => string;
  green: (s: string) => string;
  blue: (s: string) => string;
  cyan: (s: string) => string;
  bgRed: (s: string) => string;
}

const plain = (s: string) => s;
export const NO_COLORS: LineColors = { gray: plain, red: plain, yellow: plain, green: plain, blue: plain, cyan: plain, bgRed: plain };

export function formatEventLine(event: Record<string, unknown>, colors: LineColors = NO_COLORS): string {
  const level = String(event.level ?? 'info');
  const step = [event.step, event.part].filter((s) => typeof s === 'string' && s).join('/');
  const message = oneLine(String(event.msg ?? ''));
  // A progress line's message already says done, total, percent, rate and ETA.
  const fields = event.progress !== undefined ? [] : Object.entries(event).filter(([k, v]) => !SHOWN_ELSEWHERE.has(k) && v !== undefined);
  const parts = [
    colors.gray(clockTime(event.time)),
    levelColor(level, colors)(level.toUpperCase().padEnd(5)),
    step ? colors.cyan(step.padEnd(STEP_WIDTH)) : ''.padEnd(STEP_WIDTH),
    message,
  ];
  const line = parts.join(' ').trimEnd();
  if (!fields.length) return line;
  return `${line} ${fields.map(([k, v]) => colors.gray(`${k}=`) + compactValue(v)).join(' ')}`;
}

/** A field's value: numbers and simple words as they are, anything else as compact JSON, cut when long. */
export function compactValue(value: unknown): string {
  let text: string;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) text = String(value);
  else if (typeof value === 'string') text = /^[\w./:@%+,-]+$/.test(value) ? value : JSON.stringify(value);
  else if (isError(value)) text = JSON.stringify(oneLine(`${value.type ?? 'Error'}: ${value.message}`));
  else text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}

function isError(value: unknown): value is { type?: string; message: string } {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string' && 'stack' in value;
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

/** Local wall-clock time, HH:MM:SS; the JSON log has the full ISO timestamp. */
function clockTime(time: unknown): string {
  const date = new Date(typeof time === 'string' || typeof time === 'number' ? time : Date.now());
  if (Number.isNaN(date.getTime())) return String(time);
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

function levelColor(level: string, colors: LineColors): (s: string) => string {
  switch (level) {
    case 'fatal':
      return colors.bgRed;
    case 'error':
      return colors.red;
    case 'warn':
      return colors.yellow;
    case 'info':
      return colors.green;
    case 'debug':
      return colors.blue;
    default:
      return colors.gray;
  }
}
