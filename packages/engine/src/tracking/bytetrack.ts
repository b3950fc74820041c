import { matchBelow } from './assignment.ts';
import { type Covariance, initiate, type Mean, meanToBox, predict, toXyah, update } from './kalman.ts';

/**
 * ByteTrack (Zhang et al., 2021) as the reference's trackers run it (spec/workflows.md §2.14):
 * detections are split into a high-score and a low-score pool; confirmed and lost tracks are
 * matched to the high pool first, the tracks still unmatched to the low pool second (so weak
 * detections extend existing tracks but never start one), unconfirmed tracks (seen in one frame
 * only) to what is left of the high pool; unmatched high detections above the activation score
 * start new tracks. Each track carries a constant-velocity Kalman filter on centre, aspect ratio
 * and height. Tracks lost for longer than the buffer are dropped; ids are not reused.
 *
 * One instance tracks one video; feed it every processed frame in order.
 */

/** Box corners `[x1, y1, x2, y2]` in pixels. */
export type Box = readonly [number, number, number, number];

/** One detection of a frame, as the tracker sees it. */
export interface TrackInput {
  box: Box;
  score: number;
}

/** The algorithm's knobs; {@link byteTrackerConfig} and {@link trackersByteTrackConfig} fill them. */
export interface ByteTrackConfig {
  /** whether a detection belongs to the high-score pool (first association, may start tracks) */
  isHigh(score: number): boolean;
  /** whether a detection outside the high pool still belongs to the low-score pool */
  isLow(score: number): boolean;
  /** whether an unmatched high detection may start a new track */
  canStart(score: number): boolean;
  /** cost limits (cost = 1 − IoU, or 1 − IoU·score when fused) of the three associations */
  firstMatchLimit: number;
  secondMatchLimit: number;
  unconfirmedMatchLimit: number;
  /** fuse the detection score into the first and unconfirmed association costs */
  fuseScore: boolean;
  /** frames a lost track is kept before it is dropped */
  maxFramesLost: number;
  /** matched frames in a row a track needs before its id is exposed */
  minimumConsecutiveFrames: number;
}

/**
 * The old `sv.ByteTrack` constants behind `roboflow_core/byte_tracker@v1..v3`: high pool
 * `score > t`, low pool `0.1 < score < t`, new tracks from `t + 0.1`, first association limited
 * by `minimum_matching_threshold` with score fusion, second 0.5, unconfirmed 0.7, lost buffer
 * `int(fps / 30 × lost_track_buffer)`.
 */
export function byteTrackerConfig(p: {
  trackActivationThreshold: number;
  lostTrackBuffer: number;
  minimumMatchingThreshold: number;
  minimumConsecutiveFrames: number;
  fps: number;
}): ByteTrackConfig {
  const t = p.trackActivationThreshold;
  return {
    isHigh: (s) => s > t,
    isLow: (s) => s > 0.1 && s < t,
    canStart: (s) => s >= t + 0.1,
    firstMatchLimit: p.minimumMatchingThreshold,
    secondMatchLimit: 0.5,
    unconfirmedMatchLimit: 0.7,
    fuseScore: true,
    maxFramesLost: Math.trunc((p.fps / 30) * p.lostTrackBuffer),
    minimumConsecutiveFrames: p.minimumConsecutiveFrames,
  };
}

/**
 * `roboflow_core/trackers_bytetrack@v1` (the `trackers` package's ByteTrack): high pool
 * `score ≥ high_conf_det_threshold`, everything else is the low pool, new tracks from
 * `track_activation_threshold`, every association needs IoU above `minimum_iou_threshold`
 * (no score fusion), same lost buffer rule.
 */
