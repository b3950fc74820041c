import { describe, expect, it } from 'vitest';
import {
  type Box,
  ByteTrack,
  byteTrackerConfig,
  iou,
  type TrackInput,
  trackersByteTrackConfig,
} from './bytetrack.ts';
import { initiate, meanToBox, predict, toXyah, update } from './kalman.ts';

/** The defaults of `byte_tracker@v1..v3` (§2.14) at 30 fps, overridable. */
function svTracker(over: Partial<Parameters<typeof byteTrackerConfig>[0]> = {}) {
  return new ByteTrack(
    byteTrackerConfig({
      trackActivationThreshold: 0.25,
      lostTrackBuffer: 30,
      minimumMatchingThreshold: 0.8,
      minimumConsecutiveFrames: 1,
      fps: 30,
      ...over,
    }),
  );
}

/** The defaults of `trackers_bytetrack@v1` (§2.14) at 30 fps, overridable. */
function trackersTracker(over: Partial<Parameters<typeof trackersByteTrackConfig>[0]> = {}) {
  return new ByteTrack(
    trackersByteTrackConfig({
      minimumIouThreshold: 0.1,
      minimumConsecutiveFrames: 2,
      lostTrackBuffer: 30,
      trackActivationThreshold: 0.7,
      highConfDetThreshold: 0.6,
      fps: 30,
      ...over,
    }),
  );
}

const box = (x: number, y: number, w = 40, h = 40): Box => [x, y, x + w, y + h];
const det = (x: number, y: number, score = 0.9, w = 40, h = 40): TrackInput => ({
  box: box(x, y, w, h),
  score,
});

describe('Kalman filter (constant velocity on centre, aspect, height)', () => {
  it('round-trips a box through the observation space', () => {
    const b: Box = [10, 20, 50, 100];
    expect(meanToBox(initiate(toXyah(b)).mean)).toEqual([10, 20, 50, 100]);
  });

  it('learns a constant velocity and extrapolates it', () => {
    let s = initiate(toXyah(box(0, 0)));
    for (let f = 1; f <= 20; f++) {
      s = predict(s.mean, s.covariance);
      s = update(s.mean, s.covariance, toXyah(box(5 * f, 2 * f)));
    }
    const p = predict(s.mean, s.covariance);
    const [x1, y1] = meanToBox(p.mean);
    expect(x1).toBeCloseTo(105, 0);
    expect(y1).toBeCloseTo(42, 0);
    expect(p.mean[4]).toBeCloseTo(5, 0);
    expect(p.mean[5]).toBeCloseTo(2, 0);
  });
});

