import { Detections } from '../../detections.ts';
import {
  ByteTrack,
  type ByteTrackConfig,
  byteTrackerConfig,
  trackersByteTrackConfig,
} from '../../tracking/bytetrack.ts';
import { type BlockContext, type BlockDef, checks, type FieldSpec, Kind, type OutputSpec } from '../block.ts';
import type { VideoMetadata, WorkflowImage } from '../values.ts';

/**
 * Tracker blocks (spec/workflows.md §2.14): the deprecated `byte_tracker@v1..v3` family (the old
 * `sv.ByteTrack`) and `trackers_bytetrack@v1`. One tracker per step and `video_identifier`,
 * created on the first frame of a video with the parameters of that frame (later values are
 * ignored). Output detections keep every input field and gain `tracker_id`; detections that belong
 * to no mature track are left out.
 */

const IS = 'instance_segmentation_prediction';
const KP = 'keypoint_detection_prediction';
const RLE = 'rle_instance_segmentation_prediction';

/** Per video: the tracker and the FIFO of tracker ids already output (`new_instances`). */
interface VideoState {
  tracker: ByteTrack;
  seen: SeenIds;
}

/** A set of at most `capacity` ids that forgets the oldest first (`instances_cache_size`). */
export class SeenIds {
  private readonly ids = new Set<number>();

  constructor(readonly capacity: number) {}

  /** Records `id`; true when it was not in the set (a new instance). */
  record(id: number): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    // Sets iterate in insertion order: the first one is the oldest
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value as number);
    return true;
  }
}

function detectionsArg(v: unknown): Detections {
  if (!(v instanceof Detections)) throw new Error('"detections" must be detections');
  return v;
}

/** A parameter's runtime value (it may come from `$inputs.x`), checked like a literal. */
function param(args: Record<string, unknown>, name: string, check: (v: unknown) => string | null): number {
  const v = args[name];
  const problem = check(v);
  if (problem) throw new Error(`"${name}" ${problem}, got ${JSON.stringify(v)}`);
  return v as number;
}

const int = checks.nonNegativeInt;
const positive = checks.positiveInt;
const unit = checks.float01;

function paramFields(
  defs: ReadonlyArray<readonly [string, number, 'float01' | 'positive' | 'int']>,
): FieldSpec[] {
  return defs.map(([name, value, type]) => ({
    name,
    role: 'param',
    default: value,
    kinds: type === 'float01' ? [Kind.float01] : [Kind.integer],
    check: type === 'float01' ? unit : type === 'positive' ? positive : int,
  }));
}

/**
 * Runs one frame (item) after the other, in order: each finds its video's tracker (creating it
 * from this frame's parameters), updates it and splits the tracked detections into new and
 * already seen instances.
 */
async function track(
  ctx: BlockContext,
  items: ReadonlyArray<{ args: Record<string, unknown> }>,
  frameMetadata: (args: Record<string, unknown>) => VideoMetadata,
  create: (args: Record<string, unknown>, metadata: VideoMetadata) => ByteTrackConfig,
  cacheSize: (args: Record<string, unknown>) => number,
): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const it of items) {
    const dets = detectionsArg(it.args.detections);
    const metadata = frameMetadata(it.args);
    const state = ctx.state<VideoState>(metadata.video_identifier, () => ({
      tracker: new ByteTrack(create(it.args, metadata)),
      seen: new SeenIds(cacheSize(it.args)),
    }));
    const ids = state.tracker.update(
      dets.items.map((d) => ({ box: [d.x1, d.y1, d.x2, d.y2], score: d.confidence })),
    );
    const tracked = dets.items.map((d, i) => ({ ...d, trackerId: ids[i] })).filter((d) => d.trackerId > 0);
    const fresh = tracked.filter((d) => state.seen.record(d.trackerId));
    const freshIds = new Set(fresh.map((d) => d.trackerId));
    out.push({
      tracked_detections: dets.with(tracked),
      new_instances: dets.with(fresh),
      already_seen_instances: dets.with(tracked.filter((d) => !freshIds.has(d.trackerId))),
    });
  }
  return out;
}

const imageMetadata = (args: Record<string, unknown>) => (args.image as WorkflowImage).metadataOrSynthetic();

