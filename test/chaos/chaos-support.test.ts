/**
 * The chaos run's own parts (`npm run chaos` itself does not run in CI): its seeded schedule, the
 * webhook receiver over real HTTP, and the accounting that decides whether a run passes.
 */
import { describe, expect, it } from 'vitest';
import { meteredVsLeased, tallyWebhooks, verdict } from '../../chaos/accounting.ts';
import { FaultInjector } from '../../chaos/fault-injector.ts';
import { chaosSchedule } from '../../chaos/schedule.ts';
import { type Delivery, WebhookReceiver } from '../../chaos/webhook-receiver.ts';
import { tallyImages, tallyVideos } from '../../loadtest/accounting.ts';

const TARGETS = [
  { name: 'redis', kind: 'redis' as const },
  { name: 'api', kind: 'api' as const },
  { name: 'scheduler-1', kind: 'scheduler' as const },
  { name: 'scheduler-2', kind: 'scheduler' as const },
  { name: 'worker-1', kind: 'worker' as const },
  { name: 'worker-2', kind: 'worker' as const },
];

const delivery = (eventId: string, jobId: string, jobState: string, status = 200, attempt = 1): Delivery => ({
  eventId,
  jobId,
  jobState,
  status,
  attempt,
});

describe('chaos schedule', () => {
  const opts = { seed: 42, durationMs: 120_000, meanIntervalMs: 5000, targets: TARGETS };

  it('is the same for the same seed and differs for another', () => {
    expect(chaosSchedule(opts)).toEqual(chaosSchedule(opts));
    expect(chaosSchedule({ ...opts, seed: 43 })).not.toEqual(chaosSchedule(opts));
  });

  it('spaces faults around the mean inside the duration, over every kind, Redis by SIGKILL or SHUTDOWN', () => {
    const events = chaosSchedule({ ...opts, durationMs: 600_000 });
    expect(events.length).toBeGreaterThan(600 / 5 / 2);
    expect(events.length).toBeLessThan((600 / 5) * 2);
    for (const [i, e] of events.entries()) {
      expect(e.atMs).toBeLessThan(600_000);
      if (i > 0) expect(e.atMs - events[i - 1].atMs).toBeGreaterThanOrEqual(0.25 * 5000 - 1);
      expect(TARGETS.find((t) => t.name === e.target)?.kind).toBe(e.kind);
      expect(e.downMs).toBeGreaterThan(0);
      if (e.kind !== 'redis') expect(e.action).toBe('sigkill');
    }
    expect(new Set(events.map((e) => e.kind))).toEqual(new Set(['redis', 'api', 'scheduler', 'worker']));
    expect(new Set(events.filter((e) => e.kind === 'redis').map((e) => e.action))).toEqual(
      new Set(['sigkill', 'shutdown']),
    );
  });

  it('leaves out kinds weighted 0', () => {
    const events = chaosSchedule({ ...opts, weights: { redis: 0, api: 0 } });
    expect(events.every((e) => e.kind === 'worker' || e.kind === 'scheduler')).toBe(true);
  });
});

describe('fault injector', () => {
  it('stops each target unless it is already down, starts it again after its down time, counts kills by kind', async () => {
    const up = new Set(['worker-1', 'redis']);
    const log: string[] = [];
    const stack = {
      isUp: (name: string) => up.has(name),
      stop: async (name: string, action: string) => {
        up.delete(name);
        log.push(`stop ${name} ${action}`);
      },
      start: async (name: string) => {
        up.add(name);
        log.push(`start ${name}`);
      },
    };
    const injector = new FaultInjector(stack, () => {});
    await injector.play(
      [
        { atMs: 0, target: 'worker-1', kind: 'worker', action: 'sigkill', downMs: 500 },
        { atMs: 5, target: 'worker-1', kind: 'worker', action: 'sigkill', downMs: 30 }, // down: skipped
        { atMs: 10, target: 'redis', kind: 'redis', action: 'shutdown', downMs: 10 },
        { atMs: 800, target: 'worker-1', kind: 'worker', action: 'sigkill', downMs: 10 },
      ],
      performance.now(),
    );
    const of = (name: string) => log.filter((l) => l.includes(name));
    expect(of('worker-1')).toEqual([
      'stop worker-1 sigkill',
      'start worker-1',
      'stop worker-1 sigkill',
      'start worker-1',
    ]);
    expect(of('redis')).toEqual(['stop redis shutdown', 'start redis']);
    expect(injector.kills).toEqual({ worker: 2, scheduler: 0, api: 0, redis: 1 });
    expect(injector.redisStops).toEqual({ sigkill: 0, shutdown: 1 });
    expect(injector.skipped).toBe(1);
    expect(up).toEqual(new Set(['worker-1', 'redis']));
  });
});

