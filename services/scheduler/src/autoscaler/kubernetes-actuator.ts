import { readFileSync } from 'node:fs';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Scale,
} from '@kubernetes/client-node';
import { withDeadline } from '@visionbatch/shared/deadline';
import { ActuatorError } from '@visionbatch/shared/errors';
import type { Logger } from '@visionbatch/shared/logger';
import type { Actuator, Pool, ScaleRequest } from './actuator.ts';

/**
 * ReplicaSets remove pods with the lowest cost first (beta, on by default since Kubernetes 1.22,
 * https://kubernetes.io/docs/reference/labels-annotations-taints/#pod-deletion-cost).
 */
export const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';
/** Cost of a pod whose machine holds no lease: removed first. */
export const IDLE_COST = '-100';
/** Cost of a pod whose machine holds a lease: removed last (never, while the policy keeps busy machines). */
export const BUSY_COST = '100';
/** Re-reads after a 409 Conflict before giving up until the next round. */
const CONFLICT_RETRIES = 3;
/** Total deadline of one call to the Kubernetes API. */
const K8S_CALL_DEADLINE_MS = 10_000;

/** The cluster, namespace and Deployments the kubernetes actuator scales. */
export interface KubernetesActuatorOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** pool → Deployment; a pool without one is never actuated */
  deployments: { cpu: string | null; gpu: string | null };
  logger: Logger;
  /** total deadline of one API call (default 10 s) */
  callDeadlineMs?: number;
}

/**
 * Sizes each pool through the scale subresource of its Deployment
 * (`/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale`), the same API `kubectl scale` and
 * the HPA use, so the scheduler needs no rights on the Deployment itself.
 *
 * Drain first: before a scale-down, every pod of the Deployment gets a pod-deletion-cost from the
 * scheduler's lease view (idle machines low, busy machines high), so the ReplicaSet removes idle
 * machines. The policy never asks for fewer replicas than busy machines, so a busy pod is never
 * chosen while the ranking holds; and if a machine leases a job between the annotation and its
 * removal, SIGTERM makes it drain (finish its running tasks, release its lease) within the pod's
 * long termination grace period (deploy/k8s).
 *
 * The replica change is a JSON merge patch carrying the `resourceVersion` that was read, so it
 * applies only to the state it was computed from; on 409 Conflict the scale is read again and the
 * patch retried. 403 Forbidden (missing RBAC) and 404 become an {@link ActuatorError}.
 */
export class KubernetesActuator implements Actuator {
  readonly kind = 'kubernetes';
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;

  constructor(private readonly o: KubernetesActuatorOptions) {
    this.apps = o.kubeConfig.makeApiClient(AppsV1Api);
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
  }

