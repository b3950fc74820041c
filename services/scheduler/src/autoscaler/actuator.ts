/**
 * The seam between the autoscaler's decision and the machines: one small interface with three
 * implementations, `static` (nothing happens; the desired size is only exported), `local` (child
 * worker processes on this machine) and `kubernetes` (the scale subresource of the pool's
 * Deployment).
 */

export type Pool = 'cpu' | 'gpu';

/** What the autoscaler hands an actuator with a new size. */
export interface ScaleRequest {
  /** the size the pool should have */
  desired: number;
  /**
   * Live machines that hold no lease now, from the scheduler's view. A scale-down removes only
   * these (and machines that never registered); every other machine is busy and stays.
   */
  idleMachines: readonly string[];
  /** Live machines that hold a lease now: never removed. */
  busyMachines: readonly string[];
}

/** Sets the size of worker pools. */
export interface Actuator {
  /** `static`, `local` or `kubernetes` (logs and metrics). */
  readonly kind: string;
  /**
   * Machines the pool has now as this actuator sees it (child processes, Deployment replicas);
   * `null` when the actuator cannot tell, and the autoscaler then counts live machines instead.
   */
  size(pool: Pool): Promise<number | null>;
  /** Moves the pool towards `desired`; may do less (e.g. when too few machines are idle). */
  scaleTo(pool: Pool, req: ScaleRequest): Promise<void>;
  /** Stops whatever the actuator runs itself (the local actuator's children). */
  close(): Promise<void>;
}

/** An actuator that does nothing: pools are sized elsewhere (a fixed stack, HPA/KEDA on the gauge). */
export class StaticActuator implements Actuator {
  readonly kind = 'static';

  async size(): Promise<number | null> {
    return null;
  }

  async scaleTo(): Promise<void> {}

  async close(): Promise<void> {}
}
