// pino logging: JSON lines on stderr (stdout stays free for a step's result), one readable line per
// event when stderr is a terminal. Every line passes through redact() before it is written, and
// before pino-pretty reads it, so the terminal line is redacted too.
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';
import { formatEventLine } from './util/event-line.js';
import { redact } from './util/redact.js';

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Force JSON even on a terminal (MODEL_SYNC_LOG_FORMAT=json) or pretty output (=pretty). */
  format?: 'json' | 'pretty';
}

export function createLogger(options: LogOptions = {}): Logger {
  const format = options.format ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const destination =
    format === 'pretty'
      ? // colours only on a terminal: forced pretty into a file or pipe stays plain text
        pretty({ destination: 2, sync: true, ...terminalLineOptions(process.stderr.isTTY === true) })
      : pino.destination({ fd: 2, sync: true });
  return pino(
    {
      level: (options.level ?? 'info') as LevelWithSilent,
      base: { app: 'model-sync' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err },
      hooks: { streamWrite: (line: string) => redact(line) },
    },
    destination,
  );
}

/**
 * pino-pretty set up for one line per event: the message format writes the whole line (time, level,
 * step, message, key=value fields); pino-pretty's own time, level, metadata and object parts stay
 * empty, as its layout would add a colon after the level and print the fields as indented JSON.
 * (The message format sees the event before `ignore` applies, so a `name` field still shows.)
 */
export function terminalLineOptions(colorize: boolean): pretty.PrettyOptions {
  return {
    colorize,
    hideObject: true,
    // else pino-pretty prints a `name` field (a model's, a version's) as the logger's name before the line
    ignore: 'pid,hostname,name,caller',
    customPrettifiers: { time: () => '', level: () => '' },
    messageFormat: (event, _messageKey, _levelLabel, { colors }) => formatEventLine(event, colors),
  };
}

/** Upstream's registry log levels are Python numbers (10 debug ... 50 critical); names work too. */
export function levelFromUpstream(value: string | undefined): string {
  if (!value) return 'warn';
  const byNumber: Record<string, string> = { '10': 'debug', '20': 'info', '30': 'warn', '40': 'error', '50': 'fatal' };
  const lowered = value.trim().toLowerCase();
  if (byNumber[lowered]) return byNumber[lowered];
  const names: Record<string, string> = { warning: 'warn', critical: 'fatal' };
  return names[lowered] ?? (['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(lowered) ? lowered : 'warn');
}
