/**
 * What stateful blocks (trackers) keep between frames (spec/workflows.md §2.14): one value per
 * step and video identifier, created on first sight, so each video gets its own tracker.
 *
 * A video task creates one store and hands it to every frame's run, in frame order. An image run
 * that is given none gets a fresh store, so nothing carries over from one still image to the next
 * (a still image's synthetic video identifier is its parent id, `"image"`, which would collide).
 */
export class StateStore {
  private readonly entries = new Map<string, unknown>();

  /** The state of `step` for `videoIdentifier`, made by `create` the first time. */
  get<T>(step: string, videoIdentifier: string, create: () => T): T {
    const key = `${step}\u0000${videoIdentifier}`;
    if (!this.entries.has(key)) this.entries.set(key, create());
    return this.entries.get(key) as T;
  }

  /** How many step × video states are held. */
  get size(): number {
    return this.entries.size;
  }
}