function byteTrackerBlock(version: 1 | 2 | 3): BlockDef {
  const detectionKinds = version === 3 ? [Kind.objectDetection, IS, KP] : [Kind.objectDetection, IS];
  const fields: FieldSpec[] = [
    version === 1
      ? { name: 'metadata', role: 'data', required: true, kinds: [Kind.videoMetadata] }
      : { name: 'image', role: 'data', required: true, kinds: [Kind.image] },
    { name: 'detections', role: 'data', required: true, kinds: detectionKinds },
    ...paramFields([
      ['track_activation_threshold', 0.25, 'float01'],
      ['lost_track_buffer', 30, 'int'],
      ['minimum_matching_threshold', 0.8, 'float01'],
      ['minimum_consecutive_frames', 1, 'positive'],
      ...(version === 3 ? [['instances_cache_size', 16384, 'positive'] as const] : []),
    ]),
  ];
  const outputs: OutputSpec[] =
    version === 3
      ? [
          { name: 'tracked_detections', kinds: [Kind.objectDetection] },
          { name: 'new_instances', kinds: [Kind.objectDetection] },
          { name: 'already_seen_instances', kinds: [Kind.objectDetection] },
        ]
      : [{ name: 'tracked_detections', kinds: detectionKinds }];
  return {
    title: `Byte Tracker v${version}`,
    types: [`roboflow_core/byte_tracker@v${version}`],
    fields,
    outputs,
    stateful: true,
    async run(ctx, items) {
      const results = await track(
        ctx,
        items,
        version === 1 ? (args) => args.metadata as VideoMetadata : imageMetadata,
        (args, metadata) => {
          let fps = metadata.fps ?? 0;
          // v1 needs the frame rate; v2 and v3 warn in the reference and go on with 0 (a lost
          // track is then dropped on the next frame)
          if (!fps && version === 1)
            throw new Error(`video metadata of "${metadata.video_identifier}" has no fps`);
          if (!Number.isFinite(fps) || fps < 0) fps = 0;
          return byteTrackerConfig({
            trackActivationThreshold: param(args, 'track_activation_threshold', unit),
            lostTrackBuffer: param(args, 'lost_track_buffer', int),
            minimumMatchingThreshold: param(args, 'minimum_matching_threshold', unit),
            minimumConsecutiveFrames: param(args, 'minimum_consecutive_frames', positive),
            fps,
          });
        },
        (args) => (version === 3 ? param(args, 'instances_cache_size', positive) : 1),
      );
      if (version === 3) return results;
      return results.map((r) => ({ tracked_detections: (r as Record<string, unknown>).tracked_detections }));
    },
  };
}

/** `roboflow_core/byte_tracker@v1`: frames identified by a `video_metadata` input; fps required. */
export const BYTE_TRACKER_V1 = byteTrackerBlock(1);
/** `roboflow_core/byte_tracker@v2`: video metadata read from the image. */
export const BYTE_TRACKER_V2 = byteTrackerBlock(2);
/** `roboflow_core/byte_tracker@v3`: as v2, plus `new_instances` / `already_seen_instances`. */
export const BYTE_TRACKER_V3 = byteTrackerBlock(3);

const TRACKERS_DETECTION_KINDS = [Kind.objectDetection, IS, KP, RLE];

/** `roboflow_core/trackers_bytetrack@v1`, the `trackers` package's ByteTrack (§2.14). */
export const TRACKERS_BYTETRACK: BlockDef = {
  title: 'ByteTrack Tracker v1',
  types: ['roboflow_core/trackers_bytetrack@v1'],
  fields: [
    { name: 'image', role: 'data', required: true, kinds: [Kind.image] },
    { name: 'detections', role: 'data', required: true, kinds: TRACKERS_DETECTION_KINDS },
    ...paramFields([
      ['minimum_iou_threshold', 0.1, 'float01'],
      ['minimum_consecutive_frames', 2, 'positive'],
      ['lost_track_buffer', 30, 'int'],
      ['track_activation_threshold', 0.7, 'float01'],
      ['high_conf_det_threshold', 0.6, 'float01'],
      ['instances_cache_size', 16384, 'positive'],
    ]),
  ],
  outputs: [
    { name: 'tracked_detections', kinds: TRACKERS_DETECTION_KINDS },
    { name: 'new_instances', kinds: TRACKERS_DETECTION_KINDS },
    { name: 'already_seen_instances', kinds: TRACKERS_DETECTION_KINDS },
  ],
  stateful: true,
  run(ctx, items) {
    return track(
      ctx,
      items,
      imageMetadata,
      (args, metadata) =>
        trackersByteTrackConfig({
          minimumIouThreshold: param(args, 'minimum_iou_threshold', unit),
          minimumConsecutiveFrames: param(args, 'minimum_consecutive_frames', positive),
          lostTrackBuffer: param(args, 'lost_track_buffer', int),
          trackActivationThreshold: param(args, 'track_activation_threshold', unit),
          highConfDetThreshold: param(args, 'high_conf_det_threshold', unit),
          // missing or zero fps: the trackers package's default of 30
          fps: metadata.fps && Number.isFinite(metadata.fps) && metadata.fps > 0 ? metadata.fps : 30,
        }),
      (args) => param(args, 'instances_cache_size', positive),
    );
  },
};

/** Every tracker block, for the registry. */
export const TRACKER_BLOCKS: readonly BlockDef[] = [
  BYTE_TRACKER_V1,
  BYTE_TRACKER_V2,
  BYTE_TRACKER_V3,
  TRACKERS_BYTETRACK,
];
