/**
 * CLI: `tsx packages/models/src/cli.ts <command> [options]`
 *   models  --out <dir> [--only shapes-det,shapes-cls] [--seed 0] [--ultralytics]
 *   dataset --out <dir> [--count 24] [--seed 1]
 *   video   --out <file.mp4> [--seconds 3] [--fps 30] [--width 640] [--height 360] [--seed 1]
 *   corpus  --out <dir> [--count 20] [--seed 1] [--video-seconds 0]
 */
import { parseArgs } from 'node:util';
import { generateImageDataset, generateJpegCorpus, generateVideo } from './datasets.ts';
import { MODEL_NAMES, type ModelName, writeModels } from './models.ts';
import { buildYolov8nArchGraph } from './yolov8n.ts';

const USAGE = `usage: cli.ts <command> [options]
  models  --out <dir> [--only <name,...>] [--seed <n>] [--ultralytics]
                                                          write <name>.onnx + <name>.json (${MODEL_NAMES.join(', ')});
                                                          --ultralytics: the .onnx carries an Ultralytics export's metadata
  dataset --out <dir> [--count 24] [--seed 1]             images + ground-truth.json
  video   --out <file.mp4> [--seconds 3] [--fps 30] [--width 640] [--height 360] [--seed 1]
  corpus  --out <dir> [--count 20] [--seed 1] [--video-seconds 0]   1080p JPEGs (+ optional 1080p30 clip)`;

function num(v: string | undefined, def: number, what: string): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${what} must be a number, got "${v}"`);
  return n;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: [...rest],
    options: {
      out: { type: 'string', short: 'o' },
      count: { type: 'string' },
      seed: { type: 'string' },
      only: { type: 'string' },
      seconds: { type: 'string' },
      fps: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      'video-seconds': { type: 'string' },
      ultralytics: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (!command || values.help || ['help', '--help', '-h'].includes(command)) {
    console.log(USAGE);
    return command ? 0 : 1;
  }
  const out = values.out;
  if (!out) throw new Error(`--out is required\n${USAGE}`);
  const t0 = performance.now();
  switch (command) {
    case 'models': {
      const names = values.only ? (values.only.split(',').map((s) => s.trim()) as ModelName[]) : MODEL_NAMES;
      for (const n of names) if (!MODEL_NAMES.includes(n)) throw new Error(`unknown model "${n}"`);
      const written = await writeModels(out, {
        names,
        seed: num(values.seed, 0, 'seed'),
        ultralytics: values.ultralytics,
      });
      for (const w of written) {
        const extra =
          w.name === 'yolov8n-arch'
            ? ` ${buildYolov8nArchGraph({ seed: num(values.seed, 0, 'seed') }).gflops.toFixed(2)} GFLOPs`
            : '';
        console.log(`${w.onnxPath}  ${w.bytes} bytes  sha256 ${w.sha256}${extra}`);
        console.log(
          `${w.configPath}  (${w.config.task}, ${w.config.classNames.length} classes, ${w.config.resizeMode})`,
        );
      }
      break;
    }
    case 'dataset': {
      const r = await generateImageDataset({
        dir: out,
        count: num(values.count, 24, 'count'),
        seed: num(values.seed, 1, 'seed'),
      });
      const boxes = Object.values(r.groundTruth).reduce((n, b) => n + b.length, 0);
      console.log(`${r.dir}: ${r.files.length} images, ${boxes} boxes`);
      console.log(r.groundTruthPath);
      break;
    }
    case 'video': {
      const r = await generateVideo({
        path: out,
        seconds: num(values.seconds, 3, 'seconds'),
        fps: num(values.fps, 30, 'fps'),
        width: num(values.width, 640, 'width'),
        height: num(values.height, 360, 'height'),
        seed: num(values.seed, 1, 'seed'),
      });
      const g = r.groundTruth;
      const tracks = g.frames['0']?.length ?? 0;
      console.log(
        `${r.path}: ${g.width}x${g.height} @ ${g.fps} fps, ${g.frameCount} frames, ${tracks} tracks`,
      );
      console.log(r.groundTruthPath);
      break;
    }
    case 'corpus': {
      const r = await generateJpegCorpus({
        dir: out,
        count: num(values.count, 20, 'count'),
        seed: num(values.seed, 1, 'seed'),
        videoSeconds: num(values['video-seconds'], 0, 'video-seconds'),
      });
      const kb = r.bytes.map((b) => b / 1024);
      console.log(
        `${r.dir}: ${r.files.length} JPEGs 1920x1080, ${Math.round(Math.min(...kb))}–${Math.round(Math.max(...kb))} KB`,
      );
      if (r.video) console.log(r.video);
      break;
    }
    default:
      throw new Error(`unknown command "${command}"\n${USAGE}`);
  }
  console.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(1);
    },
  );
}
