import winston from 'winston';

/**
 * JSON lines on stderr (stdout stays free for anything a wrapper might parse);
 * every line carries the instance id so logs of several sidecars can be merged.
 */
export type Logger = winston.Logger;

export function createLogger(opts: { level: string; instanceId: string; silent?: boolean }): Logger {
  return winston.createLogger({
    level: opts.level,
    silent: opts.silent ?? false,
    defaultMeta: { instance: opts.instanceId },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] })],
  });
}
