import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Detection, Detections, rootLineage } from '../../detections.ts';
import { WorkflowCompileError } from '../../errors.ts';
import { DecodedImage } from '../../image-decode.ts';
import { type ModelRuntime, OrtModelRuntime } from '../../model-runtime.ts';
import { modelRecord } from '../../testing/records.ts';
import { gridDetector } from '../../testing/tiny-models.ts';
import type { BlockContext, BlockDef } from '../block.ts';
import { compileWorkflow, isStatefulDefinition } from '../compiler.ts';
import { executeImage } from '../executor.ts';
import { StateStore } from '../state.ts';
import { type VideoMetadata, WorkflowImage } from '../values.ts';
import {
  BYTE_TRACKER_V1,
  BYTE_TRACKER_V2,
  BYTE_TRACKER_V3,
  SeenIds,
  TRACKERS_BYTETRACK,
} from './trackers.ts';

/**
 * Tracker blocks (spec §2.14): compile-time fields and errors, per-video state, the
 * new/already-seen split, output shape; and a frame sequence through the executor.
 */

const MODELS: Record<string, ModelRecord> = { 'det/1': modelRecord({ modelId: 'det/1' }) };
const IMAGE = { type: 'WorkflowImage', name: 'image' };
const DET = {
  type: 'roboflow_core/roboflow_object_detection_model@v2',
  name: 'det',
  images: '$inputs.image',
  model_id: 'det/1',
};

function wf(steps: unknown[], outputs: unknown[] = [], inputs: unknown[] = [IMAGE]) {
  return { version: '1.0', inputs, steps, outputs };
}

function tracker(type: string, extra: Record<string, unknown> = {}) {
  const frame =
    type === 'roboflow_core/byte_tracker@v1' ? { metadata: '$inputs.video' } : { image: '$inputs.image' };
  return { type, name: 'track', ...frame, detections: '$steps.det.predictions', ...extra };
}

const VIDEO_INPUTS = [IMAGE, { type: 'WorkflowVideoMetadata', name: 'video' }];
const TYPES = [
  'roboflow_core/byte_tracker@v1',
  'roboflow_core/byte_tracker@v2',
  'roboflow_core/byte_tracker@v3',
  'roboflow_core/trackers_bytetrack@v1',
];

function compileError(def: unknown): WorkflowCompileError {
  try {
    compileWorkflow(def, { models: MODELS });
  } catch (e) {
    expect(e).toBeInstanceOf(WorkflowCompileError);
    return e as WorkflowCompileError;
  }
  throw new Error('expected a compile error');
}

