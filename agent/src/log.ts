import winston from 'winston';

/**
 * The one logging port the sidecar's parts take: a message in domain words
 * plus structured fields. Parts never see winston; the composition root hands
 * them the winston adapter below (or `silentLog` in unit tests).
 */
export interface Log {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** Discards everything: for parts built without a log (unit tests, ad-hoc tools). */
export const silentLog: Log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * JSON lines on stderr (stdout stays free for anything a wrapper might parse);
 * every line carries the instance id so logs of several sidecars can be merged.
 */
export function createLogger(opts: { level: string; instanceId: string; silent?: boolean }): Log {
  const w = winston.createLogger({
    level: opts.level,
    silent: opts.silent ?? false,
    defaultMeta: { instance: opts.instanceId },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] })],
  });
  const at = (level: LogLevel) => (m: string, meta?: Record<string, unknown>) => void (meta ? w.log(level, m, meta) : w.log(level, m));
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const LINE_PREFIX: Record<LogLevel, string> = { error: 'error: ', warn: 'warning: ', info: '', debug: '' };

/** A Log as plain lines for a person (the entry point's stderr, outside the JSON log). */
export function lineLog(write: (line: string) => void): Log {
  const at = (level: LogLevel) => (m: string, meta?: Record<string, unknown>) => write(`${LINE_PREFIX[level]}${m} ${JSON.stringify(meta ?? {})}`);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
