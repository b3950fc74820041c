/**
 * Contract test of the kubernetes actuator against the recorded request/response shapes of the
 * Kubernetes API (test/fixtures/k8s): the `autoscaling/v1` Scale of a Deployment's scale
 * subresource, a PodList, and the `Status` objects of 409 Conflict, 403 Forbidden and 404. No
 * cluster runs here, so a small HTTP server plays the API server with those exact bodies and keeps a
 * Deployment's replicas and resourceVersion the way the real one does; the actuator talks to it
 * through the official client (@kubernetes/client-node), and the test asserts every request it made.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { ActuatorError } from '@visionbatch/shared/errors';
import { createLogger } from '@visionbatch/shared/logger';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BUSY_COST, IDLE_COST, KubernetesActuator, POD_DELETION_COST } from './kubernetes-actuator.ts';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../../test/fixtures/k8s/${name}`, import.meta.url), 'utf8'));

const SCALE_PATH = '/apis/apps/v1/namespaces/visionbatch/deployments/worker-cpu/scale';
const PODS_PATH = '/api/v1/namespaces/visionbatch/pods';

interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  accept: string | undefined;
  authorization: string | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: request bodies are asserted field by field
  body: any;
}

/** The API server stand-in: one Deployment `worker-cpu` (and no `worker-gpu`), its pods. */
class FakeApiServer {
  server = http.createServer((req, res) => void this.handle(req, res));
  requests: Recorded[] = [];
  replicas = 2;
  resourceVersion = 184467;
  /** answer 403 to these verbs */
  forbid = new Set<string>();
  /** bump the resourceVersion behind the client's back before the next N patches (another writer) */
  concurrentWrites = 0;
  /** when set, requests are read and never answered (an API server that hangs) */
  hang = false;
  pods = fixture('pods-worker-cpu.json');
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  reset(): void {
    this.requests = [];
    this.replicas = 2;
    this.resourceVersion = 184467;
    this.forbid.clear();
    this.concurrentWrites = 0;
    this.hang = false;
    this.pods = fixture('pods-worker-cpu.json');
  }

  scale() {
    const s = fixture('scale-worker-cpu.json');
    s.metadata.resourceVersion = String(this.resourceVersion);
    s.spec.replicas = this.replicas;
    s.status.replicas = this.replicas;
    return s;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const u = new URL(req.url ?? '/', 'http://x');
    const rec: Recorded = {
      method: req.method ?? '',
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      contentType: req.headers['content-type'],
      accept: req.headers.accept,
      authorization: req.headers.authorization,
      body: text ? JSON.parse(text) : undefined,
    };
    this.requests.push(rec);
    if (this.hang) return;
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const verb = `${rec.method} ${rec.path.startsWith(PODS_PATH) ? 'pods' : 'scale'}`;
    if (this.forbid.has(verb)) return send(403, fixture('status-403-forbidden.json'));
    if (rec.path.endsWith('/deployments/worker-gpu/scale'))
      return send(404, fixture('status-404-not-found.json'));
    if (rec.path === SCALE_PATH && rec.method === 'GET') return send(200, this.scale());
    if (rec.path === SCALE_PATH && rec.method === 'PATCH') {
      if (this.concurrentWrites > 0) {
        this.concurrentWrites--;
        this.resourceVersion++;
      }
      const rv = rec.body?.metadata?.resourceVersion;
      if (rv !== undefined && rv !== String(this.resourceVersion))
        return send(409, fixture('status-409-conflict.json'));
      this.replicas = rec.body.spec.replicas;
      this.resourceVersion++;
      return send(200, this.scale());
    }
    if (rec.path === PODS_PATH && rec.method === 'GET') return send(200, this.pods);
    const podName = rec.path.startsWith(`${PODS_PATH}/`) ? rec.path.slice(PODS_PATH.length + 1) : null;
    const pod = (this.pods.items as { metadata: { name: string; annotations?: object } }[]).find(
      (p) => p.metadata.name === podName,
    );
    if (pod && rec.method === 'PATCH') {
      pod.metadata.annotations = { ...pod.metadata.annotations, ...rec.body.metadata.annotations };
      return send(200, pod);
    }
    send(404, { ...fixture('status-404-not-found.json'), message: `no route ${rec.method} ${rec.path}` });
  }
}