describe('ByteTrack', () => {
  it('keeps one id for a box moving linearly, ids counting from 1', () => {
    const t = svTracker();
    const ids = Array.from({ length: 60 }, (_, f) => t.update([det(10 + 6 * f, 50 + 2 * f)]));
    expect(ids.every((x) => x.length === 1 && x[0] === 1)).toBe(true);
  });

  it('gives two nearby boxes crossing each other distinct ids that do not swap', () => {
    const t = svTracker();
    const seen: Array<[number, number]> = [];
    for (let f = 0; f < 50; f++) {
      // A goes right, B goes left on a slightly lower row; they overlap around frame 25
      const a = det(20 + 8 * f, 100);
      const b = det(420 - 8 * f, 112);
      const [ia, ib] = t.update([a, b]);
      seen.push([ia, ib]);
    }
    expect(new Set(seen.map((p) => p[0]))).toEqual(new Set([1]));
    expect(new Set(seen.map((p) => p[1]))).toEqual(new Set([2]));
  });

  it('keeps distinct ids for side-by-side boxes given in changing order', () => {
    const t = svTracker();
    const byPos = new Map<string, Set<number>>([
      ['left', new Set()],
      ['right', new Set()],
    ]);
    for (let f = 0; f < 30; f++) {
      const l = det(100, 100 + 3 * f);
      const r = det(150, 100 + 3 * f);
      const flip = f % 2 === 1;
      const ids = t.update(flip ? [r, l] : [l, r]);
      byPos.get('left')?.add(flip ? ids[1] : ids[0]);
      byPos.get('right')?.add(flip ? ids[0] : ids[1]);
    }
    expect([...(byPos.get('left') ?? [])]).toEqual([1]);
    expect([...(byPos.get('right') ?? [])]).toEqual([2]);
  });

  it('resumes the id of a track lost for fewer frames than the buffer', () => {
    const t = svTracker({ lostTrackBuffer: 10 });
    for (let f = 0; f < 10; f++) expect(t.update([det(10 + 4 * f, 50)])).toEqual([1]);
    for (let f = 10; f < 18; f++) expect(t.update([])).toEqual([]);
    // back where the constant-velocity prediction expects it
    expect(t.update([det(10 + 4 * 18, 50)])).toEqual([1]);
    expect(t.update([det(10 + 4 * 19, 50)])).toEqual([1]);
  });

  it('gives a new id to a track lost for longer than the buffer', () => {
    const t = svTracker({ lostTrackBuffer: 10 });
    for (let f = 0; f < 10; f++) t.update([det(100, 50)]);
    for (let f = 10; f < 22; f++) t.update([]);
    // a new track is unconfirmed in its first frame (after frame 1) and shows from its second
    expect(t.update([det(100, 50)])).toEqual([-1]);
    expect(t.update([det(100, 50)])).toEqual([2]);
  });

  it('scales the lost buffer with fps / 30 (int(fps / 30 × lost_track_buffer))', () => {
    // 15 fps × buffer 10 → 5 frames
    const t = svTracker({ lostTrackBuffer: 10, fps: 15 });
    for (let f = 0; f < 5; f++) t.update([det(100, 50)]);
    for (let f = 0; f < 6; f++) t.update([]);
    t.update([det(100, 50)]);
    expect(t.update([det(100, 50)])).toEqual([2]);
    const u = svTracker({ lostTrackBuffer: 10, fps: 15 });
    for (let f = 0; f < 5; f++) u.update([det(100, 50)]);
    for (let f = 0; f < 5; f++) u.update([]);
    expect(u.update([det(100, 50)])).toEqual([1]);
  });

  it('extends tracks with low-score detections but never starts one from them', () => {
    const t = svTracker();
    expect(t.update([det(100, 50, 0.9)])).toEqual([1]);
    // 0.2 is in the low pool (0.1 < s < 0.25): it keeps track 1 alive and tracked
    for (let f = 1; f < 6; f++) expect(t.update([det(100 + 3 * f, 50, 0.2)])).toEqual([1]);
    // a lone low-score detection elsewhere never becomes a track
    for (let f = 0; f < 5; f++)
      expect(t.update([det(100 + 18, 50, 0.9), det(400, 300, 0.2)])).toEqual([1, -1]);
    // between the high threshold and the activation threshold (0.25 < s < 0.35): associates, never starts
    for (let f = 0; f < 5; f++)
      expect(t.update([det(100 + 18, 50, 0.9), det(400, 300, 0.3)])).toEqual([1, -1]);
    // at 0.1 or below: ignored altogether
    expect(t.update([det(100 + 18, 50, 0.05)])).toEqual([-1]);
  });

  it('does not expose a track before minimum_consecutive_frames', () => {
    const t = svTracker({ minimumConsecutiveFrames: 3 });
    expect(t.update([det(100, 50)])).toEqual([-1]);
    expect(t.update([det(102, 50)])).toEqual([-1]);
    expect(t.update([det(104, 50)])).toEqual([1]);
    expect(t.update([det(106, 50)])).toEqual([1]);
  });

  it('drops an unconfirmed track that misses its second frame, so its id is never used', () => {
    const t = svTracker();
    t.update([det(10, 10)]); // frame 1: track 1
    expect(t.update([det(12, 10), det(300, 300)])).toEqual([1, -1]); // new, unconfirmed
    expect(t.update([det(14, 10)])).toEqual([1]); // it missed: removed
    expect(t.update([det(16, 10), det(300, 300)])).toEqual([1, -1]);
    expect(t.update([det(18, 10), det(300, 300)])).toEqual([1, 2]);
  });

  it('trackers_bytetrack flavour: ids from the second matched frame, new tracks from 0.7', () => {
    const t = trackersTracker();
    expect(t.update([det(100, 50, 0.9), det(300, 300, 0.65)])).toEqual([-1, -1]);
    expect(t.update([det(103, 50, 0.9), det(300, 300, 0.65)])).toEqual([1, -1]);
    // a 0.3 detection (low pool) keeps track 1 going
    expect(t.update([det(106, 50, 0.3)])).toEqual([1]);
    expect(t.update([det(109, 50, 0.9)])).toEqual([1]);
  });

  it('trackers_bytetrack flavour: boxes need IoU above minimum_iou_threshold to associate', () => {
    const t = trackersTracker({ minimumIouThreshold: 0.5 });
    t.update([det(100, 50)]);
    expect(t.update([det(100, 50)])).toEqual([1]);
    // jumps by 30 px of a 40 px box: IoU 10/70 < 0.5 — a fresh, immature track
    expect(t.update([det(130, 50)])).toEqual([-1]);
  });

  it('iou handles disjoint, nested and degenerate boxes', () => {
    expect(iou([0, 0, 10, 10], [20, 20, 30, 30])).toBe(0);
    expect(iou([0, 0, 10, 10], [0, 0, 10, 10])).toBe(1);
    expect(iou([0, 0, 10, 10], [0, 0, 5, 10])).toBeCloseTo(0.5);
    expect(iou([0, 0, 0, 0], [0, 0, 0, 0])).toBe(0);
  });
});
