import type { StoreConfig } from '@visionbatch/shared/config';
import type { JobContext, Task, TaskOutcome } from '@visionbatch/shared/tasks';

export type {
  ExportTask,
  FileFailure,
  ImageTask,
  JobContext,
  Task,
  TaskOutcome,
  VideoTask,
} from '@visionbatch/shared/tasks';

/** main thread → slot */
export type ToSlot =
  | { type: 'init'; context: JobContext; store: StoreConfig; intraOpNumThreads: number; cacheDir: string }
  | { type: 'task'; task: Task }
  | { type: 'cancel' };

/** slot → main thread */
export type FromSlot =
  | { type: 'ready' }
  /** a slot loaded the job's models (on its first task that needs them), in `modelLoadMs` */
  | { type: 'models-loaded'; modelLoadMs: number }
  | { type: 'init-failed'; message: string }
  | { type: 'progress'; taskId: string; done: number; total: number }
  | { type: 'done'; taskId: string; outcome: TaskOutcome }
  | { type: 'error'; taskId: string; message: string; permanent: boolean };