describe('kubernetes actuator (contract: deployments/scale)', () => {
  const api = new FakeApiServer();
  let actuator: KubernetesActuator;
  let kc: KubeConfig;

  beforeAll(async () => {
    await api.start();
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'test', server: api.url, skipTLSVerify: true }],
      users: [{ name: 'scheduler', token: 'sa-token' }],
      contexts: [{ name: 'test', cluster: 'test', user: 'scheduler', namespace: 'visionbatch' }],
      currentContext: 'test',
    });
    actuator = new KubernetesActuator({
      kubeConfig: kc,
      namespace: 'visionbatch',
      deployments: { cpu: 'worker-cpu', gpu: 'worker-gpu' },
      logger: createLogger('test', 'silent'),
    });
  });
  afterAll(
    () =>
      new Promise<void>((r) => {
        api.server.closeAllConnections();
        api.server.close(() => r());
      }),
  );
  beforeEach(() => api.reset());

  const idlePod = 'worker-cpu-7d9c6b5f4-abcde';
  const otherPod = 'worker-cpu-7d9c6b5f4-fghij';

  it('reads the size from spec.replicas of the Scale', async () => {
    expect(await actuator.size('cpu')).toBe(2);
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]).toMatchObject({
      method: 'GET',
      path: SCALE_PATH,
      authorization: 'Bearer sa-token',
    });
    expect(api.requests[0].accept).toContain('application/json');
  });

  it('scales up with a merge patch carrying the resourceVersion it read, and touches no pod', async () => {
    await actuator.scaleTo('cpu', { desired: 4, idleMachines: [], busyMachines: [] });
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET ${SCALE_PATH}`,
      `PATCH ${SCALE_PATH}`,
    ]);
    const patch = api.requests[1];
    expect(patch.contentType).toBe('application/merge-patch+json');
    expect(patch.body).toEqual({ metadata: { resourceVersion: '184467' }, spec: { replicas: 4 } });
    expect(patch.query.fieldManager).toBe('visionbatch-scheduler');
    expect(api.replicas).toBe(4);
  });

  it('does nothing when the size is already right', async () => {
    await actuator.scaleTo('cpu', { desired: 2, idleMachines: [], busyMachines: [] });
    expect(api.requests.map((r) => r.method)).toEqual(['GET']);
  });

  it('drains first: ranks pods by pod-deletion-cost (idle low, busy high) before lowering replicas', async () => {
    await actuator.scaleTo('cpu', { desired: 1, idleMachines: [idlePod], busyMachines: [otherPod] });
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET ${SCALE_PATH}`,
      `GET ${PODS_PATH}`,
      `PATCH ${PODS_PATH}/${idlePod}`,
      `PATCH ${PODS_PATH}/${otherPod}`,
      `PATCH ${SCALE_PATH}`,
    ]);
    // pods of the Deployment, by the selector the Scale reports
    expect(api.requests[1].query.labelSelector).toBe('app.kubernetes.io/name=worker-cpu');
    const [idlePatch, busyPatch] = [api.requests[2], api.requests[3]];
    for (const p of [idlePatch, busyPatch]) expect(p.contentType).toBe('application/merge-patch+json');
    expect(idlePatch.body).toEqual({ metadata: { annotations: { [POD_DELETION_COST]: IDLE_COST } } });
    expect(busyPatch.body).toEqual({ metadata: { annotations: { [POD_DELETION_COST]: BUSY_COST } } });
    expect(api.requests[4].body).toEqual({ metadata: { resourceVersion: '184467' }, spec: { replicas: 1 } });
    expect(api.replicas).toBe(1);
  });

  it('patches only pods whose cost changes, and never asks for fewer replicas than busy machines', async () => {
    // fghij is already annotated idle (-100) in the recorded PodList
    await actuator.scaleTo('cpu', { desired: 0, idleMachines: [otherPod], busyMachines: [idlePod] });
    const patches = api.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.path)).toEqual([`${PODS_PATH}/${idlePod}`, SCALE_PATH]);
    expect(patches[1].body.spec.replicas).toBe(1);
    expect(api.replicas).toBe(1);
  });

  it('on 409 Conflict re-reads the Scale and retries with the fresh resourceVersion', async () => {
    api.concurrentWrites = 1;
    await actuator.scaleTo('cpu', { desired: 3, idleMachines: [], busyMachines: [] });
    expect(api.requests.map((r) => r.method)).toEqual(['GET', 'PATCH', 'GET', 'PATCH']);
    expect(api.requests[1].body.metadata.resourceVersion).toBe('184467');
    expect(api.requests[3].body.metadata.resourceVersion).toBe('184468');
    expect(api.replicas).toBe(3);
  });

  it('gives up after repeated conflicts with a typed error (the next round tries again)', async () => {
    api.concurrentWrites = 100;
    const err = await actuator
      .scaleTo('cpu', { desired: 3, idleMachines: [], busyMachines: [] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ActuatorError);
    expect((err as ActuatorError).reason).toBe('conflict');
    expect(api.requests.filter((r) => r.method === 'PATCH')).toHaveLength(4);
    expect(api.replicas).toBe(2);
  });

  it('403 Forbidden on the patch becomes a typed error with the Status details, without retries', async () => {
    api.forbid.add('PATCH scale');
    const err = (await actuator
      .scaleTo('cpu', { desired: 3, idleMachines: [], busyMachines: [] })
      .catch((e: unknown) => e)) as ActuatorError;
    expect(err).toBeInstanceOf(ActuatorError);
    expect(err.reason).toBe('forbidden');
    expect(err.pool).toBe('cpu');
    expect(err.details).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      name: 'worker-cpu',
      namespace: 'visionbatch',
    });
    expect(err.message).toMatch(/cannot patch resource "deployments\/scale"/);
    expect(api.requests.map((r) => r.method)).toEqual(['GET', 'PATCH']);
  });

  it('403 Forbidden on reading the Scale or on the pods is typed too', async () => {
    api.forbid.add('GET scale');
    await expect(actuator.size('cpu')).rejects.toMatchObject({ name: 'ActuatorError', reason: 'forbidden' });
    api.reset();
    api.forbid.add('GET pods');
    await expect(
      actuator.scaleTo('cpu', { desired: 1, idleMachines: [idlePod], busyMachines: [] }),
    ).rejects.toMatchObject({ reason: 'forbidden' });
    // no replica change without the ranking
    expect(api.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
    expect(api.replicas).toBe(2);
  });

  it('404 (no Deployment for the pool) is a typed not-found error; a pool without a Deployment is left alone', async () => {
    await expect(actuator.size('gpu')).rejects.toMatchObject({ reason: 'not-found' });
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'test', server: api.url }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'test', cluster: 'test', user: 'u' }],
      currentContext: 'test',
    });
    const cpuOnly = new KubernetesActuator({
      kubeConfig: kc,
      namespace: 'visionbatch',
      deployments: { cpu: 'worker-cpu', gpu: null },
      logger: createLogger('test', 'silent'),
    });
    api.reset();
    expect(await cpuOnly.size('gpu')).toBeNull();
    await cpuOnly.scaleTo('gpu', { desired: 2, idleMachines: [], busyMachines: [] });
    expect(api.requests).toEqual([]);
  });

  it('an API server that stops answering fails the call at its deadline with a typed error', async () => {
    const slow = new KubernetesActuator({
      kubeConfig: kc,
      namespace: 'visionbatch',
      deployments: { cpu: 'worker-cpu', gpu: null },
      logger: createLogger('test', 'silent'),
      callDeadlineMs: 300,
    });
    api.hang = true;
    const t0 = Date.now();
    await expect(slow.size('cpu')).rejects.toMatchObject({ reason: 'unavailable' });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(api.requests.map((r) => r.method)).toEqual(['GET']);
  });
});
