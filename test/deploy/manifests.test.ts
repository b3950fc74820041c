/**
 * Offline checks of the deployment files: every Kubernetes overlay is rendered (test/deploy/kustomize.ts)
 * and every object is validated against the Kubernetes OpenAPI schemas (kubernetes-models, and
 * @kubernetes-models/prometheus-operator for ServiceMonitor), then the deployment policies are
 * asserted. docker-compose.yml, the Prometheus/Grafana provisioning and the Dockerfile get structural
 * checks. No cluster, no Docker engine, no network.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_SPEC } from '@visionbatch/shared/config';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { type K8sObject, objectId, render, strategicMerge } from './kustomize.ts';
import { unknownFields } from './strict-fields.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const K8S = path.join(ROOT, 'deploy/k8s');
const MONITORING_COMPONENT = path.join(K8S, 'components/prometheus-operator');

// ---- schema validation ---------------------------------------------------------------------------

type ModelClass = new (data: unknown) => { validate(): void };

/** The kubernetes-models module holding the classes of one apiVersion. */
async function modelModule(apiVersion: string): Promise<Record<string, unknown>> {
  if (apiVersion === 'monitoring.coreos.com/v1')
    return import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1');
  const spec = apiVersion === 'v1' ? 'kubernetes-models/v1' : `kubernetes-models/${apiVersion}`;
  return import(spec);
}

async function validateAgainstSchema(o: K8sObject): Promise<void> {
  let mod: Record<string, unknown>;
  try {
    mod = await modelModule(o.apiVersion);
  } catch {
    throw new Error(`${objectId(o)}: no schema for apiVersion ${o.apiVersion}`);
  }
  const Model = mod[o.kind] as ModelClass | undefined;
  if (typeof Model !== 'function') throw new Error(`${objectId(o)}: no schema for ${o.apiVersion} ${o.kind}`);
  try {
    new Model(o).validate();
  } catch (err) {
    throw new Error(`${objectId(o)}: ${(err as Error).message}`);
  }
  // The compiled validators accept unknown properties; reject them as `kubectl --validate=strict` does.
  // (ServiceMonitor's declarations are not walked: they come from another package with inline types.)
  if (o.apiVersion !== 'monitoring.coreos.com/v1') {
    const unknown = unknownFields(o);
    if (unknown.length > 0) throw new Error(`${objectId(o)}: ${unknown.join(', ')}`);
  }
}

// ---- typed access to the objects we check ---------------------------------------------------------