describe('tracker blocks: compilation', () => {
  it.each(TYPES)('%s compiles after a detector and makes the workflow stateful', (type) => {
    const def = wf(
      [DET, tracker(type)],
      [{ type: 'JsonField', name: 'tracked', selector: '$steps.track.tracked_detections' }],
      VIDEO_INPUTS,
    );
    const c = compileWorkflow(def, { models: MODELS });
    expect(c.stateful).toBe(true);
    expect(isStatefulDefinition(def)).toBe(true);
    expect(c.steps.map((s) => s.name)).toEqual(['det', 'track']);
    expect(c.steps[1].inputShape.level).toBe(1);
  });

  it('fills the §2.14 defaults', () => {
    const fields = (type: string) => {
      const c = compileWorkflow(wf([DET, tracker(type)], [], VIDEO_INPUTS), { models: MODELS });
      return Object.fromEntries(
        Object.entries(c.steps[1].fields)
          .filter(([, v]) => v.kind === 'literal')
          .map(([k, v]) => [k, (v as { value: unknown }).value]),
      );
    };
    expect(fields('roboflow_core/byte_tracker@v2')).toEqual({
      track_activation_threshold: 0.25,
      lost_track_buffer: 30,
      minimum_matching_threshold: 0.8,
      minimum_consecutive_frames: 1,
    });
    expect(fields('roboflow_core/byte_tracker@v3').instances_cache_size).toBe(16384);
    expect(fields('roboflow_core/trackers_bytetrack@v1')).toEqual({
      minimum_iou_threshold: 0.1,
      minimum_consecutive_frames: 2,
      lost_track_buffer: 30,
      track_activation_threshold: 0.7,
      high_conf_det_threshold: 0.6,
      instances_cache_size: 16384,
    });
  });

  it('exposes new_instances / already_seen_instances on v3 and trackers_bytetrack only', () => {
    const out = (type: string) =>
      wf(
        [DET, tracker(type)],
        [{ type: 'JsonField', name: 'n', selector: '$steps.track.new_instances' }],
        VIDEO_INPUTS,
      );
    compileWorkflow(out('roboflow_core/byte_tracker@v3'), { models: MODELS });
    compileWorkflow(out('roboflow_core/trackers_bytetrack@v1'), { models: MODELS });
    const e = compileError(out('roboflow_core/byte_tracker@v2'));
    expect(e.message).toContain('has no output "new_instances"');
  });

  it.each([
    ['roboflow_core/byte_tracker@v2', 'track_activation_threshold', 1.5, 'between 0 and 1'],
    ['roboflow_core/byte_tracker@v1', 'lost_track_buffer', -1, 'non-negative integer'],
    ['roboflow_core/byte_tracker@v3', 'minimum_consecutive_frames', 0, 'positive integer'],
    ['roboflow_core/byte_tracker@v3', 'instances_cache_size', 'big', 'positive integer'],
    ['roboflow_core/trackers_bytetrack@v1', 'minimum_iou_threshold', 'x', 'between 0 and 1'],
    ['roboflow_core/trackers_bytetrack@v1', 'high_conf_det_threshold', 2, 'between 0 and 1'],
  ])('%s rejects %s = %j naming the step and field', (type, field, value, message) => {
    const e = compileError(wf([DET, tracker(type, { [field]: value })], [], VIDEO_INPUTS));
    expect(e.step).toBe('track');
    expect(e.field).toBe(field);
    expect(e.message).toContain(message);
  });

  it('rejects a frame source of the wrong kind and a missing detections field', () => {
    let e = compileError(
      wf([DET, tracker('roboflow_core/byte_tracker@v1', { metadata: '$inputs.image' })], [], VIDEO_INPUTS),
    );
    expect([e.step, e.field]).toEqual(['track', 'metadata']);
    expect(e.message).toContain('video_metadata');
    e = compileError(
      wf([DET, { type: 'roboflow_core/trackers_bytetrack@v1', name: 'track', image: '$inputs.image' }]),
    );
    expect([e.step, e.field]).toEqual(['track', 'detections']);
  });

  it('accepts parameters from workflow inputs', () => {
    const def = wf(
      [DET, tracker('roboflow_core/trackers_bytetrack@v1', { lost_track_buffer: '$inputs.buffer' })],
      [],
      [IMAGE, { type: 'WorkflowParameter', name: 'buffer', default_value: 10 }],
    );
    expect(compileWorkflow(def, { models: MODELS }).stateful).toBe(true);
  });
});

// Running the blocks directly ----------------------------------------------------------------

const BLANK = DecodedImage.fromPixels({ data: Buffer.alloc(640 * 480 * 3), width: 640, height: 480 });

function frame(videoId: string, n: number, fps: number | null = 30): WorkflowImage {
  const meta: VideoMetadata = {
    video_identifier: videoId,
    frame_number: n,
    frame_timestamp: new Date(0),
    fps,
    comes_from_video_file: true,
  };
  return WorkflowImage.input(BLANK, 'image', meta);
}

function dets(boxes: Array<[number, number, number?]>): Detections {
  const lineage = rootLineage('image', 640, 480);
  return new Detections(
    boxes.map(
      ([x, y, score = 0.9], i): Detection => ({
        x1: x,
        y1: y,
        x2: x + 40,
        y2: y + 40,
        confidence: score,
        classId: i % 3,
        className: ['red', 'green', 'blue'][i % 3],
        detectionId: `d-${x}-${y}`,
        parent: lineage.parent,
        root: lineage.root,
        predictionType: 'object-detection',
      }),
    ),
    { width: 640, height: 480 },
  );
}

function context(store: StateStore): BlockContext {
  return {
    step: 'track',
    runtime: null as unknown as ModelRuntime,
    models: {},
    countDetections: () => {},
    state: (videoId, create) => store.get('track', videoId, create),
  };
}

const DEFAULTS: Record<string, Record<string, unknown>> = {
  v1v2: {
    track_activation_threshold: 0.25,
    lost_track_buffer: 30,
    minimum_matching_threshold: 0.8,
    minimum_consecutive_frames: 1,
  },
  v3: {
    track_activation_threshold: 0.25,
    lost_track_buffer: 30,
    minimum_matching_threshold: 0.8,
    minimum_consecutive_frames: 1,
    instances_cache_size: 16384,
  },
  trackers: {
    minimum_iou_threshold: 0.1,
    minimum_consecutive_frames: 2,
    lost_track_buffer: 30,
    track_activation_threshold: 0.7,
    high_conf_det_threshold: 0.6,
    instances_cache_size: 16384,
  },
};