export function trackersByteTrackConfig(p: {
  minimumIouThreshold: number;
  minimumConsecutiveFrames: number;
  lostTrackBuffer: number;
  trackActivationThreshold: number;
  highConfDetThreshold: number;
  fps: number;
}): ByteTrackConfig {
  const limit = 1 - p.minimumIouThreshold;
  return {
    isHigh: (s) => s >= p.highConfDetThreshold,
    isLow: () => true,
    canStart: (s) => s >= p.trackActivationThreshold,
    firstMatchLimit: limit,
    secondMatchLimit: limit,
    unconfirmedMatchLimit: limit,
    fuseScore: false,
    maxFramesLost: Math.trunc((p.fps / 30) * p.lostTrackBuffer),
    minimumConsecutiveFrames: p.minimumConsecutiveFrames,
  };
}

type TrackState = 'tracked' | 'lost' | 'removed';

class Track {
  mean: Mean;
  covariance: Covariance;
  state: TrackState = 'tracked';
  /** confirmed: matched in a frame after the one that started it (or started on frame 1) */
  confirmed: boolean;
  /** the id shown to users; -1 until the track matured */
  externalId = -1;
  /** frames matched in a row since it was (re)started */
  hits = 1;
  /** last frame it was matched in */
  lastFrame: number;
  /** index of the detection it matched in the current frame, -1 when none */
  detection: number;

  constructor(
    readonly internalId: number,
    box: Box,
    readonly startFrame: number,
    detection: number,
  ) {
    ({ mean: this.mean, covariance: this.covariance } = initiate(toXyah(box)));
    this.confirmed = startFrame === 1;
    this.lastFrame = startFrame;
    this.detection = detection;
  }

  get box(): Box {
    return meanToBox(this.mean);
  }

  predict(): void {
    // a track that is not being followed keeps its size: no height velocity
    if (this.state !== 'tracked') this.mean[7] = 0;
    ({ mean: this.mean, covariance: this.covariance } = predict(this.mean, this.covariance));
  }

  /** Matched `box` (detection `index`) in `frame`. */
  match(box: Box, frame: number, index: number): void {
    ({ mean: this.mean, covariance: this.covariance } = update(this.mean, this.covariance, toXyah(box)));
    this.hits = this.state === 'tracked' ? this.hits + 1 : 1;
    this.state = 'tracked';
    this.confirmed = true;
    this.lastFrame = frame;
    this.detection = index;
  }
}

/** IoU of two corner boxes (0 when either has no area). */
export function iou(a: Box, b: Box): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** Tracks × detections costs: 1 − IoU, or 1 − IoU·score when `fuse`. */
function costs(tracks: readonly Track[], dets: readonly TrackInput[], fuse: boolean): number[][] {
  return tracks.map((t) => {
    const tb = t.box;
    return dets.map((d) => 1 - iou(tb, d.box) * (fuse ? d.score : 1));
  });
}

/** A ByteTrack instance for one video. */
export class ByteTrack {
  private frame = 0;
  private nextInternalId = 1;
  private nextExternalId = 1;
  private tracked: Track[] = [];
  private lost: Track[] = [];

  constructor(readonly config: ByteTrackConfig) {}

