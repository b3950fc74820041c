/**
 * The small subset of kustomize that deploy/k8s uses, so the manifests can be rendered offline in a
 * test without the kustomize or kubectl binaries.
 *
 * Supported: `resources` (files and directories holding a kustomization), `components`
 * (kind Component: resources and patches), `patches` with `path` (strategic merge, matched by
 * kind + name), `namespace`, and `labels` (pairs added to metadata.labels; includeSelectors and
 * includeTemplates false only). Any other field of a kustomization is an error rather than silently
 * ignored, so a manifest change that needs more of kustomize fails here first.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  components?: string[];
  patches?: { path: string }[];
  labels?: { pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean }[];
}

const KNOWN_FIELDS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'components',
  'patches',
  'labels',
]);

/** Kinds that are not namespaced (among those a visionbatch deployment could use). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
]);

export function parseYamlDocuments(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function readKustomization(dir: string): Kustomization {
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization']
    .map((f) => path.join(dir, f))
    .find((f) => existsSync(f));
  if (!file) throw new Error(`${dir}: no kustomization.yaml`);
  const [k] = parseYamlDocuments(file) as Kustomization[];
  for (const key of Object.keys(k)) {
    if (!KNOWN_FIELDS.has(key))
      throw new Error(
        `${file}: field "${key}" is not supported by the test renderer (test/deploy/kustomize.ts)`,
      );
  }
  for (const l of k.labels ?? []) {
    if (l.includeSelectors || l.includeTemplates)
      throw new Error(`${file}: labels with includeSelectors/includeTemplates are not supported`);
  }
  for (const p of k.patches ?? []) {
    if (Object.keys(p).some((key) => key !== 'path'))
      throw new Error(`${file}: only patches with a path are supported`);
  }
  return k;
}

export function objectId(o: K8sObject): string {
  return `${o.kind}/${o.metadata.namespace ?? '~'}/${o.metadata.name}`;
}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Merge key of a list field in a strategic merge patch, following the Kubernetes API's patchMergeKey. */
function mergeKey(field: string, items: Json[]): string | null {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'env':
    case 'volumes':
    case 'imagePullSecrets':
    case 'volumeClaimTemplates':
      return 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'ports':
      // Container ports merge on containerPort, Service ports on port.
      return items.some((i) => isObject(i) && 'containerPort' in i) ? 'containerPort' : 'port';
    default:
      return null; // replaced wholesale (rules, args, tolerations, envFrom, ...)
  }
}

/** Strategic merge of `patch` into `target` (maps merge, keyed lists merge by key, other lists are replaced, null deletes). */
export function strategicMerge(target: unknown, patch: unknown, field = ''): unknown {
  if (isObject(target) && isObject(patch)) {
    const out: Record<string, unknown> = { ...target };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = k in out ? strategicMerge(out[k], v, k) : v;
    }
    return out;
  }
  if (Array.isArray(target) && Array.isArray(patch)) {
    const key = mergeKey(field, [...target, ...patch] as Json[]);
    if (!key) return patch;
    const out: unknown[] = [...target];
    for (const item of patch) {
      const i = isObject(item) ? out.findIndex((t) => isObject(t) && t[key] === item[key]) : -1;
      if (i >= 0) out[i] = strategicMerge(out[i], item, field);
      else out.push(item);
    }
    return out;
  }
  return patch;
}

function applyPatchFile(objects: K8sObject[], file: string): void {
  for (const patch of parseYamlDocuments(file) as K8sObject[]) {
    const matches = objects.filter(
      (o) =>
        o.kind === patch.kind &&
        o.apiVersion === patch.apiVersion &&
        o.metadata.name === patch.metadata?.name,
    );
    if (matches.length !== 1)
      throw new Error(
        `${file}: patch ${patch.kind}/${patch.metadata?.name} matches ${matches.length} objects`,
      );
    const i = objects.indexOf(matches[0]);
    objects[i] = strategicMerge(
      objects[i] as unknown as Json,
      patch as unknown as Json,
    ) as unknown as K8sObject;
  }
}

export interface RenderOptions {
  /** Component directories added to the top-level kustomization's `components`. */
  extraComponents?: string[];
}

/** Renders the kustomization in `dir`, like `kustomize build dir`, for the subset described above. */
export function render(dir: string, options: RenderOptions = {}, expectKind = 'Kustomization'): K8sObject[] {
  const k = readKustomization(dir);
  const kind = k.kind ?? 'Kustomization';
  if (kind !== expectKind) throw new Error(`${dir}: expected kind ${expectKind}, got ${kind}`);
  let objects: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const p = path.resolve(dir, r);
    if (!existsSync(p)) throw new Error(`${dir}: resource ${r} does not exist`);
    if (statSync(p).isDirectory()) objects.push(...render(p));
    else objects.push(...(parseYamlDocuments(p) as K8sObject[]));
  }
  for (const c of [
    ...(k.components ?? []).map((c) => path.resolve(dir, c)),
    ...(options.extraComponents ?? []),
  ]) {
    const ck = readKustomization(c);
    if (ck.kind !== 'Component') throw new Error(`${c}: components must have kind Component`);
    if (ck.namespace || ck.labels) throw new Error(`${c}: namespace/labels in a component are not supported`);
    objects.push(...render(c, {}, 'Component'));
    // render() of the component already applied its own patches to its own resources only;
    // kustomize applies them to everything accumulated so far.
    for (const p of ck.patches ?? []) applyPatchFile(objects, path.resolve(c, p.path));
  }
  if (expectKind === 'Component') return objects; // a component's patches are applied by its parent
  for (const p of k.patches ?? []) applyPatchFile(objects, path.resolve(dir, p.path));
  if (k.namespace) {
    objects = objects.map((o) => {
      if (CLUSTER_SCOPED.has(o.kind)) return o;
      const out = { ...o, metadata: { ...o.metadata, namespace: k.namespace } } as K8sObject;
      if (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') {
        const subjects = (o.subjects as { kind: string; namespace?: string }[] | undefined) ?? [];
        out.subjects = subjects.map((s) =>
          s.kind === 'ServiceAccount' ? { ...s, namespace: k.namespace } : s,
        );
      }
      return out;
    });
  }
  for (const l of k.labels ?? []) {
    objects = objects.map((o) => ({
      ...o,
      metadata: { ...o.metadata, labels: { ...o.metadata.labels, ...l.pairs } },
    }));
  }
  const seen = new Set<string>();
  for (const o of objects) {
    const id = objectId(o);
    if (seen.has(id)) throw new Error(`${dir}: duplicate object ${id}`);
    seen.add(id);
  }
  return objects;
}
