/**
 * Webhook secrets over real processes (api, scheduler): each workspace's webhooks carry a random
 * secret of its own (not the guessable `pk_<workspace>`), created once and stable across a
 * scheduler restart; the api shows it to the workspace's own key only, and `visionbatch webhooks
 * secret` prints it.
 */
import { runCli } from '@visionbatch/cli';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Stack } from '../e2e/stack.ts';
import { buildTar, jpeg, startReceiver } from '../staging/staging-support.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';

const KEYS = { e2e: 'e2e-key', other: 'other-key' } as const;
type Ws = keyof typeof KEYS;

describe('webhook secrets per workspace', () => {
  let stack: Stack;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    await flushRedisTestDb();
    receiver = await startReceiver();
    stack = await Stack.create({
      redisUrl: redisTestUrl(),
      dataDir: await useTempDir('vb-e2e-hook-secret-'),
      extraEnv: { VB_API_KEYS: `${KEYS.e2e}:e2e,${KEYS.other}:other`, VB_URL_ALLOWLIST: '127.0.0.1' },
    });
    await stack.start('api');
    await stack.start('scheduler');
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  });

  const route = (ws: string, key: string | null) =>
    fetch(`${stack.apiUrl}/visionbatch/v1/${ws}/webhook-secret${key ? `?api_key=${key}` : ''}`);

  async function secretOf(ws: Ws): Promise<string> {
    const res = await route(ws, KEYS[ws]);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { authorization: string };
    expect(body).toMatchObject({ workspace: ws, source: 'generated' });
    return body.authorization;
  }

  /** Stages a one-image tar shard whose notification_config.json names the receiver; returns its webhooks' Authorization. */
  async function webhookAuthorization(ws: Ws, ingestId: string): Promise<string | undefined> {
    const reg = await fetch(
      `${stack.apiUrl}/data-staging/v1/external/${ws}/batches/hooks-${ingestId}/bulk-upload/image-files?api_key=${KEYS[ws]}`,
      { method: 'POST' },
    );
    expect(reg.status).toBe(200);
    const { uploadURL, extensionHeaders } = ((await reg.json()) as any).signedURLDetails;
    const tarBytes = await buildTar([
      {
        name: 'notification_config.json',
        body: JSON.stringify({ ingestId, notificationsURL: receiver.url }),
      },
      { name: 'a.jpg', body: jpeg() },
    ]);
    expect(
      (await fetch(uploadURL, { method: 'PUT', body: tarBytes, headers: extensionHeaders })).status,
    ).toBe(200);
    await waitFor(() => receiver.bodies.filter((b) => b.ingest_id === ingestId).length === 2, {
      timeoutMs: 30_000,
      message: `webhooks of ${ingestId}`,
    });
    return receiver.requests.find((r) => r.body.ingest_id === ingestId)?.authorization;
  }

  it('differs between workspaces, is unguessable, is what the webhooks carry, and survives a scheduler restart', async () => {
    // the scheduler creates the secret on the first webhook; the api shows that same one afterwards
    const firstHook = await webhookAuthorization('e2e', 'e2e-1');
    const e2e = await secretOf('e2e');
    expect(firstHook).toBe(e2e);
    const other = await secretOf('other');
    for (const s of [e2e, other]) expect(s).toMatch(/^vbwh_[A-Za-z0-9_-]{43}$/);
    expect(other).not.toBe(e2e);
    expect(e2e).not.toBe('pk_e2e');
    expect(await webhookAuthorization('other', 'other-1')).toBe(other);
    // every webhook of the shard (files-status and ingest-status) carries it
    expect(receiver.requests.filter((r) => r.body.ingest_id === 'e2e-1').map((r) => r.authorization)).toEqual(
      [e2e, e2e],
    );

    await stack.kill('scheduler', 'SIGKILL');
    await stack.start('scheduler');
    expect(await webhookAuthorization('e2e', 'e2e-2')).toBe(e2e);
    expect(await secretOf('e2e')).toBe(e2e);
    expect(await secretOf('other')).toBe(other);
  }, 120_000);

  it("is shown only to the workspace's own key", async () => {
    expect((await route('other', KEYS.e2e)).status).toBe(403);
    expect((await route('e2e', KEYS.other)).status).toBe(403);
    expect((await route('e2e', null)).status).toBe(401);
    expect((await route('e2e', 'wrong-key')).status).toBe(401);
    const forbidden = await (await route('other', KEYS.e2e)).text();
    expect(forbidden).not.toContain('vbwh_');
  });

  it('`visionbatch webhooks secret` prints it', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out.push(String(s));
      return true;
    });
    try {
      const code = await runCli(['--api-url', stack.apiUrl, '--api-key', KEYS.other, 'webhooks', 'secret']);
      expect(code).toBe(0);
    } finally {
      vi.restoreAllMocks();
    }
    expect(out.join('')).toBe(`${await secretOf('other')}\n`);
  });
});
