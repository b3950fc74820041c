/**
 * The documentation a newcomer reads stays true: the JSON the README shows is the example files the
 * commands use, the example workflows compile without warnings, the example model is what the
 * generator builds, the README says what the CLI's help says, and the project's Markdown cites only
 * files that are in the repository.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileWorkflow } from '@visionbatch/engine/workflow/compiler';
import { buildModel } from '@visionbatch/models';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import { describe, expect, it } from 'vitest';
import { MAX_RUNTIME_HELP } from '../../packages/cli/src/program.ts';
import { parseModelConfig, resolveModelConfig } from '../../services/api/src/model-config.ts';
import { readmeJsonBlocks } from './readme-blocks.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const read = (p: string) => readFileSync(path.join(ROOT, p), 'utf8');

describe('the README and the example files', () => {
  it('shows each example JSON file as it is', () => {
    const blocks = readmeJsonBlocks(README);
    expect(blocks.map((b) => b.file).sort()).toEqual([
      'examples/model-config.json',
      'examples/workflows/detection.json',
      'examples/workflows/tracking.json',
      'examples/workflows/visualisation.json',
    ]);
    for (const b of blocks) expect(JSON.parse(b.json), b.file).toEqual(JSON.parse(read(b.file)));
  });

  it('has example workflows that compile without warnings against the example model', () => {
    const { config } = resolveModelConfig(
      parseModelConfig(JSON.parse(read('examples/model-config.json'))),
      null,
    );
    const record: ModelRecord = {
      modelId: 'shapes-det/1',
      ...config,
      weightsKey: 'k',
      weightsSha256: '',
      weightsBytes: 1,
      createdAt: '',
    };
    const dir = path.join(ROOT, 'examples', 'workflows');
    for (const f of readdirSync(dir)) {
      const compiled = compileWorkflow(JSON.parse(read(`examples/workflows/${f}`)), {
        models: { 'shapes-det/1': record },
        unknownModels: 'error',
      });
      expect(compiled.warnings, f).toEqual([]);
    }
  });

  it('has the example model the generator builds, with Ultralytics metadata', () => {
    const committed = readFileSync(path.join(ROOT, 'examples', 'shapes-det.onnx'));
    expect(Buffer.compare(committed, Buffer.from(buildModel('shapes-det', { ultralytics: true })))).toBe(0);
  });

  it('describes --max-runtime-seconds as the CLI help does', () => {
    const help = execFileSync(
      process.execPath,
      [
        path.join(ROOT, 'packages/cli/bin/visionbatch.js'),
        'batch-processing',
        'process-images-with-workflow',
        '--help',
      ],
      { encoding: 'utf8' },
    );
    expect(help.replace(/\s+/g, ' ')).toContain(MAX_RUNTIME_HELP);
    expect(README.replace(/\s+/g, ' ')).toContain(`\`--max-runtime-seconds <n>\` (${MAX_RUNTIME_HELP})`);
  });
});

describe('project documentation', () => {
  const docs = execFileSync('git', ['ls-files', '*.md'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);

  it('cites only files that are in the repository', () => {
    const missing: string[] = [];
    for (const doc of docs) {
      const text = read(doc);
      // Reference material outside the repository must not be pointed at.
      for (const m of text.matchAll(/(?:shared\/)?(?:spec|research)\/[\w-]+\.md/g))
        missing.push(`${doc}: ${m[0]}`);
      // Markdown links and backticked paths into the repository's top-level folders.
      const cited = [
        ...[...text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => path.join(path.dirname(doc), m[1])),
        ...[
          ...text.matchAll(
            /`((?:docs|examples|packages|services|test|bench|deploy|scripts|loadtest)\/[\w./-]*\w)`/g,
          ),
        ].map((m) => m[1]),
      ].filter((p) => !/^[a-z]+:/.test(p) && !p.includes('*') && !p.includes('<'));
      for (const p of cited) if (!existsSync(path.join(ROOT, p))) missing.push(`${doc}: ${p}`);
    }
    expect(missing).toEqual([]);
  });
});
