import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/** The JSON Schemas in schemas/, compiled once; errors come back as JSON pointers with a sentence each. */

export interface FieldError {
  pointer: string;
  detail: string;
}

export type SchemaName =
  'consortium' | 'membership-request' | 'vote' | 'action' | 'scaling-policy' | 'cost-profiles';

function schemasDir(): string {
  // dist/runtime → ../../schemas; runtime (ts-jest) → ../schemas
  for (const rel of ['../../schemas', '../schemas']) {
    const dir = join(__dirname, rel);
    try {
      if (readdirSync(dir).some((f) => f.endsWith('.schema.json'))) return dir;
    } catch {
      // try the next candidate
    }
  }
  throw new Error(`schemas/ not found next to ${__dirname}`);
}

let compiled: Map<string, ValidateFunction> | undefined;

function validators(): Map<string, ValidateFunction> {
  if (compiled) return compiled;
  const ajv = new Ajv2020({
    allErrors: true,
    verbose: true,
    strict: true,
    strictRequired: false,
    allowUnionTypes: true,
  });
  addFormats(ajv);
  const dir = schemasDir();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.schema.json'))) {
    ajv.addSchema(JSON.parse(readFileSync(join(dir, file), 'utf8')) as object);
  }
  compiled = new Map();
  for (const name of [
    'consortium',
    'membership-request',
    'vote',
    'action',
    'scaling-policy',
    'cost-profiles',
  ] satisfies SchemaName[]) {
    compiled.set(name, ajv.getSchema(`urn:trustnet:schema:${name}`)!);
  }
  return compiled;
}

function describe(e: ErrorObject): FieldError {
  const params = e.params as Record<string, unknown>;
  let pointer = e.instancePath;
  let detail = e.message ?? 'is not valid';
  switch (e.keyword) {
    case 'required':
      pointer = `${pointer}/${String(params['missingProperty'])}`;
      detail = 'is required';
      break;
    case 'additionalProperties':
      pointer = `${pointer}/${String(params['additionalProperty'])}`;
      detail = 'is not an allowed field';
      break;
    case 'enum':
      detail = `must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    case 'const':
      detail = `must be ${JSON.stringify(params['allowedValue'])}`;
      break;
    case 'pattern':
    case 'format':
      detail =
        e.parentSchema && (e.parentSchema as { description?: string }).description
          ? `is not valid: ${(e.parentSchema as { description: string }).description}`
          : `is not a valid ${e.keyword === 'format' ? String(params['format']) : 'value'}`;
      break;
  }
  return { pointer: pointer || '/', detail };
}

/** Validates `value`; returns every failing field (deduplicated), or an empty list. */
export function schemaErrors(name: SchemaName, value: unknown): FieldError[] {
  const validate = validators().get(name)!;
  if (validate(value)) return [];
  const seen = new Set<string>();
  const out: FieldError[] = [];
  // oneOf/anyOf/if branches repeat themselves; the summary keywords add nothing for a reader.
  for (const e of validate.errors ?? []) {
    if (['oneOf', 'anyOf', 'if', 'not'].includes(e.keyword) && (validate.errors?.length ?? 0) > 1) continue;
    const fe = describe(e);
    const key = `${fe.pointer} ${fe.detail}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(fe);
    }
  }
  return out;
}
