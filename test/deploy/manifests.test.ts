/**
 * Offline checks of the deployment files. Every overlay is rendered (test/deploy/kustomize.ts) with
 * every combination of the optional components, as an operator would list them in `components:`;
 * every object is validated against its OpenAPI schema (kubernetes-models, and the Prometheus
 * Operator, KEDA and Gateway API models for their kinds), then the deployment policies are asserted:
 * restricted Pod Security for every pod, NetworkPolicies, Secrets only referenced, probes,
 * resources, images, worker pools without `replicas`, monitoring, KEDA. The generated files
 * (deploy/install/*.yaml, the ConfigMaps of components) must be current. docker-compose.yml, the
 * Prometheus/Grafana provisioning and the Dockerfile get structural checks. No cluster, no Docker
 * engine, no network.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_SPEC } from '@visionbatch/shared/config';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { deployFiles, INSTALL_OVERLAYS } from '../../scripts/deploy-render.ts';
import { type ImageOverride, type K8sObject, objectId, render, strategicMerge } from './kustomize.ts';
import { unknownFields } from './strict-fields.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const K8S = path.join(ROOT, 'deploy/k8s');
const component = (name: string) => path.join(K8S, 'components', name);

// ---- schema validation ---------------------------------------------------------------------------

type ModelClass = new (data: unknown) => { validate(): void };

/** Custom resources: validated by their models' schemas, but not walked for unknown fields. */
const CRD_MODELS: Record<string, () => Promise<Record<string, unknown>>> = {
  'monitoring.coreos.com/v1': () => import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'),
  'keda.sh/v1alpha1': () => import('@kubernetes-models/keda/keda.sh/v1alpha1'),
  'gateway.networking.k8s.io/v1': () => import('@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1'),
};

/** The kubernetes-models module holding the classes of one apiVersion. */
async function modelModule(apiVersion: string): Promise<Record<string, unknown>> {
  const crd = CRD_MODELS[apiVersion];
  if (crd) return crd();
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
  if (!CRD_MODELS[o.apiVersion]) {
    const unknown = unknownFields(o);
    if (unknown.length > 0) throw new Error(`${objectId(o)}: ${unknown.join(', ')}`);
  }
}

// ---- typed access to the objects we check ---------------------------------------------------------

interface Probe {
  httpGet?: { path: string; port: number | string };
  exec?: { command: string[] };
}
interface SecurityContext {
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  runAsNonRoot?: boolean;
  runAsUser?: number;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
  readOnlyRootFilesystem?: boolean;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { containerName?: string; resource: string; divisor?: string };
  };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number; hostPort?: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  securityContext?: SecurityContext;
}
interface Volume {
  name: string;
  emptyDir?: { sizeLimit?: string; medium?: string };
  [source: string]: unknown;
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  nodeSelector?: Record<string, string>;
  tolerations?: { key?: string; effect?: string }[];
  securityContext?: SecurityContext & { fsGroup?: number };
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}
type Workload = K8sObject & {
  spec: {
    replicas?: number;
    strategy?: { type: string; rollingUpdate?: { maxSurge?: number; maxUnavailable?: number } };
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
interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface Peer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface PolicyRule {
  from?: Peer[];
  to?: Peer[];
  ports?: { protocol?: string; port?: number | string }[];
}
type NetworkPolicy = K8sObject & {
  spec: { podSelector: LabelSelector; policyTypes: string[]; ingress?: PolicyRule[]; egress?: PolicyRule[] };
};
type ScaledObject = K8sObject & {
  spec: {
    scaleTargetRef: { name: string };
    minReplicaCount?: number;
    maxReplicaCount?: number;
    triggers: { type: string; metadata: Record<string, string> }[];
  };
};
type Monitor = K8sObject & {
  spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path?: string }[] };
};

/** Deployments, StatefulSets and Jobs: everything that makes pods. */
const workloads = (objs: K8sObject[]) =>
  objs.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind)) as Workload[];
const longRunning = (objs: K8sObject[]) => workloads(objs).filter((w) => w.kind !== 'Job');
const byKind = <T extends K8sObject>(objs: K8sObject[], kind: string) =>
  objs.filter((o) => o.kind === kind) as T[];
