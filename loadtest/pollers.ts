/**
 * Many concurrent api clients, as a dashboard or a fleet of `--wait` CLIs would be: each loops over
 * the job endpoints (job, stages, job list) and records every request's latency and status. The
 * first poll that sees a job terminal records when it ended.
 */

export class ApiPollers {
  readonly latenciesMs: number[] = [];
  requests = 0;
  errors = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly ended = new Map<string, { at: number; error: boolean }>();

  constructor(
    private readonly apiUrl: string,
    private readonly apiKey: string,
    private readonly workspace: string,
  ) {}

  private get bp() {
    return `/batch-processing/v1/external/${this.workspace}`;
  }

  /** One api call; latency recorded when `measure`. */
  async call(
    method: string,
    p: string,
    body?: unknown,
    measure = false,
  ): Promise<{ status: number; json: any }> {
    const t = performance.now();
    const res = await fetch(`${this.apiUrl}${p}${p.includes('?') ? '&' : '?'}api_key=${this.apiKey}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const json = await res.json().catch(() => null);
    if (measure) {
      this.latenciesMs.push(performance.now() - t);
      this.requests++;
      if (res.status >= 500) this.errors++;
    }
    return { status: res.status, json };
  }

  async count(batchId: string): Promise<number> {
    const r = await this.call('GET', `/data-staging/v1/external/${this.workspace}/batches/${batchId}/count`);
    return Number(r.json?.count ?? 0);
  }

  async createImageJob(jobId: string, batchId: string, workflowId: string): Promise<void> {
    await this.create(jobId, 'simple-image-processing-v1', batchId, { workflowId, maxImageFailureRate: 0.5 });
  }

  async createVideoJob(
    jobId: string,
    batchId: string,
    workflowId: string,
    maxVideoFPS: number,
  ): Promise<void> {
    await this.create(jobId, 'simple-video-processing-v1', batchId, { workflowId, maxVideoFPS });
  }

  private async create(
    jobId: string,
    type: string,
    batchId: string,
    spec: Record<string, unknown>,
  ): Promise<void> {
    const body = {
      type,
      jobInput: { type: 'staging-batch-input-v1', batchId },
      computeConfiguration: { type: 'compute-configuration-v2', machineType: 'cpu' },
      processingSpecification: {
        type: 'workflows-processing-specification-v1',
        workspace: this.workspace,
        aggregationFormat: 'jsonl',
        ...spec,
      },
    };
    const r = await this.call('POST', `${this.bp}/jobs/${jobId}`, body);
    if (r.status !== 200) throw new Error(`creating job ${jobId}: ${r.status} ${JSON.stringify(r.json)}`);
  }

  /** Every page of a job's logs. */
  async logs(jobId: string): Promise<any[]> {
    const all: any[] = [];
    let token: string | null = null;
    do {
      const r = await this.call(
        'GET',
        `${this.bp}/jobs/${jobId}/logs${token ? `?nextPageToken=${token}` : ''}`,
      );
      if (r.status !== 200) throw new Error(`logs of ${jobId}: ${r.status}`);
      all.push(...r.json.logs);
      token = r.json.nextPageToken ?? null;
    } while (token);
    return all;
  }

  async stages(jobId: string): Promise<any[]> {
    const r = await this.call('GET', `${this.bp}/jobs/${jobId}/stages`);
    if (r.status !== 200) throw new Error(`stages of ${jobId}: ${r.status}`);
    return r.json.stages;
  }

  start(jobIds: readonly string[], clients: number, intervalMs: number): void {
    this.running = true;
    for (let c = 0; c < clients; c++) this.loops.push(this.loop(jobIds, c, intervalMs));
  }

  private async loop(jobIds: readonly string[], client: number, intervalMs: number): Promise<void> {
    let i = client;
    while (this.running) {
      const jobId = jobIds[i % jobIds.length];
      const kind = i % 4;
      try {
        if (kind === 3) await this.call('GET', `${this.bp}/jobs`, undefined, true);
        else if (kind === 2) await this.call('GET', `${this.bp}/jobs/${jobId}/stages`, undefined, true);
        else {
          const r = await this.call('GET', `${this.bp}/jobs/${jobId}`, undefined, true);
          const job = r.json?.job;
          if (r.status === 200 && job?.isTerminal === true && !this.ended.has(jobId))
            this.ended.set(jobId, { at: performance.now(), error: job.error === true });
        }
      } catch {
        this.errors++;
      }
      i++;
      if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  terminalAt(jobId: string): number | null {
    return this.ended.get(jobId)?.at ?? null;
  }

  terminalCount(): number {
    return this.ended.size;
  }

  /** Job ids that ended without error. */
  succeeded(): string[] {
    return [...this.ended].filter(([, e]) => !e.error).map(([id]) => id);
  }

  /** The q-quantile of the recorded latencies (nearest rank), ms. */
  percentile(q: number): number {
    if (this.latenciesMs.length === 0) return 0;
    const sorted = [...this.latenciesMs].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  }
}
