// Reads ffmpeg's raw frames in a thread of its own, so the decoder keeps running while the thread
// that consumes the frames is blocked inside onnxruntime's run(). (Read from that thread, ffmpeg
// could only get one pipe buffer ahead, and a 1080p RGB frame then took ~100 hand-offs between two
// busy cores.) Plain JS: it needs nothing but child_process.
//
// workerData: { ffmpegPath, args, frameBytes, ahead }. Posts { type: 'frame', data: ArrayBuffer }
// (transferred) at most `ahead` frames beyond the consumer's { type: 'credit' } messages, then
// { type: 'end', code, stderr }. { type: 'stop' } kills ffmpeg.
import { spawn } from 'node:child_process';
import { parentPort, workerData } from 'node:worker_threads';

const { ffmpegPath, args, frameBytes, ahead } = workerData;
const child = spawn(ffmpegPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
let stderr = '';
child.stderr.on('data', (d) => {
  if (stderr.length < 4000) stderr += d.toString();
});
let frame = new Uint8Array(frameBytes);
let filled = 0;
let inFlight = 0;
child.stdout.on('data', (chunk) => {
  let off = 0;
  while (off < chunk.length) {
    const n = Math.min(frameBytes - filled, chunk.length - off);
    frame.set(chunk.subarray(off, off + n), filled);
    filled += n;
    off += n;
    if (filled === frameBytes) {
      parentPort.postMessage({ type: 'frame', data: frame.buffer }, [frame.buffer]);
      frame = new Uint8Array(frameBytes);
      filled = 0;
      if (++inFlight >= ahead) child.stdout.pause();
    }
  }
});
parentPort.on('message', (m) => {
  if (m.type === 'credit') {
    inFlight--;
    if (inFlight < ahead) child.stdout.resume();
  } else if (m.type === 'stop') {
    child.kill('SIGKILL');
    // a paused stdout would never see its end (and 'close' never come)
    child.stdout.destroy();
  }
});
let ended = false;
const end = (code) => {
  if (ended) return;
  ended = true;
  parentPort.postMessage({ type: 'end', code, stderr });
  parentPort.close();
};
child.once('error', (err) => {
  stderr += String(err.message);
  // a failed spawn may never emit 'close'
  if (child.pid === undefined) end(-1);
});
child.once('close', (code) => end(code ?? -1));
