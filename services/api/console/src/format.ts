import type { Job, Stage, Task } from './wire.ts';

/** `2025-01-01 12:00:03` in the browser's time zone. */
export function when(isoTime: string | null | undefined): string {
  if (!isoTime) return '—';
  const d = new Date(isoTime);
  if (Number.isNaN(d.getTime())) return isoTime;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `1 h 2 min`, `3 min 4 s`, `5 s`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Time left until an ISO instant, `—` when unknown or past. */
export function eta(isoTime: string | null | undefined, now = Date.now()): string {
  if (!isoTime) return '—';
  const ms = new Date(isoTime).getTime() - now;
  return Number.isFinite(ms) && ms > 0 ? `in ${duration(ms / 1000)}` : '—';
}

export function notificationText(n: unknown): string {
  if (n === null || n === undefined) return '';
  return typeof n === 'string' ? n : JSON.stringify(n);
}

/** The job's state: the api's `state` field, else what `isTerminal`/`error` say. */
export function jobState(j: Job): string {
  if (j.state) return j.state;
  if (!j.isTerminal) return j.currentStage ? 'running' : 'queued';
  return j.error ? 'failed' : 'succeeded';
}

/**
 * Progress 0..1: the api's `progress` when it sends one; else, with the stages and tasks at hand,
 * the processing stage's task progress (90 %) and the export (10 %); else only terminal jobs are
 * known (1). Null: unknown.
 */
export function jobProgress(j: Job, stages?: Stage[], tasks?: Record<string, Task[]>): number | null {
  if (typeof j.progress === 'number') return j.progress;
  if (j.isTerminal) return jobState(j) === 'succeeded' ? 1 : null;
  if (!stages) return j.currentStage === 'export' ? 0.9 : null;
  const fraction = (s: Stage | undefined) => {
    if (!s || s.tasksNumber === 0) return 0;
    if (s.statusType === 'success') return 1;
    const ts = tasks?.[s.processingStageId] ?? [];
    const done = ts.reduce((sum, t) => sum + (t.statusType === 'success' ? 1 : (t.progress ?? 0)), 0);
    return Math.min(1, done / s.tasksNumber);
  };
  const processing = stages.find((s) => s.processingStageName === 'processing');
  const exp = stages.find((s) => s.processingStageName === 'export');
  return 0.9 * fraction(processing) + 0.1 * fraction(exp);
}

export const percent = (x: number) => `${Math.round(x * 100)} %`;

export const bytes = (n: number) =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
