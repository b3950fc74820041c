import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * JSON logger of one process. Child loggers carry `workspace`, `jobId`, `taskId` so every line
 * about a job can be found with one query.
 */
export function createLogger(service: string, level: string): Logger {
  return pino({ level, base: { service, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
