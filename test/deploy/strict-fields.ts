/**
 * Unknown-field detection for Kubernetes objects, like `kubectl apply --validate=strict`.
 *
 * kubernetes-models validates types, required fields and enums, but its compiled validators accept
 * unknown properties, so a misspelt field (`livenesProbe`) would pass silently and be dropped by the
 * API server. Its type declarations, generated from the same OpenAPI document, list every property
 * of every type; this walks an object along them and reports properties no declaration has.
 * Map-typed fields (labels, resources.limits, ...) and aliases (Quantity, IntOrString) are leaves.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

interface Decl {
  /** property -> type text ('{map}' for index-signature objects) */
  props: Map<string, string>;
  /** imported type name -> declaration file */
  imports: Map<string, string>;
}

const cache = new Map<string, Decl | null>();
const require = createRequire(import.meta.url);

function resolveImport(fromFile: string, spec: string): string {
  if (spec.startsWith('.')) return `${path.resolve(path.dirname(fromFile), spec)}.d.ts`;
  // Package import: find the package directory by walking up from the importing file.
  const parts = spec.split('/');
  const pkg = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  const rest = parts.slice(pkg.split('/').length).join('/');
  for (let dir = path.dirname(fromFile); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', pkg);
    if (existsSync(candidate)) return `${path.join(candidate, rest)}.d.ts`;
    if (path.dirname(dir) === dir) throw new Error(`cannot resolve ${spec} from ${fromFile}`);
  }
}

/** The interface declared in a kubernetes-models .d.ts file, or null for a type alias. */
function loadDecl(file: string): Decl | null {
  if (cache.has(file)) return cache.get(file) ?? null;
  const text = readFileSync(file, 'utf8');
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ ([^}]+) \} from "([^"]+)";$/gm)) {
    for (const name of m[1].split(',').map((s) => s.trim())) imports.set(name, resolveImport(file, m[2]));
  }
  const start = text.search(/^export interface I\w+[^{]*\{$/m);
  if (start < 0) {
    cache.set(file, null);
    return null;
  }
  const body = text.slice(start, text.indexOf('\n}', start));
  const props = new Map<string, string>();
  for (const m of body.matchAll(/^ {4}"([^"]+)"\??: (.*)$/gm)) {
    props.set(m[1], m[2] === '{' ? '{map}' : m[2].replace(/;$/, ''));
  }
  const decl = { props, imports };
  cache.set(file, decl);
  return decl;
}

function walk(value: unknown, file: string, at: string, errors: string[]): void {
  const decl = loadDecl(file);
  if (!decl || typeof value !== 'object' || value === null || Array.isArray(value)) return;
  for (const [key, v] of Object.entries(value)) {
    const type = decl.props.get(key);
    if (type === undefined) {
      errors.push(`${at}.${key}: unknown field`);
      continue;
    }
    const named = /^(?:Array<(I\w+)>|(I\w+)\[\]|(I\w+))$/.exec(type);
    if (!named) continue; // scalar, enum, map or inline type
    const name = named[1] ?? named[2] ?? named[3];
    const target = decl.imports.get(name);
    if (!target) continue;
    if (!Array.isArray(v)) walk(v, target, `${at}.${key}`, errors);
    else for (const [i, item] of v.entries()) walk(item, target, `${at}.${key}[${i}]`, errors);
  }
}

/**
 * Unknown fields of `object` (a kubernetes-models kind, e.g. apps/v1 Deployment), as `path: unknown
 * field` lines; empty when every property is declared.
 */
export function unknownFields(object: { apiVersion: string; kind: string }): string[] {
  const modulePath = object.apiVersion === 'v1' ? 'v1' : object.apiVersion;
  const pkgDir = path.dirname(require.resolve('kubernetes-models/package.json'));
  const file = path.join(pkgDir, modulePath, `${object.kind}.d.ts`);
  if (!existsSync(file)) throw new Error(`no type declarations for ${object.apiVersion} ${object.kind}`);
  const errors: string[] = [];
  walk(object, file, object.kind, errors);
  return errors;
}
