import { describe, expect, it } from 'vitest';
import { planImageUpload } from './shard-plan.ts';

const names = (n: number) => Array.from({ length: n }, (_, i) => `img-${String(i).padStart(4, '0')}.jpg`);

describe('planImageUpload', () => {
  it('uploads 32 images or fewer one by one', () => {
    const plan = planImageUpload(names(32), new Set());
    expect(plan).toEqual({ mode: 'single', total: 32, skipped: 0, files: names(32) });
  });

  it('shards more than 32 images into tars of at most 256', () => {
    const plan = planImageUpload(names(600), new Set());
    if (plan.mode !== 'shards') throw new Error('expected shards');
    expect(plan.shards.map((s) => s.length)).toEqual([256, 256, 88]);
    expect(plan.shards.flat()).toEqual(names(600));
  });

  it('counts already uploaded images for the choice and leaves them out', () => {
    const all = names(40);
    const done = new Set(all.slice(0, 30));
    const plan = planImageUpload(all, done);
    expect(plan.mode).toBe('shards');
    if (plan.mode === 'shards') {
      expect(plan.shards).toEqual([all.slice(30)]);
      expect(plan.skipped).toBe(30);
    }
  });

  it('produces no shard when everything is uploaded', () => {
    const all = names(40);
    const plan = planImageUpload(all, new Set(all));
    expect(plan.mode === 'shards' && plan.shards.length).toBe(0);
  });
});