  /** In-cluster service account when there is one, else `$KUBECONFIG` / `~/.kube/config`. */
  static defaultKubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    return kc;
  }

  /** The namespace of the service account the scheduler runs as, else `default`. */
  static defaultNamespace(): string {
    try {
      return (
        readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim() || 'default'
      );
    } catch {
      return 'default';
    }
  }

  async size(pool: Pool): Promise<number | null> {
    const name = this.o.deployments[pool];
    if (!name) return null;
    const scale = await this.read(pool, name);
    return scale.spec?.replicas ?? 0;
  }

  async scaleTo(pool: Pool, req: ScaleRequest): Promise<void> {
    const name = this.o.deployments[pool];
    if (!name) return;
    // Belt and braces: the policy already keeps every busy machine.
    const desired = Math.max(req.desired, req.busyMachines.length);
    for (let attempt = 0; ; attempt++) {
      const scale = await this.read(pool, name);
      const replicas = scale.spec?.replicas ?? 0;
      if (replicas === desired) return;
      if (desired < replicas && attempt === 0) await this.rankPods(pool, scale, req);
      try {
        await this.deadline('patch deployments/scale', () =>
          this.apps.patchNamespacedDeploymentScale(
            {
              name,
              namespace: this.o.namespace,
              body: {
                metadata: { resourceVersion: scale.metadata?.resourceVersion },
                spec: { replicas: desired },
              },
              fieldManager: 'visionbatch-scheduler',
            },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          ),
        );
        this.o.logger.info(
          { pool, deployment: name, namespace: this.o.namespace, from: replicas, to: desired },
          'pool scaled',
        );
        return;
      } catch (err) {
        if (err instanceof ApiException && err.code === 409 && attempt < CONFLICT_RETRIES) {
          this.o.logger.info(
            { pool, deployment: name, attempt: attempt + 1 },
            'scale conflict (stale resourceVersion): re-reading',
          );
          continue;
        }
        throw this.translate(err, pool, name, 'patch deployments/scale');
      }
    }
  }

  async close(): Promise<void> {}

  private async read(pool: Pool, name: string): Promise<V1Scale> {
    try {
      return await this.deadline('get deployments/scale', () =>
        this.apps.readNamespacedDeploymentScale({ name, namespace: this.o.namespace }),
      );
    } catch (err) {
      throw this.translate(err, pool, name, 'get deployments/scale');
    }
  }

  /** Sets pod-deletion-cost on the Deployment's pods: idle machines low, busy high, unknown (starting) 0. */
  private async rankPods(pool: Pool, scale: V1Scale, req: ScaleRequest): Promise<void> {
    const selector = scale.status?.selector;
    if (!selector) return;
    const idle = new Set(req.idleMachines);
    const busy = new Set(req.busyMachines);
    let pods: Awaited<ReturnType<CoreV1Api['listNamespacedPod']>>;
    try {
      pods = await this.deadline('list pods', () =>
        this.core.listNamespacedPod({ namespace: this.o.namespace, labelSelector: selector }),
      );
    } catch (err) {
      throw this.translate(err, pool, selector, 'list pods');
    }
    for (const pod of pods.items) {
      const podName = pod.metadata?.name;
      if (!podName || pod.metadata?.deletionTimestamp) continue;
      // The worker's machine id is its pod name (VB_WORKER_ID from metadata.name).
      const cost = busy.has(podName) ? BUSY_COST : idle.has(podName) ? IDLE_COST : '0';
      if ((pod.metadata?.annotations?.[POD_DELETION_COST] ?? '0') === cost) continue;
      try {
        await this.deadline('patch pods', () =>
          this.core.patchNamespacedPod(
            {
              name: podName,
              namespace: this.o.namespace,
              body: { metadata: { annotations: { [POD_DELETION_COST]: cost } } },
              fieldManager: 'visionbatch-scheduler',
            },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          ),
        );
      } catch (err) {
        // A pod that went away meanwhile needs no cost.
        if (err instanceof ApiException && err.code === 404) continue;
        throw this.translate(err, pool, podName, 'patch pods');
      }
    }
  }

  /** One Kubernetes API call under a total deadline: an API server that stops answering fails the round. */
  private deadline<T>(verb: string, call: () => Promise<T>): Promise<T> {
    return withDeadline(`kubernetes ${verb}`, this.o.callDeadlineMs ?? K8S_CALL_DEADLINE_MS, () => call());
  }

  private translate(err: unknown, pool: Pool, name: string, verb: string): ActuatorError {
    if (err instanceof ActuatorError) return err;
    if (err instanceof ApiException) {
      const status = parseStatus(err.body);
      const details = {
        namespace: this.o.namespace,
        name,
        verb,
        code: err.code,
        reason: status?.reason,
        message: status?.message,
      };
      if (err.code === 403)
        return new ActuatorError(
          'forbidden',
          pool,
          `the scheduler may not ${verb} ${name} in namespace ${this.o.namespace}: ${status?.message ?? 'forbidden'} (check the scheduler's Role)`,
          details,
        );
      if (err.code === 404)
        return new ActuatorError(
          'not-found',
          pool,
          `${verb} ${name}: not found in namespace ${this.o.namespace}`,
          details,
        );
      if (err.code === 409)
        return new ActuatorError(
          'conflict',
          pool,
          `${verb} ${name}: still conflicting after re-reads`,
          details,
        );
      return new ActuatorError(
        'unavailable',
        pool,
        `${verb} ${name}: HTTP ${err.code} ${status?.message ?? ''}`.trim(),
        details,
      );
    }
    return new ActuatorError('unavailable', pool, `${verb} ${name}: ${(err as Error).message}`, {
      namespace: this.o.namespace,
      name,
      verb,
    });
  }
}

/** The `Status` object of a failed Kubernetes API call (the client hands its body over as text). */
function parseStatus(body: unknown): { reason?: string; message?: string } | null {
  try {
    const s = typeof body === 'string' ? JSON.parse(body) : body;
    return s && typeof s === 'object' ? (s as { reason?: string; message?: string }) : null;
  } catch {
    return null;
  }
}
