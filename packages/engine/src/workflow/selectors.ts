/**
 * Selector syntax (spec/workflows.md §1.5).
 */

export type Selector =
  | { kind: 'input'; name: string; raw: string }
  | { kind: 'output'; step: string; output: string; raw: string }
  | { kind: 'step'; step: string; raw: string };

const INPUT_RE = /^\$inputs\.([A-Za-z_0-9-]+)$/;
const OUTPUT_RE = /^\$steps\.([A-Za-z_0-9-]+)\.([A-Za-z_*0-9-]+)$/;
const STEP_RE = /^\$steps\.([A-Za-z_0-9-]+)$/;

/** Names of inputs, steps and outputs. */
export const NAME_RE = /^[A-Za-z0-9_-]+$/;

/** True for strings that are meant as selectors (start with `$inputs.` or `$steps.`). */
export function looksLikeSelector(v: unknown): v is string {
  return typeof v === 'string' && (v.startsWith('$inputs.') || v.startsWith('$steps.'));
}

/** Parses a selector string; null when it is not a valid selector. */
export function parseSelector(v: string): Selector | null {
  let m = INPUT_RE.exec(v);
  if (m) return { kind: 'input', name: m[1], raw: v };
  m = OUTPUT_RE.exec(v);
  if (m) return { kind: 'output', step: m[1], output: m[2], raw: v };
  m = STEP_RE.exec(v);
  if (m) return { kind: 'step', step: m[1], raw: v };
  return null;
}
