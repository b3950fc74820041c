/** The SSRF guard of reference ingests (spec §2.11): address ranges, schemes, allowlist, pinning, redirects. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkUrl,
  DownloadError,
  guardedFetch,
  isBlockedAddress,
  UnsafeUrlError,
  UrlAllowlist,
} from '../../services/scheduler/src/ssrf-guard.ts';

const none = new UrlAllowlist([]);

describe('SSRF guard', () => {
  it('refuses loopback, private, link-local, metadata, unspecified, CGNAT, multicast (v4 and v6, v4 inside v6)', () => {
    for (const ip of [
      '127.0.0.1',
      '127.8.9.10',
      '10.0.0.1',
      '10.255.255.255',
      '172.16.0.1',
      '172.31.255.254',
      '192.168.1.1',
      '169.254.169.254',
      '169.254.0.1',
      '0.0.0.0',
      '100.64.0.1',
      '224.0.0.1',
      '255.255.255.255',
      '198.18.0.1',
      '::',
      '::1',
      'fe80::1',
      'fc00::1',
      'fd00:ec2::254',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:10.0.0.1',
      '::ffff:169.254.169.254',
      '64:ff9b::a9fe:a9fe',
      '2002:a9fe:a9fe::1',
    ]) {
      expect(isBlockedAddress(ip), ip).toBe(true);
    }
    for (const ip of [
      '8.8.8.8',
      '1.1.1.1',
      '172.32.0.1',
      '192.169.0.1',
      '2606:4700:4700::1111',
      '::ffff:8.8.8.8',
    ]) {
      expect(isBlockedAddress(ip), ip).toBe(false);
    }
  });

  it('refuses non-http(s) schemes and credentials, whatever the allowlist', async () => {
    const all = new UrlAllowlist(['0.0.0.0/0', '::/0', 'localhost']);
    for (const u of [
      'file:///etc/passwd',
      'ftp://example.com/a.jpg',
      'gopher://127.0.0.1:6379/_PING',
      'data:image/png;base64,AAAA',
      'http://user:pw@example.com/a.jpg',
      'not a url',
    ]) {
      await expect(checkUrl(u, all), u).rejects.toBeInstanceOf(UnsafeUrlError);
    }
  });

  it('refuses literal private addresses and names resolving to them (any of the answers)', async () => {
    for (const u of [
      'http://127.0.0.1/a.jpg',
      'http://10.1.2.3/a.jpg',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]/a',
      'http://[::ffff:127.0.0.1]/a',
      'http://0.0.0.0/',
      'http://2130706433/',
    ]) {
      await expect(checkUrl(u, none), u).rejects.toBeInstanceOf(UnsafeUrlError);
    }
    const resolve = async (h: string) =>
      h === 'rebind.test'
        ? [
            { address: '93.184.216.34', family: 4 },
            { address: '10.0.0.7', family: 4 },
          ]
        : [{ address: '93.184.216.34', family: 4 }];
    await expect(checkUrl('https://rebind.test/a.jpg', none, resolve)).rejects.toThrow(/10\.0\.0\.7/);
    await expect(checkUrl('https://public.test/a.jpg', none, resolve)).resolves.toMatchObject({
      address: '93.184.216.34',
      family: 4,
    });
  });

  it('the operator allowlist admits CIDRs, single IPs, host names and host suffixes', async () => {
    const allow = new UrlAllowlist(['127.0.0.1', '10.20.0.0/16', 'minio.internal', '*.corp.test']);
    const resolve = async () => [{ address: '10.99.0.1', family: 4 }];
    await expect(checkUrl('http://127.0.0.1:9000/a', allow)).resolves.toBeTruthy();
    await expect(checkUrl('http://10.20.3.4/a', allow)).resolves.toBeTruthy();
    await expect(checkUrl('http://10.21.3.4/a', allow)).rejects.toBeInstanceOf(UnsafeUrlError);
    await expect(checkUrl('http://127.0.0.2/a', allow)).rejects.toBeInstanceOf(UnsafeUrlError);
    await expect(checkUrl('http://169.254.169.254/a', allow)).rejects.toBeInstanceOf(UnsafeUrlError);
    await expect(checkUrl('http://minio.internal/a', allow, resolve)).resolves.toMatchObject({
      address: '10.99.0.1',
    });
    await expect(checkUrl('http://s3.corp.test/a', allow, resolve)).resolves.toBeTruthy();
    await expect(checkUrl('http://corp.test.evil/a', allow, resolve)).rejects.toBeInstanceOf(UnsafeUrlError);
  });

  describe('downloads', () => {
    let server: http.Server;
    let port: number;
    let hits = 0;
    beforeAll(async () => {
      server = http.createServer((req, res) => {
        hits++;
        if (req.url === '/ok') return res.writeHead(200).end('hello');
        if (req.url === '/to-private')
          return res.writeHead(302, { location: 'http://10.0.0.9/secret' }).end();
        if (req.url === '/to-metadata')
          return res.writeHead(301, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
        if (req.url === '/to-ok') return res.writeHead(307, { location: '/ok' }).end();
        if (req.url === '/loop') return res.writeHead(302, { location: '/loop' }).end();
        if (req.url === '/big') return res.writeHead(200).end(Buffer.alloc(5000));
        res.writeHead(404).end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));
    const allow = new UrlAllowlist(['127.0.0.1']);

    it('connects to the checked address: a name only our resolver knows reaches the pinned 127.0.0.1', async () => {
      let lookups = 0;
      const resolve = async () => {
        lookups++;
        return [{ address: '127.0.0.1', family: 4 }];
      };
      const body = await guardedFetch(`http://images.invalid:${port}/ok`, { allow, maxBytes: 100, resolve });
      expect(body.toString()).toBe('hello');
      expect(lookups).toBe(1); // resolved once; the connection used that answer
    });

    it('a loopback URL is refused unless allowlisted', async () => {
      await expect(
        guardedFetch(`http://127.0.0.1:${port}/ok`, { allow: none, maxBytes: 100 }),
      ).rejects.toBeInstanceOf(UnsafeUrlError);
      await expect(
        guardedFetch(`http://localhost:${port}/ok`, { allow: none, maxBytes: 100 }),
      ).rejects.toBeInstanceOf(UnsafeUrlError);
      expect((await guardedFetch(`http://127.0.0.1:${port}/ok`, { allow, maxBytes: 100 })).toString()).toBe(
        'hello',
      );
    });

    it('re-checks every redirect target', async () => {
      const before = hits;
      await expect(
        guardedFetch(`http://127.0.0.1:${port}/to-private`, { allow, maxBytes: 100 }),
      ).rejects.toThrow(/10\.0\.0\.9/);
      await expect(
        guardedFetch(`http://127.0.0.1:${port}/to-metadata`, { allow, maxBytes: 100 }),
      ).rejects.toBeInstanceOf(UnsafeUrlError);
      expect(hits - before).toBe(2); // the private targets were never contacted (only our server was)
      expect(
        (await guardedFetch(`http://127.0.0.1:${port}/to-ok`, { allow, maxBytes: 100 })).toString(),
      ).toBe('hello');
      await expect(guardedFetch(`http://127.0.0.1:${port}/loop`, { allow, maxBytes: 100 })).rejects.toThrow(
        /redirects/,
      );
    });

    it('enforces the size limit and reports statuses', async () => {
      await expect(
        guardedFetch(`http://127.0.0.1:${port}/big`, { allow, maxBytes: 4999 }),
      ).rejects.toMatchObject({ tooLarge: true });
      expect((await guardedFetch(`http://127.0.0.1:${port}/big`, { allow, maxBytes: 5000 })).length).toBe(
        5000,
      );
      const err = await guardedFetch(`http://127.0.0.1:${port}/missing`, { allow, maxBytes: 100 }).catch(
        (e) => e,
      );
      expect(err).toBeInstanceOf(DownloadError);
      expect(err.retryable).toBe(false);
    });
  });
});