interface Probe {
  httpGet?: { path: string; port: number | string };
  exec?: { command: string[] };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: {
      secretKeyRef?: { name: string; key: string };
      configMapKeyRef?: { name: string; key: string };
    };
  }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  securityContext?: { allowPrivilegeEscalation?: boolean };
}
interface PodSpec {
  containers: Container[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  nodeSelector?: Record<string, string>;
  tolerations?: { key?: string; effect?: string }[];
  securityContext?: { runAsNonRoot?: boolean };
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}
type Workload = K8sObject & {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: PodTemplate;
    volumeClaimTemplates?: unknown[];
  };
};
type Service = K8sObject & {
  spec: {
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort?: number | string }[];
  };
};
type Role = K8sObject & {
  rules: { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[];
};
type Binding = K8sObject & {
  roleRef: { kind: string; name: string };
  subjects: { kind: string; name: string; namespace?: string }[];
};

const workloads = (objs: K8sObject[]) =>
  objs.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet') as Workload[];
const byKind = <T extends K8sObject>(objs: K8sObject[], kind: string) =>
  objs.filter((o) => o.kind === kind) as T[];
const find = <T extends K8sObject>(objs: K8sObject[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind}/${name} not rendered`);
  return o as T;
};
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
const isVisionbatch = (c: Container) => /(^|\/)visionbatch:/.test(c.image);
const resolvePort = (c: Container, port: number | string) =>
  typeof port === 'number' ? port : c.ports?.find((p) => p.name === port)?.containerPort;

/** The port each service's /healthz, /readyz and /metrics are served on (packages/shared/src/config.ts). */
const SERVICE_HTTP_PORT: Record<string, number> = { api: 8080, scheduler: 8081, worker: 8082 };
function serviceOf(c: Container): string {
  const entry = [...(c.command ?? []), ...(c.args ?? [])].find((a) =>
    /^services\/\w+\/src\/main\.ts$/.test(a),
  );
  if (!entry) throw new Error(`container ${c.name} runs no services/<name>/src/main.ts`);
  return entry.split('/')[1];
}

const CONFIG_VARS = new Set(CONFIG_SPEC.map((e) => e.name));
/** Non-VB variables the manifests set on purpose. */
const EXTRA_ENV = new Set(['MALLOC_ARENA_MAX', 'MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD']);

// ---- the renders ----------------------------------------------------------------------------------

const KUBECTL =
  spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 10_000 }).status === 0;

/**
 * `dir` itself, or (with components) a copy of the overlay in a temporary directory with the components
 * added to its `components:` list, as an operator would edit it. Directory references are rewritten
 * relative to the copy; kustomize refuses absolute ones.
 */
function kustomizeDirWith(dir: string, components: string[]): string {
  if (components.length === 0) return dir;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vb-kustomize-'));
  for (const f of readdirSync(dir)) copyFileSync(path.join(dir, f), path.join(tmp, f));
  const k = parseYaml(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as {
    resources?: string[];
    components?: string[];
  };
  const rel = (p: string) => path.relative(tmp, p);
  k.resources = (k.resources ?? []).map((r) =>
    statSync(path.join(dir, r)).isDirectory() ? rel(path.join(dir, r)) : r,
  );
  k.components = [...(k.components ?? []).map((c) => rel(path.join(dir, c))), ...components.map(rel)];
  writeFileSync(path.join(tmp, 'kustomization.yaml'), stringifyYaml(k));
  return tmp;
}

const RENDERS: { name: string; dir: string; components: string[]; gpu: boolean }[] = [
  { name: 'cpu-only', dir: path.join(K8S, 'overlays/cpu-only'), components: [], gpu: false },
  { name: 'gpu', dir: path.join(K8S, 'overlays/gpu'), components: [], gpu: true },
  {
    name: 'cpu-only + prometheus-operator',
    dir: path.join(K8S, 'overlays/cpu-only'),
    components: [MONITORING_COMPONENT],
    gpu: false,
  },
  {
    name: 'gpu + prometheus-operator',
    dir: path.join(K8S, 'overlays/gpu'),
    components: [MONITORING_COMPONENT],
    gpu: true,
  },
];

describe('kustomize subset (test helper)', () => {
  it('merges containers, env and ports by key and replaces other lists', () => {
    const target = {
      spec: {
        containers: [
          { name: 'a', image: 'x', env: [{ name: 'A', value: '1' }], ports: [{ containerPort: 1 }] },
          { name: 'b', image: 'y' },
        ],
        tolerations: [{ key: 't1' }],
      },
    };
    const patch = {
      spec: {
        containers: [
          {
            name: 'a',
            env: [
              { name: 'A', value: '2' },
              { name: 'B', value: '3' },
            ],
            ports: [{ containerPort: 2 }],
          },
        ],
        tolerations: [{ key: 't2' }],
      },
    };
    expect(strategicMerge(target, patch)).toEqual({
      spec: {
        containers: [
          {
            name: 'a',
            image: 'x',
            env: [
              { name: 'A', value: '2' },
              { name: 'B', value: '3' },
            ],
            ports: [{ containerPort: 1 }, { containerPort: 2 }],
          },
          { name: 'b', image: 'y' },
        ],
        tolerations: [{ key: 't2' }],
      },
    });
    expect(strategicMerge({ a: 1, b: 2 }, { b: null })).toEqual({ a: 1 });
  });

  it('the schema validator rejects a malformed object (so passing means something)', async () => {
    const bad = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'bad' },
      spec: {
        selector: { matchLabels: { a: 'b' } },
        template: { spec: { containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 'http' }] }] } },
      },
    } as unknown as K8sObject;
    await expect(validateAgainstSchema(bad)).rejects.toThrow(/containerPort must be integer/);
    const missing = {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'x' },
      spec: { maxUnavailable: [1] },
    } as unknown as K8sObject;
    await expect(validateAgainstSchema(missing)).rejects.toThrow();
    const unknownKind = { apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'x' } } as K8sObject;
    await expect(validateAgainstSchema(unknownKind)).rejects.toThrow(/no schema/);
    const misspelt = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'typo' },
      spec: {
        selector: { matchLabels: { a: 'b' } },
        template: {
          spec: {
            containers: [{ name: 'c', image: 'i', livenesProbe: { httpGet: { path: '/healthz', port: 1 } } }],
          },
        },
      },
    } as unknown as K8sObject;
    await expect(validateAgainstSchema(misspelt)).rejects.toThrow(
      /containers\[0\]\.livenesProbe: unknown field/,
    );
  });
});

describe.each(RENDERS)('deploy/k8s: $name', ({ dir, components, gpu }) => {
  const objects = render(dir, { extraComponents: components });
  const withMonitoring = components.length > 0;

  // Cross-check of the test renderer against the real kustomize, where kubectl is installed.
  it.skipIf(!KUBECTL)('renders exactly what `kubectl kustomize` renders', () => {
    const kdir = kustomizeDirWith(dir, components);
    try {
      const out = spawnSync('kubectl', ['kustomize', kdir], { encoding: 'utf8', timeout: 30_000 });
      expect(out.status, out.stderr).toBe(0);
      const theirs = parseAllDocuments(out.stdout).map((d) => d.toJS() as K8sObject);
      const byId = (list: K8sObject[]) => Object.fromEntries(list.map((o) => [objectId(o), o]));
      expect(byId(objects)).toEqual(byId(theirs));
    } finally {
      if (kdir !== dir) rmSync(kdir, { recursive: true, force: true });
    }
  });

  it('renders the expected objects', () => {
    const ids = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    for (const id of [
      'Namespace/visionbatch',
      'ConfigMap/vb-config',
      'Secret/vb-api',
      'Secret/vb-s3',
      'StatefulSet/redis',
      'Service/redis',
      'StatefulSet/minio',
      'Service/minio',
      'Deployment/api',
      'Service/api',
      'Ingress/api',
      'PodDisruptionBudget/api',
      'Deployment/scheduler',
      'Service/scheduler',
      'ServiceAccount/scheduler',
      'Role/scheduler-scale-workers',
      'RoleBinding/scheduler-scale-workers',
      'Deployment/worker-cpu',
      'PodDisruptionBudget/worker-cpu',
      'Service/worker-metrics',
    ]) {
      expect(ids).toContain(id);
    }
    expect(ids.includes('Deployment/worker-gpu')).toBe(gpu);
    expect(ids.includes('PodDisruptionBudget/worker-gpu')).toBe(gpu);
    expect(byKind(objects, 'ServiceMonitor').length).toBe(withMonitoring ? 3 : 0);
  });

  it('every object is valid against the Kubernetes OpenAPI schema', async () => {
    const errors: string[] = [];
    for (const o of objects) {
      await validateAgainstSchema(o).catch((err: Error) => errors.push(err.message));
    }
    expect(errors).toEqual([]);
  });

  it('every namespaced object lives in the visionbatch namespace', () => {
    for (const o of objects) {
      if (o.kind === 'Namespace') continue;
      expect(o.metadata.namespace, objectId(o)).toBe('visionbatch');
      expect(o.metadata.labels?.['app.kubernetes.io/part-of'], objectId(o)).toBe('visionbatch');
    }
  });

  it('every container has liveness and readiness probes, resource requests and a memory limit', () => {
    for (const w of workloads(objects)) {
      expect(
        matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels),
        `${objectId(w)} selector`,
      ).toBe(true);
      expect(w.spec.template.spec.securityContext?.runAsNonRoot, `${objectId(w)} runAsNonRoot`).toBe(true);
      for (const c of w.spec.template.spec.containers) {
        const where = `${objectId(w)} container ${c.name}`;
        expect(c.livenessProbe, `${where} livenessProbe`).toBeDefined();
        expect(c.readinessProbe, `${where} readinessProbe`).toBeDefined();
        expect(c.resources?.requests?.cpu, `${where} cpu request`).toBeDefined();
        expect(c.resources?.requests?.memory, `${where} memory request`).toBeDefined();
        expect(c.resources?.limits?.memory, `${where} memory limit`).toBeDefined();
        expect(c.securityContext?.allowPrivilegeEscalation, `${where} allowPrivilegeEscalation`).toBe(false);
        for (const probe of [c.livenessProbe, c.readinessProbe]) {
          if (probe?.httpGet) expect(resolvePort(c, probe.httpGet.port), `${where} probe port`).toBeDefined();
        }
      }
    }
  });

  it('visionbatch services probe /healthz and /readyz and are scraped on their HTTP port', () => {
    const vb = workloads(objects).filter((w) => w.spec.template.spec.containers.some(isVisionbatch));
    expect(vb.map((w) => w.metadata.name).sort()).toEqual(
      gpu ? ['api', 'scheduler', 'worker-cpu', 'worker-gpu'] : ['api', 'scheduler', 'worker-cpu'],
    );
    for (const w of vb) {
      const [c] = w.spec.template.spec.containers;
      const port = SERVICE_HTTP_PORT[serviceOf(c)];
      expect(c.livenessProbe?.httpGet?.path, objectId(w)).toBe('/healthz');
      expect(c.readinessProbe?.httpGet?.path, objectId(w)).toBe('/readyz');
      expect(resolvePort(c, c.livenessProbe?.httpGet?.port ?? -1), objectId(w)).toBe(port);
      expect(resolvePort(c, c.readinessProbe?.httpGet?.port ?? -1), objectId(w)).toBe(port);
      const ann = w.spec.template.metadata.annotations ?? {};
      expect(ann['prometheus.io/scrape'], objectId(w)).toBe('true');
      expect(ann['prometheus.io/port'], objectId(w)).toBe(String(port));
      expect(ann['prometheus.io/path'], objectId(w)).toBe('/metrics');
    }
    const scheduler = find<Workload>(objects, 'Deployment', 'scheduler').spec.template.spec.containers[0];
    expect(scheduler.ports?.map((p) => p.containerPort).sort()).toEqual([50051, 8081].sort());
  });

  it('env variables are known settings and every ConfigMap/Secret reference resolves', () => {
    const configMaps = new Map(
      byKind<K8sObject & { data?: Record<string, string> }>(objects, 'ConfigMap').map((c) => [
        c.metadata.name,
        c.data ?? {},
      ]),
    );
    const secrets = new Map(
      byKind<K8sObject & { stringData?: Record<string, string> }>(objects, 'Secret').map((s) => [
        s.metadata.name,
        s.stringData ?? {},
      ]),
    );
    for (const data of [...configMaps.values(), ...secrets.values()]) {
      for (const key of Object.keys(data)) expect(CONFIG_VARS.has(key), `unknown setting ${key}`).toBe(true);
    }
    for (const w of workloads(objects)) {
      for (const c of w.spec.template.spec.containers) {
        for (const ref of c.envFrom ?? []) {
          if (ref.configMapRef)
            expect(
              configMaps.has(ref.configMapRef.name),
              `${objectId(w)} configMap ${ref.configMapRef.name}`,
            ).toBe(true);
          if (ref.secretRef)
            expect(secrets.has(ref.secretRef.name), `${objectId(w)} secret ${ref.secretRef.name}`).toBe(true);
        }
        for (const e of c.env ?? []) {
          expect(CONFIG_VARS.has(e.name) || EXTRA_ENV.has(e.name), `${objectId(w)} env ${e.name}`).toBe(true);
          const s = e.valueFrom?.secretKeyRef;
          if (s)
            expect(secrets.get(s.name)?.[s.key], `${objectId(w)} secret ${s.name}.${s.key}`).toBeDefined();
          const m = e.valueFrom?.configMapKeyRef;
          if (m)
            expect(
              configMaps.get(m.name)?.[m.key],
              `${objectId(w)} configMap ${m.name}.${m.key}`,
            ).toBeDefined();
        }
      }
    }
    // Cluster-facing values the services need (not the loopback defaults of config.ts).
    const cfg = configMaps.get('vb-config') ?? {};
    expect(cfg.VB_STORE_DRIVER).toBe('s3');
    expect(cfg.VB_API_HOST).toBe('0.0.0.0');
    expect(cfg.VB_SCHEDULER_GRPC_HOST).toBe('0.0.0.0');
    expect(cfg.VB_SCHEDULER_URL).toBe('scheduler:50051');
    expect(cfg.VB_REDIS_URL).toBe('redis://redis:6379');
    expect(cfg.VB_S3_ENDPOINT).toBe('http://minio:9000');
  });

  it('secrets hold placeholders only, clearly marked', () => {
    for (const s of byKind<K8sObject & { data?: unknown; stringData?: Record<string, string> }>(
      objects,
      'Secret',
    )) {
      expect(s.data, objectId(s)).toBeUndefined();
      for (const [k, v] of Object.entries(s.stringData ?? {})) {
        expect(v === '' || v.includes('CHANGE-ME'), `${objectId(s)} ${k}`).toBe(true);
      }
    }
    expect(
      Object.keys(find<K8sObject & { stringData: object }>(objects, 'Secret', 'vb-api').stringData),
    ).toEqual(expect.arrayContaining(['VB_API_KEYS', 'VB_URL_SIGNING_SECRET']));
    expect(
      Object.keys(find<K8sObject & { stringData: object }>(objects, 'Secret', 'vb-s3').stringData).sort(),
    ).toEqual(['VB_S3_ACCESS_KEY', 'VB_S3_SECRET_KEY']);
  });

  it('RBAC: only the scheduler gets API rights: get/patch/update on deployments/scale of the worker pools, list/patch on pods (deletion cost)', () => {
    expect(byKind(objects, 'ClusterRole')).toEqual([]);
    expect(byKind(objects, 'ClusterRoleBinding')).toEqual([]);
    const workerDeployments = byKind<Workload>(objects, 'Deployment')
      .filter((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'worker')
      .map((d) => d.metadata.name)
      .sort();
    expect(workerDeployments).toEqual(gpu ? ['worker-cpu', 'worker-gpu'] : ['worker-cpu']);
    const roles = byKind<Role>(objects, 'Role');
    expect(roles.map((r) => r.metadata.name)).toEqual(['scheduler-scale-workers']);
    const [scaleRule, podsRule, ...others] = roles[0].rules;
    expect(others).toEqual([]);
    expect(scaleRule.apiGroups).toEqual(['apps']);
    expect(scaleRule.resources).toEqual(['deployments/scale']);
    expect([...scaleRule.verbs].sort()).toEqual(['get', 'patch', 'update']);
    expect([...(scaleRule.resourceNames ?? [])].sort()).toEqual(workerDeployments);
    // the autoscaler's pod-deletion-cost annotation before a scale-down; no delete, no exec
    expect(podsRule).toEqual({ apiGroups: [''], resources: ['pods'], verbs: ['list', 'patch'] });
    // and it is told which Deployments are the pools
    const scheduler = find<Workload>(objects, 'Deployment', 'scheduler').spec.template.spec.containers[0];
    const env = new Map(scheduler.env?.map((e) => [e.name, e.value]));
    expect(env.get('VB_AUTOSCALER')).toBe('kubernetes');
    expect(
      (env.get('VB_K8S_DEPLOYMENTS') ?? '')
        .split(',')
        .map((p) => p.split(':')[1])
        .sort(),
    ).toEqual(workerDeployments);
    const [binding] = byKind<Binding>(objects, 'RoleBinding');
    expect(binding.roleRef).toMatchObject({ kind: 'Role', name: 'scheduler-scale-workers' });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'scheduler', namespace: 'visionbatch' },
    ]);
    for (const w of workloads(objects)) {
      const spec = w.spec.template.spec;
      if (w.metadata.name === 'scheduler') {
        expect(spec.serviceAccountName).toBe('scheduler');
      } else {
        expect(spec.serviceAccountName, objectId(w)).toBeUndefined();
        expect(spec.automountServiceAccountToken, `${objectId(w)} automountServiceAccountToken`).toBe(false);
      }
    }
  });

  it('Redis runs with AOF and noeviction on a persistent volume', () => {
    const redis = find<Workload>(objects, 'StatefulSet', 'redis');
    const args = [
      ...(redis.spec.template.spec.containers[0].command ?? []),
      ...(redis.spec.template.spec.containers[0].args ?? []),
    ];
    const flag = (name: string) => args[args.indexOf(name) + 1];
    expect(args).toContain('--appendonly');
    expect(flag('--appendonly')).toBe('yes');
    expect(flag('--maxmemory-policy')).toBe('noeviction');
    expect(redis.spec.volumeClaimTemplates?.length).toBe(1);
    expect(find<Workload>(objects, 'StatefulSet', 'minio').spec.volumeClaimTemplates?.length).toBe(1);
  });

  it('workers drain before they stop and have disruption budgets', () => {
    const pdbs = byKind<K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(
      objects,
      'PodDisruptionBudget',
    );
    for (const w of byKind<Workload>(objects, 'Deployment').filter((d) =>
      d.metadata.name.startsWith('worker-'),
    )) {
      const spec = w.spec.template.spec;
      expect(spec.terminationGracePeriodSeconds ?? 30, objectId(w)).toBeGreaterThanOrEqual(600);
      const preStop = spec.containers[0].lifecycle?.preStop?.exec?.command.join(' ') ?? '';
      expect(preStop, `${objectId(w)} preStop`).toMatch(/kill -TERM 1/);
      expect(preStop, `${objectId(w)} preStop waits`).toMatch(/while kill -0 1/);
      expect(spec.containers[0].command?.slice(0, 2), `${objectId(w)} runs under tini`).toEqual([
        '/usr/bin/tini',
        '--',
      ]);
      expect(
        pdbs.some((p) =>
          matches(p.spec.selector.matchLabels, spec.containers && w.spec.template.metadata.labels),
        ),
        `${objectId(w)} PDB`,
      ).toBe(true);
    }
    for (const p of pdbs) {
      expect(
        workloads(objects).some((w) => matches(p.spec.selector.matchLabels, w.spec.template.metadata.labels)),
        `${objectId(p)} selects nothing`,
      ).toBe(true);
    }
  });

  it('worker-gpu requests a GPU and is pinned to GPU nodes (gpu overlay only)', () => {
    if (!gpu) {
      for (const w of workloads(objects)) {
        for (const c of w.spec.template.spec.containers)
          expect(c.resources?.limits?.['nvidia.com/gpu'], objectId(w)).toBeUndefined();
      }
      return;
    }
    const w = find<Workload>(objects, 'Deployment', 'worker-gpu');
    const c = w.spec.template.spec.containers[0];
    expect(Number(c.resources?.requests?.['nvidia.com/gpu'])).toBeGreaterThanOrEqual(1);
    expect(c.resources?.limits?.['nvidia.com/gpu']).toEqual(c.resources?.requests?.['nvidia.com/gpu']);
    expect(c.env?.find((e) => e.name === 'VB_WORKER_POOL')?.value).toBe('gpu');
    expect(c.image).toMatch(/gpu/);
    expect(Object.keys(w.spec.template.spec.nodeSelector ?? {}).length).toBeGreaterThan(0);
    expect(
      w.spec.template.spec.tolerations?.some((t) => t.key === 'nvidia.com/gpu' && t.effect === 'NoSchedule'),
    ).toBe(true);
    const cpu = find<Workload>(objects, 'Deployment', 'worker-cpu').spec.template.spec.containers[0];
    expect(cpu.env?.find((e) => e.name === 'VB_WORKER_POOL')?.value).toBe('cpu');
  });

  it('Services, the Ingress and ServiceMonitors point at existing pods and ports', () => {
    const pods = workloads(objects).map((w) => w.spec.template);
    const services = byKind<Service>(objects, 'Service');
    for (const s of services) {
      const targets = pods.filter((p) => matches(s.spec.selector, p.metadata.labels));
      expect(targets.length, `${objectId(s)} selects no pods`).toBeGreaterThan(0);
      for (const port of s.spec.ports) {
        const target = port.targetPort ?? port.port;
        for (const p of targets) {
          const found = p.spec.containers.some(
            (c) =>
              resolvePort(c, target) !== undefined &&
              (typeof target === 'string' || c.ports?.some((cp) => cp.containerPort === target)),
          );
          expect(found, `${objectId(s)} port ${port.name} -> ${target}`).toBe(true);
        }
      }
    }
    type Ingress = K8sObject & {
      spec: {
        rules: {
          http: {
            paths: { backend: { service: { name: string; port: { name?: string; number?: number } } } }[];
          };
        }[];
      };
    };
    for (const ing of byKind<Ingress>(objects, 'Ingress')) {
      for (const rule of ing.spec.rules) {
        for (const p of rule.http.paths) {
          const svc = services.find((s) => s.metadata.name === p.backend.service.name);
          expect(svc, `${objectId(ing)} backend`).toBeDefined();
          expect(
            svc?.spec.ports.some(
              (sp) => sp.name === p.backend.service.port.name || sp.port === p.backend.service.port.number,
            ),
          ).toBe(true);
        }
      }
    }
    type Monitor = K8sObject & {
      spec: {
        selector: { matchLabels: Record<string, string> };
        endpoints: { port: string; path?: string }[];
      };
    };
    const monitored = new Set<string>();
    for (const m of byKind<Monitor>(objects, 'ServiceMonitor')) {
      const svcs = services.filter((s) => matches(m.spec.selector.matchLabels, s.metadata.labels));
      expect(svcs.length, `${objectId(m)} selects no Service`).toBe(1);
      for (const e of m.spec.endpoints) {
        expect(
          svcs[0].spec.ports.some((p) => p.name === e.port),
          `${objectId(m)} port ${e.port}`,
        ).toBe(true);
        expect(e.path).toBe('/metrics');
      }
      monitored.add(svcs[0].metadata.name);
    }
    if (withMonitoring) expect([...monitored].sort()).toEqual(['api', 'scheduler', 'worker-metrics']);
  });
});

// ---- docker-compose, Prometheus, Grafana, Dockerfile ----------------------------------------------

interface ComposeService {
  image?: string;
  build?: { context: string; target?: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  expose?: string[];
  profiles?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  deploy?: {
    resources?: {
      reservations?: { devices?: { driver?: string; count?: number; capabilities?: string[] }[] };
    };
  };
}

describe('docker-compose.yml', () => {
  // `merge: true` resolves the `<<: *anchor` merge keys, as Docker Compose does.
  const compose = parseYaml(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, ComposeService>;
    volumes: Record<string, unknown>;
  };
  const svc = compose.services;

  it('has the core services without a profile and gpu/monitoring behind profiles', () => {
    const core = Object.entries(svc)
      .filter(([, s]) => !s.profiles)
      .map(([n]) => n)
      .sort();
    expect(core).toEqual(['api', 'minio', 'redis', 'scheduler', 'worker-cpu']);
    expect(svc['worker-gpu'].profiles).toEqual(['gpu']);
    expect(svc.prometheus.profiles).toEqual(['monitoring']);
    expect(svc.grafana.profiles).toEqual(['monitoring']);
  });

  it('runs each role of the one image by its command', () => {
    for (const [name, service] of [
      ['api', 'api'],
      ['scheduler', 'scheduler'],
      ['worker-cpu', 'worker'],
      ['worker-gpu', 'worker'],
    ] as const) {
      expect(svc[name].command, name).toEqual(['node', '--import', 'tsx', `services/${service}/src/main.ts`]);
      expect(svc[name].build?.context, name).toBe('.');
    }
    expect(svc.api.build?.target).toBe('runtime');
    expect(svc['worker-gpu'].build?.target).toBe('gpu');
  });

  it('wires Redis (AOF, noeviction), MinIO and the scheduler through the environment', () => {
    const redisCmd = svc.redis.command ?? [];
    expect(redisCmd[redisCmd.indexOf('--appendonly') + 1]).toBe('yes');
    expect(redisCmd[redisCmd.indexOf('--maxmemory-policy') + 1]).toBe('noeviction');
    expect(svc.redis.volumes?.some((v) => v.startsWith('redis-data:'))).toBe(true);
    expect(svc.minio.volumes?.some((v) => v.startsWith('minio-data:'))).toBe(true);
    for (const name of ['api', 'scheduler', 'worker-cpu', 'worker-gpu']) {
      const env = svc[name].environment ?? {};
      expect(env.VB_STORE_DRIVER, name).toBe('s3');
      expect(env.VB_REDIS_URL, name).toBe('redis://redis:6379');
      expect(env.VB_S3_ENDPOINT, name).toBe('http://minio:9000');
      expect(env.VB_SCHEDULER_URL, name).toBe('scheduler:50051');
      for (const key of Object.keys(env))
        expect(CONFIG_VARS.has(key), `${name}: unknown setting ${key}`).toBe(true);
    }
    expect(svc.api.environment?.VB_API_HOST).toBe('0.0.0.0');
    expect(svc.scheduler.environment?.VB_SCHEDULER_GRPC_HOST).toBe('0.0.0.0');
    expect(svc['worker-cpu'].environment?.VB_WORKER_POOL).toBe('cpu');
    expect(svc['worker-gpu'].environment?.VB_WORKER_POOL).toBe('gpu');
    // The MinIO root user is the services' S3 identity.
    expect(svc.minio.environment?.MINIO_ROOT_USER).toBe(svc.api.environment?.VB_S3_ACCESS_KEY);
    expect(svc.minio.environment?.MINIO_ROOT_PASSWORD).toBe(svc.api.environment?.VB_S3_SECRET_KEY);
  });

  it('publishes the documented ports', () => {
    expect(svc.api.ports).toContain('8080:8080');
    expect(svc.scheduler.expose).toEqual(expect.arrayContaining(['50051', '8081']));
    expect(svc['worker-cpu'].expose).toContain('8082');
    expect(svc.prometheus.ports).toContain('9090:9090');
    expect(svc.grafana.ports).toContain('3000:3000');
    expect(svc.api.healthcheck?.test.join(' ')).toContain('8080/readyz');
    expect(svc.scheduler.healthcheck?.test.join(' ')).toContain('8081/readyz');
  });

  it('gives workers time to drain and the GPU worker a GPU', () => {
    for (const name of ['worker-cpu', 'worker-gpu']) expect(svc[name].stop_grace_period, name).toBe('10m');
    const devices = svc['worker-gpu'].deploy?.resources?.reservations?.devices ?? [];
    expect(devices).toEqual([{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
  });

  it('mounts files that exist and declares its named volumes', () => {
    for (const [name, s] of Object.entries(svc)) {
      for (const v of s.volumes ?? []) {
        const [src] = v.split(':');
        if (src.startsWith('./')) expect(existsSync(path.join(ROOT, src)), `${name}: ${src}`).toBe(true);
        else expect(compose.volumes, `${name}: volume ${src}`).toHaveProperty(src);
      }
    }
  });
});

describe('Prometheus and Grafana provisioning', () => {
  it('scrapes api:8080, scheduler:8081 and the workers on 8082', () => {
    const prom = parseYaml(readFileSync(path.join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: {
        job_name: string;
        metrics_path?: string;
        static_configs?: { targets: string[] }[];
        dns_sd_configs?: { names: string[]; port: number }[];
      }[];
    };
    const targets = prom.scrape_configs.flatMap((c) => [
      ...(c.static_configs ?? []).flatMap((s) => s.targets),
      ...(c.dns_sd_configs ?? []).flatMap((d) => d.names.map((n) => `${n}:${d.port}`)),
    ]);
    expect(targets).toEqual(
      expect.arrayContaining(['api:8080', 'scheduler:8081', 'worker-cpu:8082', 'worker-gpu:8082']),
    );
    for (const c of prom.scrape_configs) expect(c.metrics_path ?? '/metrics').toBe('/metrics');
  });

  it('provisions a Prometheus datasource and the dashboard folder', () => {
    const ds = parseYaml(
      readFileSync(path.join(ROOT, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8'),
    ) as {
      datasources: { type: string; url: string }[];
    };
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    const dashboards = parseYaml(
      readFileSync(path.join(ROOT, 'deploy/grafana/provisioning/dashboards/visionbatch.yml'), 'utf8'),
    ) as {
      providers: { options: { path: string } }[];
    };
    expect(dashboards.providers[0].options.path).toBe('/var/lib/grafana/dashboards');
  });

  it('the dashboard charts every visionbatch metric', () => {
    const dash = JSON.parse(readFileSync(path.join(ROOT, 'deploy/grafana/visionbatch.json'), 'utf8')) as {
      uid: string;
      panels: { id: number; type: string; targets?: { expr: string }[] }[];
    };
    expect(dash.uid).toBe('visionbatch');
    const exprs = dash.panels
      .flatMap((p) => p.targets ?? [])
      .map((t) => t.expr)
      .join('\n');
    for (const metric of [
      'vb_http_request_duration_seconds',
      'vb_tasks_total',
      'vb_files_processed_total',
      'vb_task_duration_seconds',
      'vb_model_load_seconds',
      'vb_worker_lease_active',
      'vb_metered_compute_seconds_total',
      'vb_active_jobs',
      'vb_pool_machines',
      'vb_webhook_deliveries_total',
      'vb_ingest_files_total',
    ]) {
      expect(exprs, metric).toContain(metric);
    }
    const ids = dash.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const dockerignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim());

  it('builds a non-root runtime image and a gpu target from node:20 and a CUDA base', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^ARG CUDA_IMAGE=nvidia\/cuda:\S+-cudnn-runtime-\S+$/m);
    expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\} AS runtime$/m);
    expect(dockerfile).toMatch(/^FROM \$\{CUDA_IMAGE\} AS gpu$/m);
    expect(dockerfile).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/COPY package\.json package-lock\.json \.npmrc/);
    expect(dockerfile).toMatch(/apt-get install[^\n]*ffmpeg/);
    const users = [...dockerfile.matchAll(/^USER (\S+)$/gm)].map((m) => m[1]);
    expect(users.length).toBe(2);
    for (const u of users) expect(['root', '0']).not.toContain(u);
    expect(dockerfile).toMatch(/VB_API_HOST=0\.0\.0\.0/);
    expect(dockerfile).toMatch(/VB_SCHEDULER_GRPC_HOST=0\.0\.0\.0/);
  });

  it('copies only sources that exist and that .dockerignore lets through', () => {
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)].flatMap((m) =>
      m[1].split(/\s+/),
    );
    expect(sources.length).toBeGreaterThan(5);
    for (const src of sources) {
      expect(existsSync(path.join(ROOT, src)), src).toBe(true);
      expect(dockerignore.includes(src), `${src} is excluded by .dockerignore`).toBe(false);
    }
    // Every workspace's package.json is copied before `npm ci`, or the lockfile install fails.
    const workspaces = (
      JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }
    ).workspaces;
    for (const ws of workspaces) expect(sources, ws).toContain(`${ws}/package.json`);
    expect(dockerignore).toContain('**/node_modules');
  });
});
