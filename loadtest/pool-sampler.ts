/** Samples a pool's live and desired machine counts from the scheduler's /metrics twice a second. */

export interface PoolSample {
  /** seconds since sampling started */
  t: number;
  machines: number;
  desired: number;
}

/** The value of `name{pool="<pool>"}` in a Prometheus text exposition, or null. */
export function gaugeValue(text: string, name: string, pool: string): number | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (!line.includes(`pool="${pool}"`)) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) return v;
  }
  return null;
}

export class PoolSampler {
  private readonly samples: PoolSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private t0 = 0;

  constructor(
    private readonly metricsUrl: string,
    private readonly pool: string,
    private readonly intervalMs = 500,
  ) {}

  start(): void {
    this.t0 = performance.now();
    const tick = async () => {
      try {
        const text = await (await fetch(this.metricsUrl)).text();
        const machines = gaugeValue(text, 'vb_pool_machines', this.pool);
        const desired = gaugeValue(text, 'vb_pool_desired_machines', this.pool);
        if (machines !== null)
          this.samples.push({
            t: Math.round((performance.now() - this.t0) / 100) / 10,
            machines,
            desired: desired ?? machines,
          });
      } catch {
        // the scheduler may be busy for a moment; the next tick samples again
      }
    };
    void tick();
    this.timer = setInterval(() => void tick(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  latest(): PoolSample | undefined {
    return this.samples.at(-1);
  }

  timeline(): readonly PoolSample[] {
    return this.samples;
  }

  /** Only the samples where the size or the desired size changed (plus the last one). */
  compactTimeline(): PoolSample[] {
    const out: PoolSample[] = [];
    for (const s of this.samples) {
      const prev = out.at(-1);
      if (!prev || prev.machines !== s.machines || prev.desired !== s.desired) out.push(s);
    }
    const last = this.samples.at(-1);
    if (last && out.at(-1) !== last) out.push(last);
    return out;
  }
}
