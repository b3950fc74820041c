/**
 * The one declaration of the states of a job, a stage and a task, and of the moves allowed
 * between them. The Redis scripts that make every move (./commands/*.lua) are generated with this
 * table as their preamble, so TypeScript and Lua cannot disagree; the wire fields (`isTerminal`,
 * `error`, `statusType`) are derived from a state here and never stored beside it.
 *
 * ```
 *  job:    queued ──► running ──► succeeded
 *             │          │  ╲
 *             ▼          ▼   ╲──► aborted ──┐
 *           failed ◄─────┘        ▲         │ restart (epoch + 1)
 *             │   ╲_______________│_________▼
 *             └──────────── restart ──► running
 *
 *  stage:  planning ──► running ──► succeeded
 *              ▲           │ ╲
 *              └─ re-plan ─┘  ╲──► failed | aborted ──► planning (restart)
 *
 *  task:   running ──► succeeded
 *             │ ╲
 *             │  ╲──► failed | cancelled ──► running (a retry in a restarted job)
 *             └──► running (progress)
 * ```
 */

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'aborted'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const STAGE_STATES = ['planning', 'running', 'succeeded', 'failed', 'aborted'] as const;
export type StageState = (typeof STAGE_STATES)[number];

export const TASK_STATES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** Allowed moves: from → the states it may move to. A state absent on the left is a dead end. */
export const TRANSITIONS = {
  job: {
    queued: ['running', 'failed', 'aborted'],
    running: ['succeeded', 'failed', 'aborted'],
    failed: ['running'],
    aborted: ['running'],
    succeeded: [],
  },
  stage: {
    planning: ['planning', 'running', 'failed', 'aborted'],
    running: ['planning', 'succeeded', 'failed', 'aborted'],
    failed: ['planning'],
    aborted: ['planning'],
    succeeded: [],
  },
  task: {
    running: ['running', 'succeeded', 'failed', 'cancelled'],
    failed: ['running'],
    cancelled: ['running'],
    succeeded: [],
  },
} as const satisfies {
  job: Record<JobState, readonly JobState[]>;
  stage: Record<StageState, readonly StageState[]>;
  task: Record<TaskState, readonly TaskState[]>;
};

export type MachineKind = keyof typeof TRANSITIONS;

/** Whether `kind` may move from `from` to `to`. */
export function canMove(kind: MachineKind, from: string, to: string): boolean {
  const allowed = (TRANSITIONS[kind] as Record<string, readonly string[]>)[from];
  return !!allowed && allowed.includes(to);
}

/** A job in one of these states never changes again, except by an explicit restart. */
export const isTerminalJob = (s: JobState): boolean => s === 'succeeded' || s === 'failed' || s === 'aborted';

/** The wire's `error` flag of a job (spec §3.1): it ended, and not well. */
export const isErrorJob = (s: JobState): boolean => s === 'failed' || s === 'aborted';

/** The wire's `statusType` of a stage or task state. */
export function statusTypeOf(s: StageState | TaskState): 'info' | 'success' | 'error' {
  if (s === 'succeeded') return 'success';
  if (s === 'failed' || s === 'aborted' || s === 'cancelled') return 'error';
  return 'info';
}

/**
 * Why a fenced write was refused. Every script returns `ok` or one of these; callers count them in
 * `vb_fenced_writes_total{kind}` and carry on (a stale writer is expected, not an error).
 */
export const REFUSALS = [
  'no-job',
  'stale-epoch',
  'not-leader',
  'lost-lock',
  'job-not-running',
  'job-terminal',
  'bad-move',
  'stage-mismatch',
  'incomplete',
  'task-done',
  'cap-reached',
  'no-lease',
] as const;
export type Refusal = (typeof REFUSALS)[number];

/** The Lua table form of {@link TRANSITIONS}: `T[kind][from][to] == true`. */
export function transitionsAsLua(): string {
  const kinds = Object.entries(TRANSITIONS).map(([kind, moves]) => {
    const froms = Object.entries(moves as Record<string, readonly string[]>).map(
      ([from, tos]) => `['${from}']={${tos.map((t) => `['${t}']=true`).join(',')}}`,
    );
    return `['${kind}']={${froms.join(',')}}`;
  });
  return `{${kinds.join(',')}}`;
}