const find = <T extends K8sObject>(objs: K8sObject[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind}/${name} not rendered`);
  return o as T;
};
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
/** A label selector applied to labels (an empty selector selects everything). */
function selects(sel: LabelSelector, labels: Record<string, string> = {}): boolean {
  const byLabel = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpr = (sel.matchExpressions ?? []).every((e) => {
    if (e.operator === 'In') return e.values?.includes(labels[e.key]) ?? false;
    if (e.operator === 'NotIn') return !(e.values ?? []).includes(labels[e.key]);
    if (e.operator === 'Exists') return e.key in labels;
    if (e.operator === 'DoesNotExist') return !(e.key in labels);
    throw new Error(`operator ${e.operator}`);
  });
  return byLabel && byExpr;
}
const isEmptySelector = (sel: LabelSelector) =>
  Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
const isVisionbatch = (c: Container) => /^visionbatch(-gpu)?:/.test(c.image);
const resolvePort = (c: Container, port: number | string) =>
  typeof port === 'number' ? port : c.ports?.find((p) => p.name === port)?.containerPort;
const containersOf = (spec: PodSpec) => [...(spec.initContainers ?? []), ...spec.containers];
/** Memory quantity (Ki, Mi, Gi, or Redis' mb/gb) in bytes. */
function bytes(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]i|[kmg]b)?$/.exec(String(q));
  if (!m) throw new Error(`quantity ${q}`);
  const unit =
    { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

/** The ports each service's /healthz and /readyz (probes) and /metrics (scrapes) are served on. */
const SERVICE_PORTS: Record<string, { probe: number; metrics: number }> = {
  api: { probe: 8080, metrics: 8083 },
  scheduler: { probe: 8081, metrics: 8081 },
  worker: { probe: 8082, metrics: 8082 },
};
function serviceOf(c: Container): string {
  const entry = [...(c.command ?? []), ...(c.args ?? [])].find((a) =>
    /^services\/\w+\/src\/main\.ts$/.test(a),
  );
  if (!entry) throw new Error(`container ${c.name} runs no services/<name>/src/main.ts`);
  return entry.split('/')[1];
}

/** Settings the manifests pass, as packages/shared/src/config.ts declares them. */
const CONFIG_VARS = new Set(CONFIG_SPEC.map((e) => e.name));
/** Non-VB variables the manifests set on purpose (the Redis exporter, MinIO, its setup Job). */
const EXTRA_ENV = new Set([
  'MALLOC_ARENA_MAX',
  'MINIO_ROOT_USER',
  'MINIO_ROOT_PASSWORD',
  'REDIS_ADDR',
  'REDIS_PASSWORD',
  'HOME',
]);
/** The Secrets the manifests reference by name and deploy/README.md tells how to create. */
const SECRETS: Record<string, string[]> = {
  'vb-api': ['VB_API_KEYS', 'VB_URL_SIGNING_SECRET', 'VB_PUBLISHABLE_KEYS'],
  'vb-control-plane': ['VB_CONTROL_PLANE_SECRET'],
  'vb-redis': ['VB_REDIS_PASSWORD'],
  'vb-s3': ['VB_S3_ACCESS_KEY', 'VB_S3_SECRET_KEY'],
  'vb-minio-root': ['MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD'],
  'vb-registry': [],
};

// ---- the renders: every overlay with every combination of components -------------------------------

interface Variant {
  overlay: 'cpu-only' | 'gpu';
  redis: 'bundled' | 'external';
  store: 'external-s3' | 'local-minio';
  routing: 'ingress-nginx' | 'ingress-nginx+cert-manager' | 'gateway-api';
  monitoring: boolean;
  keda: boolean;
  registry: boolean;
}

/** The `components:` list an operator would write for a variant, in an order kustomize accepts. */
function componentsOf(v: Variant): string[] {
  return [
    ...(v.redis === 'bundled' ? ['bundled-redis'] : []),
    ...(v.routing === 'gateway-api' ? ['gateway-api'] : ['ingress-nginx']),
    ...(v.routing === 'ingress-nginx+cert-manager' ? ['cert-manager'] : []),
    ...(v.store === 'local-minio' ? ['local-minio'] : []),
    ...(v.monitoring ? ['prometheus-operator'] : []),
    ...(v.keda ? ['keda', ...(v.overlay === 'gpu' ? ['keda-gpu'] : [])] : []),
    ...(v.registry ? ['registry-credentials'] : []),
  ].map(component);
}

const VARIANTS: Variant[] = [];
for (const overlay of ['cpu-only', 'gpu'] as const)
  for (const redis of ['bundled', 'external'] as const)
    for (const store of ['external-s3', 'local-minio'] as const)
      for (const routing of ['ingress-nginx', 'ingress-nginx+cert-manager', 'gateway-api'] as const)
        for (const monitoring of [false, true])
          for (const keda of [false, true])
            for (const registry of [false, true])
              VARIANTS.push({ overlay, redis, store, routing, monitoring, keda, registry });

const isDefault = (v: Variant) =>
  v.redis === 'bundled' &&
  v.store === 'external-s3' &&
  v.routing === 'ingress-nginx' &&
  !v.monitoring &&
  !v.keda &&
  !v.registry;
const isEverything = (v: Variant) =>
  v.redis === 'bundled' &&
  v.store === 'local-minio' &&
  v.routing === 'ingress-nginx+cert-manager' &&
  v.monitoring &&
  v.keda &&
  v.registry;
const isMinimal = (v: Variant) =>
  v.redis === 'external' &&
  v.store === 'external-s3' &&
  v.routing === 'gateway-api' &&
  !v.monitoring &&
  !v.keda &&
  !v.registry;
const describeVariant = (v: Variant) =>
  `${v.overlay} [${componentsOf(v)
    .map((c) => path.basename(c))
    .join(', ')}]`;

const KUBECTL =
  spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 10_000 }).status === 0;

/**
 * `kubectl kustomize` of an overlay with `components` (and `images`) as an operator would write them:
 * a kustomization beside the overlays that takes the overlay's own resources and patches.
 */
function kubectlKustomize(overlay: string, components: string[], images: ImageOverride[] = []): K8sObject[] {
  const dir = path.join(K8S, 'overlays', overlay);
  const k = parseYaml(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as Record<string, unknown>;
  const tmp = mkdtempSync(path.join(K8S, 'overlays', '.test-'));
  try {
    const rel = (p: string) => path.relative(tmp, path.resolve(dir, p));
    const out = {
      ...k,
      resources: (k.resources as string[]).map(rel),
      components: components.map((c) => path.relative(tmp, c)),
      patches: ((k.patches as { path: string }[] | undefined) ?? []).map((p) => ({ path: rel(p.path) })),
      ...(images.length > 0 ? { images } : {}),
    };
    writeFileSync(path.join(tmp, 'kustomization.yaml'), stringifyYaml(out));
    const res = spawnSync('kubectl', ['kustomize', '--load-restrictor', 'LoadRestrictionsNone', tmp], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (res.status !== 0) throw new Error(res.stderr);
    return parseAllDocuments(res.stdout).map((d) => d.toJS() as K8sObject);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
const byId = (list: K8sObject[]) => Object.fromEntries(list.map((o) => [objectId(o), o]));

describe('kustomize subset (test helper)', () => {
  it('merges containers, env and ports by key, patched items first as kustomize does, and replaces other lists', () => {
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
            ports: [{ containerPort: 2 }, { containerPort: 1 }],
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
    const badScaledObject = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'x' },
      spec: { scaleTargetRef: {}, triggers: [] },
    } as unknown as K8sObject;
    await expect(validateAgainstSchema(badScaledObject)).rejects.toThrow(/name/);
  });
});

describe.each(VARIANTS.map((v) => ({ ...v, title: describeVariant(v) })))('deploy/k8s: $title', (v) => {
  const components = componentsOf(v);
  const objects = render(path.join(K8S, 'overlays', v.overlay), { components });
  const gpu = v.overlay === 'gpu';
  const pods = () => workloads(objects).map((w) => ({ w, spec: w.spec.template.spec, t: w.spec.template }));

  // Cross-check of the test renderer against the real kustomize, where kubectl is installed: the
  // overlays as shipped, every component at once, and none of the optional ones.
  it.skipIf(!KUBECTL || !(isDefault(v) || isEverything(v) || isMinimal(v)))(
    'renders exactly what `kubectl kustomize` renders',
    () => {
      expect(byId(objects)).toEqual(byId(kubectlKustomize(v.overlay, components)));
    },
  );

  it('renders the expected objects, each valid against its schema, in the visionbatch namespace', async () => {
    const ids = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    for (const id of [
      'Namespace/visionbatch',
      'ConfigMap/vb-config',
      'ServiceAccount/visionbatch',
      'ServiceAccount/scheduler',
      'NetworkPolicy/default-deny',
      'Deployment/api',
      'Service/api',
      'PodDisruptionBudget/api',
      'Deployment/scheduler',
      'Service/scheduler',
      'PodDisruptionBudget/scheduler',
      'Deployment/worker-cpu',
      'PodDisruptionBudget/worker-cpu',
      'Service/worker-metrics',
    ])
      expect(ids).toContain(id);
    const present = (id: string, yes: boolean) => expect(ids.includes(id), id).toBe(yes);
    present('Deployment/worker-gpu', gpu);
    present('StatefulSet/redis', v.redis === 'bundled');
    present('StatefulSet/minio', v.store === 'local-minio');
    present('Job/minio-setup', v.store === 'local-minio');
    present('Ingress/api', v.routing !== 'gateway-api');
    present('HTTPRoute/api', v.routing === 'gateway-api');
    present('Role/scheduler-scale-workers', !v.keda);
    present('PrometheusRule/visionbatch', v.monitoring);
    present('ConfigMap/visionbatch-dashboard', v.monitoring);
    expect(byKind(objects, 'ScaledObject').length).toBe(v.keda ? (gpu ? 2 : 1) : 0);
    expect(byKind(objects, 'ServiceMonitor').length).toBe(v.monitoring ? 4 : 0);

    const errors: string[] = [];
    for (const o of objects) await validateAgainstSchema(o).catch((err: Error) => errors.push(err.message));
    expect(errors).toEqual([]);
    for (const o of objects) {
      if (o.kind === 'Namespace') continue;
      expect(o.metadata.namespace, objectId(o)).toBe('visionbatch');
      expect(o.metadata.labels?.['app.kubernetes.io/part-of'], objectId(o)).toBe('visionbatch');
    }
  });

  it('every pod meets the restricted Pod Security Standard, which the namespace enforces', () => {
    const ns = find(objects, 'Namespace', 'visionbatch');
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const allowedVolumes = new Set([
      'configMap',
      'csi',
      'downwardAPI',
      'emptyDir',
      'ephemeral',
      'persistentVolumeClaim',
      'projected',
      'secret',
    ]);
    for (const { w, spec } of pods()) {
      const at = objectId(w);
      expect(spec.hostNetwork ?? false, `${at} hostNetwork`).toBe(false);
      expect(spec.hostPID ?? false, `${at} hostPID`).toBe(false);
      expect(spec.hostIPC ?? false, `${at} hostIPC`).toBe(false);
      for (const vol of spec.volumes ?? []) {
        const sources = Object.keys(vol).filter((k) => k !== 'name');
        expect(
          sources.every((s) => allowedVolumes.has(s)),
          `${at} volume ${vol.name}: ${sources}`,
        ).toBe(true);
      }
      for (const c of containersOf(spec)) {
        const where = `${at} container ${c.name}`;
        const sc = c.securityContext ?? {};
        expect(sc.privileged ?? false, `${where} privileged`).toBe(false);
        expect(sc.allowPrivilegeEscalation, `${where} allowPrivilegeEscalation`).toBe(false);
        expect(sc.capabilities?.drop, `${where} drops ALL capabilities`).toContain('ALL');
        expect(sc.capabilities?.add ?? [], `${where} adds capabilities`).toEqual([]);
        expect(sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot, `${where} runAsNonRoot`).toBe(true);
        expect(sc.runAsUser ?? spec.securityContext?.runAsUser, `${where} runAsUser`).toBeGreaterThan(0);
        expect(
          (sc.seccompProfile ?? spec.securityContext?.seccompProfile)?.type,
          `${where} seccompProfile`,
        ).toMatch(/^(RuntimeDefault|Localhost)$/);
        for (const p of c.ports ?? []) expect(p.hostPort, `${where} hostPort`).toBeUndefined();
      }
    }
  });

  it('every container has probes, CPU, memory and ephemeral-storage requests, a memory limit; every emptyDir a size', () => {
    for (const { w, spec, t } of pods()) {
      expect(matches(w.spec.selector?.matchLabels ?? t.metadata.labels, t.metadata.labels), objectId(w)).toBe(
        true,
      );
      for (const c of containersOf(spec)) {
        const where = `${objectId(w)} container ${c.name}`;
        if (w.kind !== 'Job') {
          expect(c.livenessProbe, `${where} livenessProbe`).toBeDefined();
          expect(c.readinessProbe, `${where} readinessProbe`).toBeDefined();
        }
        for (const r of ['cpu', 'memory', 'ephemeral-storage'])
          expect(c.resources?.requests?.[r], `${where} ${r} request`).toBeDefined();
        expect(c.resources?.limits?.memory, `${where} memory limit`).toBeDefined();
        for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
          if (probe?.httpGet) expect(resolvePort(c, probe.httpGet.port), `${where} probe port`).toBeDefined();
        }
      }
      for (const vol of spec.volumes ?? [])
        if (vol.emptyDir) expect(vol.emptyDir.sizeLimit, `${objectId(w)} emptyDir ${vol.name}`).toBeDefined();
    }
  });

  it('visionbatch services probe /healthz and /readyz, are scraped on their metrics port, run their own image', () => {
    const vb = longRunning(objects).filter((w) => w.spec.template.spec.containers.some(isVisionbatch));
    expect(vb.map((w) => w.metadata.name).sort()).toEqual(
      gpu ? ['api', 'scheduler', 'worker-cpu', 'worker-gpu'] : ['api', 'scheduler', 'worker-cpu'],
    );
    for (const w of vb) {
      const [c] = w.spec.template.spec.containers;
      const ports = SERVICE_PORTS[serviceOf(c)];
      expect(c.livenessProbe?.httpGet?.path, objectId(w)).toBe('/healthz');
      expect(c.readinessProbe?.httpGet?.path, objectId(w)).toBe('/readyz');
      expect(resolvePort(c, c.livenessProbe?.httpGet?.port ?? -1), objectId(w)).toBe(ports.probe);
      expect(resolvePort(c, c.readinessProbe?.httpGet?.port ?? -1), objectId(w)).toBe(ports.probe);
      const ann = w.spec.template.metadata.annotations ?? {};
      expect(ann['prometheus.io/scrape'], objectId(w)).toBe('true');
      expect(ann['prometheus.io/port'], objectId(w)).toBe(String(ports.metrics));
      expect(ann['prometheus.io/path'], objectId(w)).toBe('/metrics');
      expect(c.ports?.find((p) => p.name === 'http-metrics')?.containerPort, objectId(w)).toBe(ports.metrics);
      // one name per image, so an `images:` override of one never renames the other
      expect(c.image, objectId(w)).toMatch(
        w.metadata.name === 'worker-gpu' ? /^visionbatch-gpu:/ : /^visionbatch:/,
      );
    }
    const scheduler = find<Workload>(objects, 'Deployment', 'scheduler').spec.template.spec.containers[0];
    expect(scheduler.ports?.map((p) => p.containerPort).sort()).toEqual([50051, 8081].sort());
    // Third-party images are pinned: a version or a digest, never a moving tag.
    for (const { w, spec } of pods())
      for (const c of containersOf(spec).filter((x) => !isVisionbatch(x))) {
        expect(c.image, objectId(w)).toMatch(/(:v?\d+\.\d+\.\d+[^@]*|@sha256:[0-9a-f]{64})$/);
        expect(c.image, objectId(w)).not.toMatch(/:latest\b/);
      }
    for (const name of ['minio', 'minio-setup'])
      for (const w of workloads(objects).filter((x) => x.metadata.name === name))
        expect(w.spec.template.spec.containers[0].image, `${name} by digest`).toMatch(
          /@sha256:[0-9a-f]{64}$/,
        );
  });

  it('Secrets are only referenced, by the documented names and keys; settings are known; ConfigMap references resolve', () => {
    expect(byKind(objects, 'Secret')).toEqual([]);
    const configMaps = new Map(
      byKind<K8sObject & { data?: Record<string, string> }>(objects, 'ConfigMap').map((c) => [
        c.metadata.name,
        c.data ?? {},
      ]),
    );
    for (const key of Object.keys(configMaps.get('vb-config') ?? {}))
      expect(CONFIG_VARS.has(key), `unknown setting ${key}`).toBe(true);
    for (const { w, spec } of pods()) {
      for (const c of containersOf(spec)) {
        for (const ref of c.envFrom ?? []) {
          if (ref.configMapRef) expect(configMaps.has(ref.configMapRef.name), objectId(w)).toBe(true);
          if (ref.secretRef) expect(Object.keys(SECRETS), objectId(w)).toContain(ref.secretRef.name);
        }
        for (const e of c.env ?? []) {
          expect(CONFIG_VARS.has(e.name) || EXTRA_ENV.has(e.name), `${objectId(w)} env ${e.name}`).toBe(true);
          const s = e.valueFrom?.secretKeyRef;
          if (s) expect(SECRETS[s.name], `${objectId(w)} secret ${s.name}.${s.key}`).toContain(s.key);
          const m = e.valueFrom?.configMapKeyRef;
          if (m)
            expect(
              configMaps.get(m.name)?.[m.key],
              `${objectId(w)} configMap ${m.name}.${m.key}`,
            ).toBeDefined();
          // a secret value is never written into a manifest
          if (/PASSWORD|SECRET|KEYS?$/.test(e.name))
            expect(e.value, `${objectId(w)} ${e.name}`).toBeUndefined();
        }
        for (const vol of spec.volumes ?? []) {
          const cm = (vol.configMap as { name: string } | undefined)?.name;
          if (cm) expect(configMaps.has(cm), `${objectId(w)} volume ${vol.name}`).toBe(true);
        }
      }
      // every visionbatch service gets the Redis password and the control-plane secret from Secrets
      for (const c of spec.containers.filter(isVisionbatch)) {
        const env = new Map(c.env?.map((e) => [e.name, e.valueFrom?.secretKeyRef?.name]));
        expect(env.get('VB_REDIS_PASSWORD'), objectId(w)).toBe('vb-redis');
        expect(env.get('VB_CONTROL_PLANE_SECRET'), objectId(w)).toBe('vb-control-plane');
        expect(
          c.envFrom?.some((r) => r.secretRef?.name === 'vb-s3'),
          objectId(w),
        ).toBe(true);
      }
    }
    const api = find<Workload>(objects, 'Deployment', 'api').spec.template.spec.containers[0];
    for (const name of ['VB_API_KEYS', 'VB_URL_SIGNING_SECRET'])
      expect(api.env?.find((e) => e.name === name)?.valueFrom?.secretKeyRef).toEqual({
        name: 'vb-api',
        key: name,
      });
    // Cluster-facing values the services need (not the loopback defaults of config.ts).
    const cfg = configMaps.get('vb-config') ?? {};
    expect(cfg.VB_STORE_DRIVER).toBe('s3');
    expect(cfg.VB_API_HOST).toBe('0.0.0.0');
    expect(cfg.VB_SCHEDULER_GRPC_HOST).toBe('0.0.0.0');
    expect(cfg.VB_SCHEDULER_URL).toBe('scheduler:50051');
    expect(cfg.VB_API_OPS_PORT).toBe('8083');
    expect(new URL(cfg.VB_REDIS_URL).password).toBe('');
    expect(cfg.VB_S3_ENDPOINT).toBe(
      v.store === 'local-minio' ? 'http://minio:9000' : 'https://s3.us-east-1.amazonaws.com',
    );
    const sas = byKind<K8sObject & { imagePullSecrets?: { name: string }[] }>(objects, 'ServiceAccount');
    for (const sa of sas)
      expect(sa.imagePullSecrets ?? [], objectId(sa)).toEqual(v.registry ? [{ name: 'vb-registry' }] : []);
  });

  it('the scheduler runs 2 replicas with a rolling update and a disruption budget; only it may call the Kubernetes API', () => {
    const scheduler = find<Workload>(objects, 'Deployment', 'scheduler');
    expect(scheduler.spec.replicas).toBe(2);
    expect(scheduler.spec.strategy?.type).toBe('RollingUpdate');
    expect(scheduler.spec.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    const pdb = find<K8sObject & { spec: { minAvailable?: number } }>(
      objects,
      'PodDisruptionBudget',
      'scheduler',
    );
    expect(pdb.spec.minAvailable).toBe(1);
    expect(byKind(objects, 'ClusterRole')).toEqual([]);
    expect(byKind(objects, 'ClusterRoleBinding')).toEqual([]);
    const env = new Map(scheduler.spec.template.spec.containers[0].env?.map((e) => [e.name, e.value]));
    const workerDeployments = byKind<Workload>(objects, 'Deployment')
      .filter((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'worker')
      .map((d) => d.metadata.name)
      .sort();
    expect(workerDeployments).toEqual(gpu ? ['worker-cpu', 'worker-gpu'] : ['worker-cpu']);
    if (v.keda) {
      // KEDA owns the pools: the scheduler only exports their size and has no API rights
      expect(env.get('VB_AUTOSCALER')).toBe('static');
      expect(byKind(objects, 'Role')).toEqual([]);
      expect(byKind(objects, 'RoleBinding')).toEqual([]);
      expect(scheduler.spec.template.spec.automountServiceAccountToken).toBe(false);
    } else {
      expect(env.get('VB_AUTOSCALER')).toBe('kubernetes');
      const roles = byKind<Role>(objects, 'Role');
      expect(roles.map((r) => r.metadata.name)).toEqual(['scheduler-scale-workers']);
      const [scaleRule, podsRule, ...others] = roles[0].rules;
      expect(others).toEqual([]);
      expect(scaleRule).toEqual({
        apiGroups: ['apps'],
        resources: ['deployments/scale'],
        resourceNames: ['worker-cpu', 'worker-gpu'],
        verbs: ['get', 'patch', 'update'],
      });
      // the autoscaler's pod-deletion-cost annotation before a scale-down; no delete, no exec
      expect(podsRule).toEqual({ apiGroups: [''], resources: ['pods'], verbs: ['list', 'patch'] });
      const [binding] = byKind<Binding>(objects, 'RoleBinding');
      expect(binding.roleRef).toMatchObject({ kind: 'Role', name: 'scheduler-scale-workers' });
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: 'scheduler', namespace: 'visionbatch' },
      ]);
    }
    // and it is told which Deployments are the pools
    expect(
      (env.get('VB_K8S_DEPLOYMENTS') ?? '')
        .split(',')
        .map((p) => p.split(':')[1])
        .sort(),
    ).toEqual(workerDeployments);
    for (const w of workloads(objects).filter((x) => x.metadata.name !== 'scheduler'))
      expect(w.spec.template.spec.automountServiceAccountToken, `${objectId(w)} token`).toBe(false);
  });

  it('worker pools have no replicas, drain within the autoscaler grace, resist eviction and size from their CPU request', () => {
    const pdbs = byKind<K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(
      objects,
      'PodDisruptionBudget',
    );
    for (const w of byKind<Workload>(objects, 'Deployment').filter((d) =>
      d.metadata.name.startsWith('worker-'),
    )) {
      // A re-apply or a GitOps sync must not reset the pool the autoscaler (or KEDA) sized.
      expect(w.spec.replicas, `${objectId(w)} replicas`).toBeUndefined();
      const spec = w.spec.template.spec;
      const [c] = spec.containers;
      // longer than a task, within Cluster Autoscaler's default --max-graceful-termination-sec (600)
      expect(spec.terminationGracePeriodSeconds, objectId(w)).toBeGreaterThanOrEqual(300);
      expect(spec.terminationGracePeriodSeconds, objectId(w)).toBeLessThanOrEqual(600);
      const preStop = c.lifecycle?.preStop?.exec?.command.join(' ') ?? '';
      expect(preStop, `${objectId(w)} preStop`).toMatch(/kill -TERM 1/);
      expect(preStop, `${objectId(w)} preStop waits`).toMatch(/while kill -0 1/);
      expect(c.command?.slice(0, 2), `${objectId(w)} runs under tini`).toEqual(['/usr/bin/tini', '--']);
      const ann = w.spec.template.metadata.annotations ?? {};
      expect(ann['cluster-autoscaler.kubernetes.io/safe-to-evict'], objectId(w)).toBe('false');
      expect(ann['karpenter.sh/do-not-disrupt'], objectId(w)).toBe('true');
      const cpu = c.env?.find((e) => e.name === 'VB_WORKER_CPU_REQUEST')?.valueFrom?.resourceFieldRef;
      expect(cpu, objectId(w)).toEqual({ containerName: c.name, resource: 'requests.cpu' });
      expect(pdbs.some((p) => matches(p.spec.selector.matchLabels, w.spec.template.metadata.labels))).toBe(
        true,
      );
    }
    for (const p of pdbs)
      expect(
        workloads(objects).some((w) => matches(p.spec.selector.matchLabels, w.spec.template.metadata.labels)),
        `${objectId(p)} selects nothing`,
      ).toBe(true);
    const cpu = find<Workload>(objects, 'Deployment', 'worker-cpu').spec.template.spec.containers[0];
    expect(cpu.env?.find((e) => e.name === 'VB_WORKER_POOL')?.value).toBe('cpu');
    if (!gpu) {
      for (const { spec } of pods())
        for (const c of spec.containers) expect(c.resources?.limits?.['nvidia.com/gpu']).toBeUndefined();
      return;
    }
    // GPU scheduling by the resource request: no node label that only exists once a node has booted
    const w = find<Workload>(objects, 'Deployment', 'worker-gpu');
    const c = w.spec.template.spec.containers[0];
    expect(Number(c.resources?.requests?.['nvidia.com/gpu'])).toBeGreaterThanOrEqual(1);
    expect(c.resources?.limits?.['nvidia.com/gpu']).toEqual(c.resources?.requests?.['nvidia.com/gpu']);
    expect(w.spec.template.spec.nodeSelector).toBeUndefined();
    expect(
      w.spec.template.spec.tolerations?.some((t) => t.key === 'nvidia.com/gpu' && t.effect === 'NoSchedule'),
    ).toBe(true);
    expect(c.env?.find((e) => e.name === 'VB_WORKER_POOL')?.value).toBe('gpu');
  });

  it('NetworkPolicies: default deny, every pod selected, Redis, object store and gRPC only from visionbatch pods, metrics only from monitoring', () => {
    const policies = byKind<NetworkPolicy>(objects, 'NetworkPolicy');
    const deny = find<NetworkPolicy>(objects, 'NetworkPolicy', 'default-deny');
    expect(isEmptySelector(deny.spec.podSelector)).toBe(true);
    expect([...deny.spec.policyTypes].sort()).toEqual(['Egress', 'Ingress']);
    expect(deny.spec.ingress ?? []).toEqual([]);
    expect(deny.spec.egress ?? []).toEqual([]);
    const podsByName = pods().map(({ w, t }) => ({ name: w.metadata.name, labels: t.metadata.labels, w }));
    const labelsOf = (name: string) => podsByName.find((p) => p.name === name)?.labels ?? {};
    for (const p of podsByName) {
      const own = policies.filter(
        (np) => !isEmptySelector(np.spec.podSelector) && selects(np.spec.podSelector, p.labels),
      );
      expect(own.length, `${p.name} has a policy of its own`).toBeGreaterThan(0);
    }
    /** Who may connect to `port` of the pods named `name`: the peers of every ingress rule that lets it in. */
    const allowedFrom = (name: string, port: number) =>
      policies
        .filter(
          (np) => np.spec.policyTypes.includes('Ingress') && selects(np.spec.podSelector, labelsOf(name)),
        )
        .flatMap((np) => np.spec.ingress ?? [])
        .filter((r) => !r.ports || r.ports.some((p) => p.port === port))
        .flatMap((r) => r.from ?? [{}]);
    const onlyPods = (peers: Peer[], allowed: string[]) => {
      expect(peers.length).toBeGreaterThan(0);
      for (const peer of peers) {
        expect(peer.ipBlock).toBeUndefined();
        expect(peer.namespaceSelector).toBeUndefined(); // this namespace only
        const sel = peer.podSelector ?? {};
        expect(isEmptySelector(sel)).toBe(false);
        for (const p of podsByName)
          if (selects(sel, p.labels))
            expect(allowed, `${p.name} may connect`).toContain(
              p.labels['app.kubernetes.io/component'] ?? p.name,
            );
      }
    };
    onlyPods(allowedFrom('scheduler', 50051), ['api', 'worker']);
    if (v.redis === 'bundled') onlyPods(allowedFrom('redis', 6379), ['api', 'scheduler', 'worker']);
    if (v.store === 'local-minio')
      onlyPods(allowedFrom('minio', 9000), ['api', 'scheduler', 'worker', 'minio-setup']);
    for (const [name, port] of [
      ['api', 8083],
      ['scheduler', 8081],
      ['worker-cpu', 8082],
      ...(v.redis === 'bundled' ? [['redis', 9121] as const] : []),
    ] as const) {
      const peers = allowedFrom(name, port);
      expect(peers.length, `${name}:${port}`).toBeGreaterThan(0);
      for (const peer of peers)
        expect(peer.namespaceSelector?.matchLabels, `${name}:${port} only from monitoring`).toEqual({
          'kubernetes.io/metadata.name': 'monitoring',
        });
    }
    // the api's public port is open to the Ingress controller / Gateway
    expect(allowedFrom('api', 8080)).toContainEqual({});
    // every pod may resolve names; the scheduler reaches the Kubernetes API and the internet, the
    // private ranges (and the cloud metadata address) excepted
    const egressOf = (name: string) =>
      policies
        .filter(
          (np) => np.spec.policyTypes.includes('Egress') && selects(np.spec.podSelector, labelsOf(name)),
        )
        .flatMap((np) => np.spec.egress ?? []);
    for (const p of podsByName)
      expect(
        egressOf(p.name).some((r) => r.ports?.some((x) => x.port === 53)),
        `${p.name} DNS`,
      ).toBe(true);
    const internet = egressOf('scheduler').find(
      (r) => !r.ports && r.to?.some((t) => t.ipBlock?.cidr === '0.0.0.0/0'),
    );
    expect(internet?.to?.find((t) => t.ipBlock?.cidr === '0.0.0.0/0')?.ipBlock?.except).toEqual(
      expect.arrayContaining(['10.0.0.0/8', '169.254.0.0/16']),
    );
    for (const name of ['api', 'worker-cpu'])
      expect(
        egressOf(name).every((r) => r.ports && r.ports.length > 0),
        `${name} egress is by port`,
      ).toBe(true);
  });

  it('Services, the route in and ServiceMonitors point at existing pods and ports; the route never at /metrics', () => {
    const services = byKind<Service>(objects, 'Service');
    for (const s of services) {
      const targets = pods().filter(({ t }) => matches(s.spec.selector, t.metadata.labels));
      expect(targets.length, `${objectId(s)} selects no pods`).toBeGreaterThan(0);
      for (const port of s.spec.ports) {
        const target = port.targetPort ?? port.port;
        for (const { spec } of targets)
          expect(
            spec.containers.some((c) => resolvePort(c, target) !== undefined),
            `${objectId(s)} port ${port.name} -> ${target}`,
          ).toBe(true);
      }
    }
    const api = find<Service>(objects, 'Service', 'api');
    const backends: { name: string; port?: string | number }[] = [];
    for (const ing of byKind<
      K8sObject & {
        spec: {
          rules: {
            http: {
              paths: { backend: { service: { name: string; port: { name?: string; number?: number } } } }[];
            };
          }[];
          tls?: { secretName: string }[];
        };
      }
    >(objects, 'Ingress')) {
      for (const rule of ing.spec.rules)
        for (const p of rule.http.paths)
          backends.push({
            name: p.backend.service.name,
            port: p.backend.service.port.name ?? p.backend.service.port.number,
          });
      expect(ing.spec.tls?.[0]?.secretName).toBe('visionbatch-tls');
      expect(ing.metadata.annotations?.['cert-manager.io/cluster-issuer'] !== undefined).toBe(
        v.routing === 'ingress-nginx+cert-manager',
      );
    }
    for (const route of byKind<
      K8sObject & { spec: { rules: { backendRefs: { name: string; port: number }[] }[] } }
    >(objects, 'HTTPRoute'))
      for (const rule of route.spec.rules) for (const b of rule.backendRefs) backends.push(b);
    expect(backends.length).toBeGreaterThan(0);
    for (const b of backends) {
      expect(b.name).toBe('api');
      const sp = api.spec.ports.find((p) => p.name === b.port || p.port === b.port);
      expect(sp?.port, 'routed to the public port').toBe(8080);
    }
    for (const m of byKind<Monitor>(objects, 'ServiceMonitor')) {
      expect(m.metadata.labels?.release, `${objectId(m)} release label`).toBe('prometheus');
      const svcs = services.filter((s) => matches(m.spec.selector.matchLabels, s.metadata.labels));
      const optional = m.metadata.name === 'visionbatch-redis' && v.redis === 'external';
      expect(svcs.length, `${objectId(m)} selects one Service`).toBe(optional ? 0 : 1);
      for (const e of m.spec.endpoints) {
        expect(e.port).toBe('http-metrics');
        expect(e.path).toBe('/metrics');
        for (const s of svcs) expect(s.spec.ports.some((p) => p.name === e.port)).toBe(true);
      }
    }
    for (const r of byKind<K8sObject>(objects, 'PrometheusRule'))
      expect(r.metadata.labels?.release).toBe('prometheus');
  });

  it.runIf(v.redis === 'bundled')(
    'the bundled Redis: password from its Secret, AOF, noeviction, headroom for rewrites, a probe that wants PONG, an exporter',
    () => {
      const redis = find<Workload>(objects, 'StatefulSet', 'redis');
      const [server, exporter] = redis.spec.template.spec.containers;
      const script = [...(server.command ?? []), ...(server.args ?? [])].join(' ');
      expect(script).toMatch(/--appendonly yes/);
      expect(script).toMatch(/--maxmemory-policy noeviction/);
      // the password reaches redis-server through a file, never on its command line
      expect(script).toMatch(/requirepass .*\$VB_REDIS_PASSWORD.*> \/run\/redis\/auth\.conf/);
      expect(script).toMatch(/exec redis-server \/run\/redis\/auth\.conf /);
      expect(server.env?.find((e) => e.name === 'VB_REDIS_PASSWORD')?.valueFrom?.secretKeyRef?.name).toBe(
        'vb-redis',
      );
      const maxmemory = bytes(/--maxmemory (\S+)/.exec(script)?.[1] ?? '0');
      const limit = bytes(server.resources?.limits?.memory ?? 0);
      expect(maxmemory).toBeGreaterThan(0);
      expect(maxmemory / limit, 'an AOF rewrite forks: at most 60 % of the limit').toBeLessThanOrEqual(0.6);
      const probe = (p?: Probe) => p?.exec?.command.join(' ') ?? '';
      expect(probe(server.readinessProbe)).toMatch(
        /REDISCLI_AUTH="\$VB_REDIS_PASSWORD" redis-cli ping\)" = PONG/,
      );
      for (const p of [server.livenessProbe, server.startupProbe])
        expect(probe(p)).toMatch(/in PONG\|LOADING\*\) exit 0;; \*\) exit 1;;/);
      expect(redis.spec.volumeClaimTemplates?.length).toBe(1);
      expect(exporter.name).toBe('exporter');
      expect(exporter.env?.find((e) => e.name === 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef?.name).toBe(
        'vb-redis',
      );
    },
  );

  it.runIf(v.keda)(
    'KEDA scales each worker pool from the scheduler’s vb_pool_desired_machines, from 0',
    () => {
      const pools = gpu ? ['cpu', 'gpu'] : ['cpu'];
      const scaled = byKind<ScaledObject>(objects, 'ScaledObject');
      expect(scaled.map((s) => s.spec.scaleTargetRef.name).sort()).toEqual(pools.map((p) => `worker-${p}`));
      for (const s of scaled) {
        const pool = s.spec.scaleTargetRef.name.replace('worker-', '');
        find<Workload>(objects, 'Deployment', s.spec.scaleTargetRef.name);
        expect(s.spec.minReplicaCount).toBe(0);
        expect(s.spec.triggers).toHaveLength(1);
        const [t] = s.spec.triggers;
        expect(t.type).toBe('prometheus');
        expect(t.metadata.query).toBe(
          `max(vb_pool_desired_machines{namespace="visionbatch", pool="${pool}"})`,
        );
        expect(t.metadata.threshold).toBe('1');
        expect(t.metadata.activationThreshold).toBe('0');
      }
    },
  );

  it.runIf(v.monitoring)(
    'alerts on a component down, autoscaler errors, Redis memory, lease expiries and tasks near their timeout',
    () => {
      type Rule = K8sObject & { spec: { groups: { rules: { alert: string; expr: string }[] }[] } };
      const rules = byKind<Rule>(objects, 'PrometheusRule').flatMap((r) =>
        r.spec.groups.flatMap((g) => g.rules),
      );
      const expr = (alert: string) => rules.find((r) => r.alert === alert)?.expr ?? '';
      expect(expr('VisionbatchComponentDown')).toMatch(/up\{/);
      expect(expr('VisionbatchAutoscalerErrors')).toMatch(/vb_autoscaler_errors_total/);
      expect(expr('VisionbatchRedisMemoryNearMax')).toMatch(
        /redis_memory_used_bytes.*redis_memory_max_bytes/,
      );
      expect(expr('VisionbatchLeaseExpiries')).toMatch(/vb_leases_expired_total/);
      expect(expr('VisionbatchTasksNearTimeout')).toMatch(/vb_task_duration_seconds_bucket/);
      const dashboard = find<K8sObject & { data: Record<string, string> }>(
        objects,
        'ConfigMap',
        'visionbatch-dashboard',
      );
      expect(dashboard.metadata.labels?.grafana_dashboard).toBe('1');
      expect(JSON.parse(dashboard.data['visionbatch.json']).uid).toBe('visionbatch');
    },
  );
});

describe('deploy/k8s images', () => {
  const images: ImageOverride[] = [
    { name: 'visionbatch', newName: 'registry.example.com/vb/visionbatch', newTag: '0.2.0' },
  ];
  const imageOf = (objs: K8sObject[], name: string) =>
    find<Workload>(objs, 'Deployment', name).spec.template.spec.containers[0].image;

  it('an `images:` override of visionbatch renames api, scheduler and worker-cpu, and keeps the GPU image', () => {
    const objs = render(path.join(K8S, 'overlays/gpu'), { images });
    for (const name of ['api', 'scheduler', 'worker-cpu'])
      expect(imageOf(objs, name)).toBe('registry.example.com/vb/visionbatch:0.2.0');
    expect(imageOf(objs, 'worker-gpu')).toBe('visionbatch-gpu:0.1.0');
    const both = render(path.join(K8S, 'overlays/gpu'), {
      images: [
        ...images,
        { name: 'visionbatch-gpu', newName: 'registry.example.com/vb/visionbatch-gpu', newTag: '0.2.0' },
      ],
    });
    expect(imageOf(both, 'worker-gpu')).toBe('registry.example.com/vb/visionbatch-gpu:0.2.0');
    expect(imageOf(both, 'api')).toBe('registry.example.com/vb/visionbatch:0.2.0');
  });

  it.skipIf(!KUBECTL)('as `kubectl kustomize` does', () => {
    const dir = path.join(K8S, 'overlays/gpu');
    const k = parseYaml(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as {
      components: string[];
    };
    const components = k.components.map((c) => path.resolve(dir, c));
    expect(byId(render(dir, { images }))).toEqual(byId(kubectlKustomize('gpu', components, images)));
  });
});

describe('generated deployment files', () => {
  it('deploy/install/<overlay>.yaml and the generated ConfigMaps are current (`npm run deploy:render`)', () => {
    const files = deployFiles();
    expect([...files.keys()]).toEqual(
      expect.arrayContaining(INSTALL_OVERLAYS.map((o) => `deploy/install/${o}.yaml`)),
    );
    for (const [file, text] of files) {
      const onDisk = existsSync(path.join(ROOT, file))
        ? readFileSync(path.join(ROOT, file), 'utf8')
        : '(missing)';
      expect(onDisk === text, `${file} is stale: run npm run deploy:render`).toBe(true);
    }
  });

  it('an install file holds its overlay, the namespace first', () => {
    for (const overlay of INSTALL_OVERLAYS) {
      const docs = parseAllDocuments(
        readFileSync(path.join(ROOT, `deploy/install/${overlay}.yaml`), 'utf8'),
      ).map((d) => d.toJS() as K8sObject);
      expect(docs[0].kind).toBe('Namespace');
      expect(byId(docs)).toEqual(byId(render(path.join(K8S, 'overlays', overlay))));
    }
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
  entrypoint?: string[];
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
    expect(core).toEqual(['api', 'minio', 'minio-setup', 'redis', 'scheduler', 'worker-cpu']);
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

  it('wires Redis (password, AOF, noeviction), MinIO and the scheduler through the environment', () => {
    const redisScript = (svc.redis.command ?? []).join(' ');
    expect(redisScript).toMatch(/--appendonly yes/);
    expect(redisScript).toMatch(/--maxmemory-policy noeviction/);
    expect(redisScript).toMatch(/requirepass .*\$\$VB_REDIS_PASSWORD.*exec redis-server \/tmp\/auth\.conf /);
    expect(svc.redis.healthcheck?.test.join(' ')).toMatch(/redis-cli ping\)" = PONG/);
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
      // secrets have no default: compose refuses to start until they are set
      for (const key of ['VB_REDIS_PASSWORD', 'VB_S3_SECRET_KEY', 'VB_CONTROL_PLANE_SECRET'])
        expect(env[key], `${name} ${key}`).toBe(`\${${key}:?set ${key} (deploy/README.md)}`);
    }
    for (const key of ['VB_API_KEYS', 'VB_URL_SIGNING_SECRET'])
      expect(svc.api.environment?.[key]).toBe(`\${${key}:?set ${key} (deploy/README.md)}`);
    expect(svc.api.environment?.VB_API_HOST).toBe('0.0.0.0');
    expect(svc.scheduler.environment?.VB_SCHEDULER_GRPC_HOST).toBe('0.0.0.0');
    expect(svc['worker-cpu'].environment?.VB_WORKER_POOL).toBe('cpu');
    expect(svc['worker-gpu'].environment?.VB_WORKER_POOL).toBe('gpu');
    // The services use a MinIO user of their own, made by minio-setup with the scoped policy; MinIO's
    // root credentials stay with MinIO and minio-setup.
    const setup = svc['minio-setup'];
    expect(setup.environment?.VB_S3_ACCESS_KEY).toBe(svc.api.environment?.VB_S3_ACCESS_KEY);
    expect(setup.environment?.VB_S3_SECRET_KEY).toBe(svc.api.environment?.VB_S3_SECRET_KEY);
    expect(svc.minio.environment?.MINIO_ROOT_PASSWORD).not.toBe(svc.api.environment?.VB_S3_SECRET_KEY);
    for (const name of ['api', 'scheduler', 'worker-cpu', 'worker-gpu'])
      expect(
        Object.keys(svc[name].environment ?? {}).filter((k) => k.startsWith('MINIO_')),
        name,
      ).toEqual([]);
    expect(setup.volumes).toContain('./deploy/s3/visionbatch-policy.json:/policy/visionbatch-policy.json:ro');
    expect((setup.entrypoint ?? []).join(' ')).toMatch(/mc admin policy attach local visionbatch --user/);
    for (const name of ['api', 'scheduler', 'worker-cpu'])
      expect((svc[name].depends_on as Record<string, { condition: string }>)['minio-setup'], name).toEqual({
        condition: 'service_completed_successfully',
      });
    for (const [name, s] of Object.entries(svc))
      expect(s.image ?? '', name).not.toMatch(/^(minio|prom|grafana)\/[^:]+(:latest)?$/);
  });

  it('publishes the documented ports', () => {
    expect(svc.api.ports).toContain('8080:8080');
    expect(svc.api.expose).toContain('8083'); // /metrics: the compose network only
    expect(svc.api.environment?.VB_API_OPS_PORT).toBe('8083');
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
  it('scrapes the api on its ops port 8083, scheduler:8081 and the workers on 8082', () => {
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
      expect.arrayContaining(['api:8083', 'scheduler:8081', 'worker-cpu:8082', 'worker-gpu:8082']),
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

  it('the dashboard charts every visionbatch metric, those of the autoscaler included', () => {
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
      'vb_pool_desired_machines',
      'vb_pool_target_machines',
      'vb_pool_files_per_machine_second',
      'vb_autoscaler_errors_total',
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
