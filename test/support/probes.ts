/** Readiness probes for the test servers. Each resolves `false` instead of throwing while not ready. */
import net from 'node:net';

/** Sends `AUTH <password>` and `PING` over a raw socket and expects `+OK`, `+PONG`; no client library needed. */
export function redisPing(host: string, port: number, password: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = net.connect(port, host);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write(`AUTH ${password}\r\nPING\r\n`));
    socket.on('data', (data) => {
      reply += data.toString('latin1');
      // `-LOADING` while an AOF is replayed: not ready yet.
      if (reply.split('\r\n').length > 2) done(reply.startsWith('+OK\r\n+PONG\r\n'));
    });
  });
}

/** True once anything answers HTTP at `url` (an S3 server answers 403 to an anonymous `GET /`). */
export async function httpAnswers(url: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status > 0;
  } catch {
    return false;
  }
}