async function step(
  block: BlockDef,
  store: StateStore,
  image: WorkflowImage,
  d: Detections,
  params: Record<string, unknown>,
): Promise<Record<string, Detections>> {
  const frameArg = block === BYTE_TRACKER_V1 ? { metadata: image.metadataOrSynthetic() } : { image };
  const [out] = await block.run(context(store), [
    { index: [0], args: { ...frameArg, detections: d, ...params } },
  ]);
  return out as Record<string, Detections>;
}

const ids = (d: Detections) => d.items.map((x) => x.trackerId);

describe('tracker blocks: running', () => {
  it('byte_tracker@v3 keeps every input field, adds tracker_id and splits new from already seen', async () => {
    const store = new StateStore();
    const input = dets([
      [10, 10],
      [200, 200],
    ]);
    const first = await step(BYTE_TRACKER_V3, store, frame('a.mp4', 1), input, DEFAULTS.v3);
    expect(ids(first.tracked_detections)).toEqual([1, 2]);
    expect(first.tracked_detections.items[0]).toEqual({ ...input.items[0], trackerId: 1 });
    expect(input.items[0].trackerId).toBeUndefined();
    expect(ids(first.new_instances)).toEqual([1, 2]);
    expect(ids(first.already_seen_instances)).toEqual([]);
    const second = await step(
      BYTE_TRACKER_V3,
      store,
      frame('a.mp4', 2),
      dets([
        [12, 10],
        [202, 200],
        [400, 50],
      ]),
      DEFAULTS.v3,
    );
    // the third box starts an unconfirmed track: not output yet
    expect(ids(second.tracked_detections)).toEqual([1, 2]);
    expect(ids(second.new_instances)).toEqual([]);
    expect(ids(second.already_seen_instances)).toEqual([1, 2]);
    const third = await step(
      BYTE_TRACKER_V3,
      store,
      frame('a.mp4', 3),
      dets([
        [14, 10],
        [204, 200],
        [400, 52],
      ]),
      DEFAULTS.v3,
    );
    expect(ids(third.tracked_detections)).toEqual([1, 2, 3]);
    expect(ids(third.new_instances)).toEqual([3]);
    expect(ids(third.already_seen_instances)).toEqual([1, 2]);
  });

  it('forgets the oldest seen ids beyond instances_cache_size', () => {
    const seen = new SeenIds(2);
    // FIFO, not LRU: seeing 1 again does not refresh it, so 3 pushes it out
    expect([1, 2, 1, 3, 1, 2, 1].map((id) => seen.record(id))).toEqual([
      true,
      true,
      false,
      true,
      true,
      true,
      false,
    ]);
  });

  it('keeps one tracker per video identifier', async () => {
    const store = new StateStore();
    const a = await step(BYTE_TRACKER_V2, store, frame('a.mp4', 1), dets([[10, 10]]), DEFAULTS.v1v2);
    const b = await step(BYTE_TRACKER_V2, store, frame('b.mp4', 1), dets([[300, 300]]), DEFAULTS.v1v2);
    const a2 = await step(BYTE_TRACKER_V2, store, frame('a.mp4', 2), dets([[12, 10]]), DEFAULTS.v1v2);
    expect([ids(a.tracked_detections), ids(b.tracked_detections), ids(a2.tracked_detections)]).toEqual([
      [1],
      [1],
      [1],
    ]);
    expect(store.size).toBe(2);
    expect(Object.keys(a2)).toEqual(['tracked_detections']);
  });

  it('reads the parameters only when a video is first seen', async () => {
    const store = new StateStore();
    await step(BYTE_TRACKER_V2, store, frame('a.mp4', 1), dets([[10, 10]]), DEFAULTS.v1v2);
    // a later threshold of 1 would hide every detection; it is ignored
    const later = { ...DEFAULTS.v1v2, track_activation_threshold: 1, minimum_consecutive_frames: 9 };
    const out = await step(BYTE_TRACKER_V2, store, frame('a.mp4', 2), dets([[12, 10]]), later);
    expect(ids(out.tracked_detections)).toEqual([1]);
  });

  it('checks parameters that come from workflow inputs when the tracker is created', async () => {
    const bad = { ...DEFAULTS.trackers, minimum_iou_threshold: 3 };
    await expect(
      step(TRACKERS_BYTETRACK, new StateStore(), frame('a.mp4', 1), dets([[10, 10]]), bad),
    ).rejects.toThrow('"minimum_iou_threshold" must be a number between 0 and 1');
  });

  it('byte_tracker@v1 needs fps in the video metadata; v2 goes on without', async () => {
    await expect(
      step(BYTE_TRACKER_V1, new StateStore(), frame('a.mp4', 1, null), dets([[10, 10]]), DEFAULTS.v1v2),
    ).rejects.toThrow('has no fps');
    const ok = await step(
      BYTE_TRACKER_V2,
      new StateStore(),
      frame('a.mp4', 1, null),
      dets([[10, 10]]),
      DEFAULTS.v1v2,
    );
    expect(ids(ok.tracked_detections)).toEqual([1]);
    const v1 = await step(
      BYTE_TRACKER_V1,
      new StateStore(),
      frame('a.mp4', 1),
      dets([[10, 10]]),
      DEFAULTS.v1v2,
    );
    expect(ids(v1.tracked_detections)).toEqual([1]);
  });

  it('trackers_bytetrack drops detections of immature tracks (tracker id -1) from every output', async () => {
    const store = new StateStore();
    const first = await step(
      TRACKERS_BYTETRACK,
      store,
      frame('a.mp4', 1),
      dets([[10, 10]]),
      DEFAULTS.trackers,
    );
    expect(first.tracked_detections.length).toBe(0);
    expect(first.new_instances.length).toBe(0);
    expect(first.already_seen_instances.length).toBe(0);
    const second = await step(
      TRACKERS_BYTETRACK,
      store,
      frame('a.mp4', 2),
      dets([
        [12, 10],
        [300, 300, 0.65],
      ]),
      DEFAULTS.trackers,
    );
    expect(ids(second.tracked_detections)).toEqual([1]);
    expect(ids(second.new_instances)).toEqual([1]);
  });
});

