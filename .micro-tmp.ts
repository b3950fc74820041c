import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeImage, toRgb } from '@visionbatch/engine/image-decode';
import { planGeometry, preprocess, writeChw } from '@visionbatch/engine/preprocess';
import { generateJpegCorpus } from '@visionbatch/models';
import sharp from 'sharp';
sharp.cache(false);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vb-micro-'));
const corpus = await generateJpegCorpus({ dir, count: 24, seed: 7, width: 1920, height: 1080, quality: 90 });
const files = corpus.files.map((f) => fs.readFileSync(path.join(corpus.dir, f)));
const spec = { width: 640, height: 640, mode: 'letterbox' as const, paddingValue: 114 };
const tensor = new Float32Array(3 * 640 * 640);
async function before(bytes: Buffer) {
  const img = await decodeImage(bytes);
  const g = planGeometry(img.width, img.height, spec);
  const p = sharp(bytes).rotate().resize(g.resizeWidth, g.resizeHeight, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true });
  const { data } = await toRgb(p).toBuffer({ resolveWithObject: true });
  writeChw(tensor, 0, 640, 640, data, g.resizeWidth, g.resizeHeight, g.offsetX, g.offsetY, 114);
}
async function after(bytes: Buffer) { await preprocess(await decodeImage(bytes), spec); }
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
for (const f of files.slice(0, 4)) { await before(f); await after(f); }
const rounds: Array<[number, number, number, number]> = [];
for (let r = 0; r < Number(process.env.ROUNDS ?? 5); r++) {
  let bw = 0, bc = 0, aw = 0, ac = 0;
  for (const f of files) {
    let t = performance.now(), c = cpu(); await before(f); bw += performance.now() - t; bc += cpu() - c;
    t = performance.now(); c = cpu(); await after(f); aw += performance.now() - t; ac += cpu() - c;
  }
  const n = files.length;
  rounds.push([bw / n, bc / n, aw / n, ac / n]);
  console.log(`round ${r}: before wall ${(bw / n).toFixed(1)} cpu ${(bc / n).toFixed(1)} | after wall ${(aw / n).toFixed(1)} cpu ${(ac / n).toFixed(1)} ms/image`);
}
const med = (i: number) => rounds.map((x) => x[i]).sort((a, b) => a - b)[Math.floor(rounds.length / 2)];
console.log(`median: before wall ${med(0).toFixed(1)} cpu ${med(1).toFixed(1)}; after wall ${med(2).toFixed(1)} cpu ${med(3).toFixed(1)}`);
fs.rmSync(dir, { recursive: true, force: true });
