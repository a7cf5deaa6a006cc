// pino logging: JSON lines on stderr (stdout stays free for a step's result), readable when stderr
// is a terminal. Every line passes through redact() before it is written.
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';
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
      ? pretty({ destination: 2, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' })
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

/** Upstream's registry log levels are Python numbers (10 debug ... 50 critical); names work too. */
export function levelFromUpstream(value: string | undefined): string {
  if (!value) return 'warn';
  const byNumber: Record<string, string> = { '10': 'debug', '20': 'info', '30': 'warn', '40': 'error', '50': 'fatal' };
  const lowered = value.trim().toLowerCase();
  if (byNumber[lowered]) return byNumber[lowered];
  const names: Record<string, string> = { warning: 'warn', critical: 'fatal' };
  return names[lowered] ?? (['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(lowered) ? lowered : 'warn');
}