// Through the executor --------------------------------------------------------------------------

describe('tracker blocks in a workflow run', () => {
  const GRID: Record<string, ModelRecord> = {
    'grid/1': modelRecord({
      modelId: 'grid/1',
      weightsKey: 'grid',
      input: { width: 64, height: 64 },
      resizeMode: 'letterbox',
      paddingValue: 0,
    }),
  };
  let runtime: OrtModelRuntime;
  beforeAll(async () => {
    runtime = await OrtModelRuntime.load(
      GRID,
      async () => gridDetector({ width: 64, height: 64, cell: 16 }),
      {
        machineType: 'cpu',
        intraOpNumThreads: 1,
      },
    );
  });

  /** 128² black frame with a red 32² square at [0, 32)². */
  function redSquare(): DecodedImage {
    const data = Buffer.alloc(128 * 128 * 3);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) data[(y * 128 + x) * 3] = 255;
    return DecodedImage.fromPixels({ data, width: 128, height: 128 });
  }

  const def = {
    version: '1.0',
    inputs: [IMAGE],
    steps: [
      { ...DET, model_id: 'grid/1' },
      {
        type: 'roboflow_core/trackers_bytetrack@v1',
        name: 'track',
        image: '$inputs.image',
        detections: '$steps.det.predictions',
      },
    ],
    outputs: [
      { type: 'JsonField', name: 'tracked', selector: '$steps.track.tracked_detections' },
      { type: 'JsonField', name: 'new', selector: '$steps.track.new_instances' },
    ],
  };

  it('keeps state across the frames of a video given one state store, none across still images', async () => {
    const compiled = compileWorkflow(def, { models: GRID });
    const state = new StateStore();
    const outputs = [];
    for (let n = 1; n <= 3; n++) {
      const res = await executeImage(compiled, runtime, redSquare(), {
        state,
        videoMetadata: {
          video_identifier: 'clip.mp4',
          frame_number: n,
          frame_timestamp: new Date(0),
          fps: 30,
          comes_from_video_file: true,
        },
      });
      outputs.push(res.output as Record<string, { predictions: Array<Record<string, unknown>> }>);
    }
    // minimum_consecutive_frames 2: nothing on frame 1, then the same ids
    expect(outputs[0].tracked.predictions).toEqual([]);
    const frame2 = outputs[1].tracked.predictions;
    expect(frame2.length).toBeGreaterThan(0);
    expect(frame2.every((p) => typeof p.tracker_id === 'number' && (p.tracker_id as number) > 0)).toBe(true);
    expect(Object.keys(frame2[0]).slice(0, 8)).toEqual([
      'width',
      'height',
      'x',
      'y',
      'confidence',
      'class_id',
      'tracker_id',
      'class',
    ]);
    expect(outputs[2].tracked.predictions.map((p) => p.tracker_id)).toEqual(frame2.map((p) => p.tracker_id));
    expect(outputs[1].new.predictions.length).toBe(frame2.length);
    expect(outputs[2].new.predictions).toEqual([]);
    // still images: every run starts afresh, so nothing ever matures
    for (let i = 0; i < 3; i++) {
      const res = await executeImage(compiled, runtime, redSquare());
      expect((res.output.tracked as { predictions: unknown[] }).predictions).toEqual([]);
    }
  });
});
