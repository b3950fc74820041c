/**
 * The small subset of kustomize that deploy/k8s uses, so the manifests can be rendered offline in a
 * test without the kustomize or kubectl binaries.
 *
 * Supported: `resources` (files and directories holding a kustomization), `components`
 * (kind Component: resources and patches), `patches` with `path` (strategic merge, matched by
 * kind + name; `$patch: delete` removes the object), `namespace`, `labels` (pairs added to
 * metadata.labels; includeSelectors and includeTemplates false only) and `images` (name, newName,
 * newTag, digest). Any other field of a kustomization is an error rather than silently ignored, so a
 * manifest change that needs more of kustomize fails here first.
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
  images?: ImageOverride[];
}

/** An `images:` entry of a kustomization. */
export interface ImageOverride {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

const KNOWN_FIELDS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'components',
  'patches',
  'labels',
  'images',
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
    // As kustomize orders them: the patch's items first (merged into the target's item of the same
    // key), then the target's items the patch does not name.
    const keyOf = (item: unknown) => (isObject(item) ? item[key] : undefined);
    const merged = patch.map((item) => {
      const t = target.find((x) => keyOf(x) !== undefined && keyOf(x) === keyOf(item));
      return t === undefined ? item : strategicMerge(t, item, field);
    });
    const named = new Set(patch.map(keyOf));
    return [...merged, ...target.filter((t) => !named.has(keyOf(t)))];
  }
  return patch;
}

function applyPatchFile(objects: K8sObject[], file: string): void {
  for (const patch of parseYamlDocuments(file) as (K8sObject & { $patch?: string })[]) {
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
    if (patch.$patch === 'delete') {
      objects.splice(i, 1);
      continue;
    }
    objects[i] = strategicMerge(
      objects[i] as unknown as Json,
      patch as unknown as Json,
    ) as unknown as K8sObject;
  }
}

/** Splits `registry/name:tag@digest` into name, tag and digest. */
function splitImage(image: string): { name: string; tag?: string; digest?: string } {
  const [ref, digest] = image.split('@');
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash
    ? { name: ref.slice(0, colon), tag: ref.slice(colon + 1), digest }
    : { name: ref, digest };
}

/** The `images:` transformer: containers whose image name equals an entry's name get its name, tag or digest. */
export function overrideImages(objects: K8sObject[], overrides: readonly ImageOverride[]): K8sObject[] {
  const rewrite = (image: string): string => {
    const { name, tag, digest } = splitImage(image);
    const o = overrides.find((x) => x.name === name);
    if (!o) return image;
    const newName = o.newName ?? name;
    if (o.digest) return `${newName}@${o.digest}`;
    if (o.newTag) return `${newName}:${o.newTag}`;
    return `${newName}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  };
  const walk = (v: unknown, key = ''): unknown => {
    if (Array.isArray(v))
      return v.map((item) =>
        (key === 'containers' || key === 'initContainers') && isObject(item) && typeof item.image === 'string'
          ? { ...item, image: rewrite(item.image) }
          : walk(item),
      );
    if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return objects.map((o) => walk(o) as K8sObject);
}

export interface RenderOptions {
  /** Component directories (absolute) in place of the top-level kustomization's `components`. */
  components?: string[];
  /** `images:` entries added to the top-level kustomization's. */
  images?: ImageOverride[];
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
  for (const c of options.components ?? (k.components ?? []).map((c) => path.resolve(dir, c))) {
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
  const images = [...(k.images ?? []), ...(options.images ?? [])];
  if (images.length > 0) objects = overrideImages(objects, images);
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
