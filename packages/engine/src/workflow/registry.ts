import type { BlockDef } from './block.ts';
import { MODEL_BLOCKS } from './blocks/models.ts';
import { TRACKER_BLOCKS } from './blocks/trackers.ts';
import {
  CONTINUE_IF,
  DETECTION_OFFSET,
  DETECTIONS_FILTER,
  DETECTIONS_TRANSFORMATION,
  DYNAMIC_CROP,
  PROPERTY_DEFINITION,
} from './blocks/transformations.ts';
import { VISUALIZATION_BLOCKS } from './blocks/visualizations.ts';

/** Every block this worker runs. */
export const BLOCKS: readonly BlockDef[] = [
  ...MODEL_BLOCKS,
  DYNAMIC_CROP,
  DETECTIONS_FILTER,
  DETECTIONS_TRANSFORMATION,
  PROPERTY_DEFINITION,
  DETECTION_OFFSET,
  CONTINUE_IF,
  ...VISUALIZATION_BLOCKS,
  ...TRACKER_BLOCKS,
];

const BY_TYPE = new Map<string, BlockDef>();
for (const b of BLOCKS) for (const t of b.types) BY_TYPE.set(t, b);

/** The block of a step `type`, or undefined. */
export function blockFor(type: string): BlockDef | undefined {
  return BY_TYPE.get(type);
}

/** Every accepted step `type`, for error messages. */
export function supportedTypes(): string[] {
  return [...BY_TYPE.keys()];
}

/**
 * Blocks of the v1 subset (spec §5.1) that are known but not implemented on this worker yet, with
 * whether they keep state across frames (so a workflow naming them is `stateful`).
 */
const PLANNED: Record<string, { stateful: boolean }> = {};
for (const v of [1, 2]) PLANNED[`roboflow_core/line_counter@v${v}`] = { stateful: true };
for (const v of [1, 2, 3]) PLANNED[`roboflow_core/time_in_zone@v${v}`] = { stateful: true };

/** Whether a type is a stateful block (trackers, line counter, time in zone). */
export function isStatefulType(type: string): boolean {
  return BY_TYPE.get(type)?.stateful === true || PLANNED[type]?.stateful === true;
}

/** Whether a type is in the v1 subset but not implemented yet. */
export function isPlannedType(type: string): boolean {
  return type in PLANNED;
}