  /**
   * Feeds the next frame's detections. Returns, per detection, the external id of the mature
   * track it belongs to, or -1 (unmatched, or matched to a track that has not matured yet).
   */
  update(detections: readonly TrackInput[]): number[] {
    const cfg = this.config;
    this.frame++;
    const frame = this.frame;
    for (const t of [...this.tracked, ...this.lost]) t.detection = -1;

    const highIdx: number[] = [];
    const lowIdx: number[] = [];
    detections.forEach((d, i) => {
      if (cfg.isHigh(d.score)) highIdx.push(i);
      else if (cfg.isLow(d.score)) lowIdx.push(i);
    });
    const high = highIdx.map((i) => detections[i]);
    const low = lowIdx.map((i) => detections[i]);

    const unconfirmed = this.tracked.filter((t) => !t.confirmed);
    const pool = [...this.tracked.filter((t) => t.confirmed), ...this.lost];
    for (const t of pool) t.predict();

    const matched: Track[] = [];
    const newlyLost: Track[] = [];

    // 1. confirmed and lost tracks ↔ high-score detections
    const first = matchBelow(costs(pool, high, cfg.fuseScore), cfg.firstMatchLimit, high.length);
    for (const [ti, di] of first.matches) {
      pool[ti].match(high[di].box, frame, highIdx[di]);
      matched.push(pool[ti]);
    }

    // 2. tracks followed until last frame but unmatched ↔ low-score detections
    const remaining = first.unmatchedRows.map((i) => pool[i]).filter((t) => t.state === 'tracked');
    const second = matchBelow(costs(remaining, low, false), cfg.secondMatchLimit, low.length);
    for (const [ti, di] of second.matches) {
      remaining[ti].match(low[di].box, frame, lowIdx[di]);
      matched.push(remaining[ti]);
    }
    for (const ti of second.unmatchedRows) {
      remaining[ti].state = 'lost';
      newlyLost.push(remaining[ti]);
    }

    // 3. tracks seen in one frame only ↔ high-score detections still free; unmatched ones go
    const leftIdx = first.unmatchedCols.map((j) => highIdx[j]);
    const left = leftIdx.map((i) => detections[i]);
    const third = matchBelow(costs(unconfirmed, left, cfg.fuseScore), cfg.unconfirmedMatchLimit, left.length);
    for (const [ti, di] of third.matches) {
      unconfirmed[ti].match(left[di].box, frame, leftIdx[di]);
      matched.push(unconfirmed[ti]);
    }
    for (const ti of third.unmatchedRows) unconfirmed[ti].state = 'removed';

    // 4. new tracks from confident detections nobody claimed
    for (const di of third.unmatchedCols) {
      if (!cfg.canStart(left[di].score)) continue;
      matched.push(new Track(this.nextInternalId++, left[di].box, frame, leftIdx[di]));
    }

    // 5. book-keeping: lost tracks past the buffer are dropped, duplicates resolved
    const stillTracked = this.tracked.filter((t) => t.state === 'tracked');
    const tracked = unique([...stillTracked, ...matched]);
    const lost = unique([...this.lost.filter((t) => t.state === 'lost'), ...newlyLost]).filter((t) => {
      if (frame - t.lastFrame > cfg.maxFramesLost) t.state = 'removed';
      return t.state === 'lost';
    });
    [this.tracked, this.lost] = dropDuplicates(tracked, lost);

    // 6. ids for tracks that just matured, in a stable order
    const ids = new Array<number>(detections.length).fill(-1);
    for (const t of this.tracked) {
      if (!t.confirmed || t.detection < 0) continue;
      if (t.externalId < 0 && t.hits >= cfg.minimumConsecutiveFrames) t.externalId = this.nextExternalId++;
      if (t.externalId > 0) ids[t.detection] = t.externalId;
    }
    return ids;
  }
}

function unique(tracks: readonly Track[]): Track[] {
  const seen = new Set<number>();
  return tracks.filter((t) => !seen.has(t.internalId) && seen.add(t.internalId));
}

/**
 * A tracked and a lost track that cover the same object (IoU > 0.85): keep the one followed for
 * longer (the tracked one on a tie, as it holds this frame's detection).
 */
function dropDuplicates(tracked: Track[], lost: Track[]): [Track[], Track[]] {
  const dropTracked = new Set<Track>();
  const dropLost = new Set<Track>();
  for (const p of tracked) {
    for (const q of lost) {
      if (1 - iou(p.box, q.box) >= 0.15) continue;
      const ageP = p.lastFrame - p.startFrame;
      const ageQ = q.lastFrame - q.startFrame;
      if (ageQ > ageP) dropTracked.add(p);
      else dropLost.add(q);
    }
  }
  return [tracked.filter((t) => !dropTracked.has(t)), lost.filter((t) => !dropLost.has(t))];
}
