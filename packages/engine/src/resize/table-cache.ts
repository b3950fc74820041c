/**
 * A small least-recently-used map for resize coefficient tables: a worker resizes the same few
 * (source size, model size) pairs over and over (a camera's frames, a dataset's photos), and a
 * table costs more to compute than to keep.
 */
export class TableCache<T> {
  private readonly entries = new Map<string, T>();

  constructor(private readonly capacity: number) {}

  get(key: string): T | undefined {
    const v = this.entries.get(key);
    if (v !== undefined) {
      // re-insert: Map iteration order is insertion order, so the first key is the coldest
      this.entries.delete(key);
      this.entries.set(key, v);
    }
    return v;
  }

  set(key: string, value: T): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) {
      const coldest = this.entries.keys().next().value as string;
      this.entries.delete(coldest);
    }
  }
}
