/**
 * Errors of the inference engine. Every per-file failure carries a stable `reason` code (the
 * slot copies it into `FileFailure.reason`); everything else says what to fix.
 */

/** Stable reason codes of images that cannot be decoded. */
export type ImageFailureReason = 'empty-file' | 'corrupt-image' | 'unsupported-format' | 'image-too-large';

/** An image that cannot be decoded; `reason` is a stable code. */
export class ImageDecodeError extends Error {
  constructor(
    readonly reason: ImageFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'ImageDecodeError';
  }
}

/** A model whose ONNX inputs/outputs do not fit its registry record (task, classes, input size). */
export class ModelMismatchError extends Error {
  constructor(
    readonly modelId: string,
    message: string,
  ) {
    super(`model "${modelId}": ${message}`);
    this.name = 'ModelMismatchError';
  }
}

/**
 * The execution provider a machine must use (CUDA on gpu machines) could not be initialised. We
 * never fall back to the CPU silently: a gpu machine running on its CPU is billed as a GPU.
 */
export class ExecutionProviderUnavailableError extends Error {
  constructor(
    readonly provider: string,
    cause: unknown,
  ) {
    super(
      `execution provider "${provider}" is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'ExecutionProviderUnavailableError';
  }
}

/** One problem found while compiling a workflow definition. */
export interface CompileProblem {
  /** step name (or input/output name) the problem is in, when there is one */
  step?: string;
  /** field of that step */
  field?: string;
  message: string;
}

/** A workflow definition that cannot run; the message names the step and field of every problem. */
export class WorkflowCompileError extends Error {
  readonly problems: CompileProblem[];

  constructor(problems: CompileProblem[] | CompileProblem) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(list.map(formatProblem).join('; '));
    this.name = 'WorkflowCompileError';
    this.problems = list;
  }

  /** step of the first problem */
  get step(): string | undefined {
    return this.problems[0]?.step;
  }

  /** field of the first problem */
  get field(): string | undefined {
    return this.problems[0]?.field;
  }
}

function formatProblem(p: CompileProblem): string {
  if (p.step && p.field) return `step "${p.step}", field "${p.field}": ${p.message}`;
  if (p.step) return `step "${p.step}": ${p.message}`;
  return p.message;
}

/** A step that failed while running on one image (reason `workflow-step-failed`). */
export class WorkflowStepError extends Error {
  readonly reason = 'workflow-step-failed';

  constructor(
    readonly step: string,
    cause: unknown,
  ) {
    super(`step "${step}" failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'WorkflowStepError';
  }
}
