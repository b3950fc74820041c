/**
 * The constant-velocity Kalman filter ByteTrack (and SORT/DeepSORT before it) runs on each track
 * (spec/workflows.md §2.14): state `[cx, cy, a, h, vcx, vcy, va, vh]` — box centre, aspect ratio
 * w/h, height and their velocities — observed as `[cx, cy, a, h]`.
 *
 * Noise is proportional to the box height, with the weights those trackers use (1/20 of the
 * height for positions, 1/160 for velocities; fixed small values for the aspect ratio), so that
 * large and small boxes are tracked alike.
 */

/** 8-vector state mean. */
export type Mean = Float64Array;
/** 8×8 covariance, row-major. */
export type Covariance = Float64Array;

/** A box as the filter observes it: centre, aspect ratio (w/h), height. */
export type Xyah = readonly [number, number, number, number];

const DIM = 4;
const N = 8;
const WEIGHT_POSITION = 1 / 20;
const WEIGHT_VELOCITY = 1 / 160;

function diag(values: readonly number[]): Float64Array {
  const m = new Float64Array(values.length * values.length);
  for (let i = 0; i < values.length; i++) m[i * values.length + i] = values[i] * values[i];
  return m;
}

/** Starts a track from its first observation: zero velocity, wide uncertainty. */
export function initiate(z: Xyah): { mean: Mean; covariance: Covariance } {
  const mean = new Float64Array(N);
  mean.set(z);
  const h = z[3];
  const covariance = diag([
    2 * WEIGHT_POSITION * h,
    2 * WEIGHT_POSITION * h,
    1e-2,
    2 * WEIGHT_POSITION * h,
    10 * WEIGHT_VELOCITY * h,
    10 * WEIGHT_VELOCITY * h,
    1e-5,
    10 * WEIGHT_VELOCITY * h,
  ]);
  return { mean, covariance };
}

/** One frame ahead: position += velocity; covariance grows by the process noise. */
export function predict(mean: Mean, covariance: Covariance): { mean: Mean; covariance: Covariance } {
  const h = mean[3];
  const q = diag([
    WEIGHT_POSITION * h,
    WEIGHT_POSITION * h,
    1e-2,
    WEIGHT_POSITION * h,
    WEIGHT_VELOCITY * h,
    WEIGHT_VELOCITY * h,
    1e-5,
    WEIGHT_VELOCITY * h,
  ]);
  const next = new Float64Array(mean);
  for (let i = 0; i < DIM; i++) next[i] += mean[i + DIM];
  // F·P·Fᵀ with F = [[I, I], [0, I]]: row/column i of the position block gains row/column i+4
  const fp = new Float64Array(covariance);
  for (let i = 0; i < DIM; i++) for (let j = 0; j < N; j++) fp[i * N + j] += covariance[(i + DIM) * N + j];
  const p = new Float64Array(fp);
  for (let i = 0; i < N; i++) for (let j = 0; j < DIM; j++) p[i * N + j] += fp[i * N + j + DIM];
  for (let k = 0; k < N * N; k++) p[k] += q[k];
  return { mean: next, covariance: p };
}

/** Cholesky factor L (lower, row-major) of a symmetric positive-definite n×n matrix. */
function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      if (i === j) l[i * n + i] = Math.sqrt(Math.max(s, 1e-12));
      else l[i * n + j] = s / l[j * n + j];
    }
  }
  return l;
}

/** Solves (L·Lᵀ)·x = b for one right-hand side. */
function choSolve(l: Float64Array, n: number, b: Float64Array): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * y[k];
    y[i] = s / l[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
    x[i] = s / l[i * n + i];
  }
  return x;
}

/** Corrects the prediction with observation `z`. */
export function update(mean: Mean, covariance: Covariance, z: Xyah): { mean: Mean; covariance: Covariance } {
  const h = mean[3];
  const r = [WEIGHT_POSITION * h, WEIGHT_POSITION * h, 1e-1, WEIGHT_POSITION * h];
  // projection: H picks the first 4 state entries, so S = P[0:4, 0:4] + R and P·Hᵀ = P[:, 0:4]
  const s = new Float64Array(DIM * DIM);
  for (let i = 0; i < DIM; i++) for (let j = 0; j < DIM; j++) s[i * DIM + j] = covariance[i * N + j];
  for (let i = 0; i < DIM; i++) s[i * DIM + i] += r[i] * r[i];
  const l = cholesky(s, DIM);
  // Kalman gain K (8×4) = P·Hᵀ·S⁻¹; row k of K solves S·kᵀ = (P·Hᵀ)[k]ᵀ since S is symmetric
  const gain = new Float64Array(N * DIM);
  for (let k = 0; k < N; k++) {
    const row = choSolve(l, DIM, covariance.slice(k * N, k * N + DIM));
    gain.set(row, k * DIM);
  }
  const innovation = z.map((v, i) => v - mean[i]);
  const nextMean = new Float64Array(mean);
  for (let k = 0; k < N; k++) {
    let d = 0;
    for (let j = 0; j < DIM; j++) d += gain[k * DIM + j] * innovation[j];
    nextMean[k] += d;
  }
  // P − K·S·Kᵀ
  const ks = new Float64Array(N * DIM);
  for (let i = 0; i < N; i++)
    for (let j = 0; j < DIM; j++) {
      let acc = 0;
      for (let k = 0; k < DIM; k++) acc += gain[i * DIM + k] * s[k * DIM + j];
      ks[i * DIM + j] = acc;
    }
  const next = new Float64Array(covariance);
  for (let i = 0; i < N; i++)
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < DIM; k++) acc += ks[i * DIM + k] * gain[j * DIM + k];
      next[i * N + j] -= acc;
    }
  return { mean: nextMean, covariance: next };
}

/** Corner box `[x1, y1, x2, y2]` → observation. */
export function toXyah(box: readonly [number, number, number, number]): Xyah {
  const w = box[2] - box[0];
  const h = box[3] - box[1];
  return [box[0] + w / 2, box[1] + h / 2, h > 0 ? w / h : 0, h];
}

/** State mean → corner box `[x1, y1, x2, y2]`. */
export function meanToBox(mean: Mean): [number, number, number, number] {
  const h = mean[3];
  const w = mean[2] * h;
  return [mean[0] - w / 2, mean[1] - h / 2, mean[0] + w / 2, mean[1] + h / 2];
}