describe('chaos accounting', () => {
  it('counts each input file once across result rows and failure logs; twice is a duplicate, never is missing', () => {
    const files = ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'];
    expect(tallyImages(files, ['a.jpg', 'b.jpg'], ['c.jpg'])).toEqual({
      accounted: 3,
      duplicates: 0,
      missing: ['d.jpg'],
    });
    // in the results twice, or in the results and the failures: not accounted, one duplicate each
    expect(tallyImages(files, ['a.jpg', 'a.jpg', 'b.jpg', 'c.jpg'], ['b.jpg', 'd.jpg'])).toEqual({
      accounted: 2,
      duplicates: 2,
      missing: [],
    });
  });

  it('counts a video when every sampled frame is in the results once, or when it failed without duplicates', () => {
    // 12 source frames at 30 fps sampled at 5 fps: frames 1 and 7 (1-based)
    const frames = new Map([
      ['v1.mp4', 12],
      ['v2.mp4', 12],
    ]);
    const row = (video: string, frame_number: number) => ({ video, frame_number });
    expect(tallyVideos(frames, 5, [row('v1.mp4', 1), row('v1.mp4', 7)], new Set(['v2.mp4']))).toEqual({
      accounted: 2,
      duplicates: 0,
      missing: [],
      expectedFrames: 4,
    });
    expect(
      tallyVideos(frames, 5, [row('v1.mp4', 1), row('v1.mp4', 1), row('v1.mp4', 7)], new Set()),
    ).toMatchObject({ accounted: 0, duplicates: 1, missing: ['v1.mp4', 'v2.mp4'] });
  });

  it('expects one acknowledged webhook per terminal job, of its state; retries after a 503 are not duplicates', () => {
    const terminal = new Map([
      ['j1', 'succeeded'],
      ['j2', 'failed'],
      ['j3', 'aborted'],
    ]);
    const t = tallyWebhooks(
      [
        delivery('e1', 'j1', 'success', 503, 1),
        delivery('e1', 'j1', 'success', 200, 2),
        delivery('e2', 'j2', 'fail'),
        delivery('e3', 'j3', 'fail'),
      ],
      terminal,
    );
    expect(t).toEqual({
      expected: 3,
      delivered: 3,
      duplicates: 0,
      missing: [],
      unexpected: [],
      rejectedAttempts: 1,
    });
  });

  it('counts a second event id for one job end, and a redelivery after a 2xx, as duplicates', () => {
    const terminal = new Map([
      ['j1', 'succeeded'],
      ['j2', 'succeeded'],
    ]);
    const t = tallyWebhooks(
      [
        delivery('e1', 'j1', 'success'),
        delivery('e1', 'j1', 'success', 200, 2), // acknowledged twice
        delivery('e2', 'j2', 'success'),
        delivery('e3', 'j2', 'success'), // the same end under another event id
      ],
      terminal,
    );
    expect(t).toMatchObject({ expected: 2, delivered: 3, duplicates: 2, missing: [] });
  });

  it('reports a terminal job without its webhook as missing, and one of the wrong state or job as unexpected', () => {
    const t = tallyWebhooks(
      [delivery('e1', 'j1', 'fail'), delivery('e9', 'ghost', 'success')],
      new Map([
        ['j1', 'succeeded'],
        ['j2', 'aborted'],
      ]),
    );
    expect(t.missing).toEqual(['j1', 'j2']);
    expect(t.unexpected.sort()).toEqual(['ghost#success', 'j1#fail']);
  });

  it('compares metered seconds with the lease time seen: a live lease until last seen, a dead one until its last heartbeat', () => {
    const leases = [
      // released: still heartbeating 400 ms before it was last seen
      { leaseId: 'l1', jobId: 'j', startedAt: 1000, lastHeartbeat: 10_600, lastSeenAt: 11_000 },
      // its machine died: no heartbeat for 4 s before the lease went (expired or reclaimed)
      { leaseId: 'l2', jobId: 'j', startedAt: 5000, lastHeartbeat: 15_000, lastSeenAt: 19_000 },
    ];
    expect(meteredVsLeased(21, leases, 1000)).toEqual({ leasedSeconds: 20, leases: 2, ratio: 1.05 });
    expect(meteredVsLeased(0, [], 1000)).toEqual({ leasedSeconds: 0, leases: 0, ratio: null });
  });

  it('passes only with every job terminal, every file once, the webhooks exact, no running task, no queue left', () => {
    const good = {
      jobs: 3,
      terminalJobs: 3,
      filesIn: 100,
      filesAccounted: 100,
      duplicates: 0,
      webhooks: { expected: 3, delivered: 3, duplicates: 0 },
      runningTasksOnTerminalJobs: 0,
      leakedQueueKeys: 0,
    };
    expect(verdict(good)).toEqual([]);
    expect(verdict({ ...good, terminalJobs: 2 })).toEqual(['1 of 3 jobs not terminal']);
    expect(verdict({ ...good, filesAccounted: 99, duplicates: 1 })).toHaveLength(2);
    expect(verdict({ ...good, webhooks: { expected: 3, delivered: 4, duplicates: 1 } })).toHaveLength(2);
    expect(verdict({ ...good, runningTasksOnTerminalJobs: 1 })).toEqual([
      '1 tasks still running on terminal jobs',
    ]);
    expect(verdict({ ...good, leakedQueueKeys: 2 })).toHaveLength(1);
  });
});

describe('webhook receiver', () => {
  it('records every delivery with the status it answered, refusing the first attempt of every third event', async () => {
    const receiver = new WebhookReceiver(3);
    const url = await receiver.start();
    const post = (event_id: string, delivery_attempt: number) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ event_id, job_id: `job-${event_id}`, job_state: 'success', delivery_attempt }),
      }).then((r) => r.status);
    try {
      expect([await post('e1', 1), await post('e2', 1), await post('e3', 1), await post('e3', 2)]).toEqual([
        200, 200, 503, 200,
      ]);
      expect(receiver.deliveries.at(-1)).toEqual({
        eventId: 'e3',
        jobId: 'job-e3',
        jobState: 'success',
        attempt: 2,
        status: 200,
      });
      expect(receiver.deliveries).toHaveLength(4);
    } finally {
      await receiver.close();
    }
  });
});
