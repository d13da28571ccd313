/**
 * HTTP route templates as the Functions host reads them (ASP.NET Core routing): literal segments,
 * `{param}`, `{param?}`, `{param=default}`, `{param:constraint(...)}`, catch-all `{*rest}`; literals match
 * case-insensitively; more specific templates win over less specific ones.
 */

export class RouteTemplateError extends Error {
  constructor(
    readonly template: string,
    message: string,
  ) {
    super(`Route template "${template}": ${message}`);
    this.name = 'RouteTemplateError';
  }
}

type Constraint = { name: string; test: (value: string) => boolean };

interface ParamPart {
  kind: 'param';
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue?: string;
  constraints: Constraint[];
}
type Part = { kind: 'literal'; text: string } | ParamPart;

interface Segment {
  parts: Part[];
  pattern: RegExp;
  params: ParamPart[];
  /** Lower ranks are more specific: literal 0, constrained or complex 1, plain 2, optional 3, catch-all 4. */
  rank: number;
}

export interface CompiledRoute {
  template: string;
  segments: Segment[];
}

const INT32 = [-2147483648, 2147483647];
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const GUID = /^[{(]?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}[)}]?$/i;
/** A date with all three parts (`2026-01-31`, `1/31/2026`) or a month name; V8's Date.parse alone takes "7". */
const DATE_SHAPE = /\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|[a-z]{3}/i;
const DATE_WORD =
  /^(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun)[a-z]*$|^(t|z|am|pm|utc|gmt)$/i;

function numberArgs(template: string, name: string, args: string | undefined, count: number[]): number[] {
  const values = (args ?? '').split(',').map((a) => a.trim());
  if (!count.includes(values.length) || values.some((v) => !/^-?\d+$/.test(v))) {
    throw new RouteTemplateError(
      template,
      `constraint "${name}" needs ${count.join(' or ')} integer argument(s)`,
    );
  }
  return values.map(Number);
}

function makeConstraint(template: string, name: string, args: string | undefined): Constraint {
  const isInt = (v: string) => /^[+-]?\d+$/.test(v);
  const lower = name.toLowerCase();
  switch (lower) {
    case 'int':
      return { name, test: (v) => isInt(v) && +v >= INT32[0]! && +v <= INT32[1]! };
    case 'long':
      return { name, test: (v) => isInt(v) && BigInt(v) >= -(2n ** 63n) && BigInt(v) < 2n ** 63n };
    case 'bool':
      return { name, test: (v) => /^(true|false)$/i.test(v) };
    case 'datetime':
      return {
        name,
        test: (v) =>
          DATE_SHAPE.test(v) &&
          (v.match(/[a-z]+/gi) ?? []).every((w) => DATE_WORD.test(w)) &&
          !Number.isNaN(Date.parse(v)),
      };
    case 'decimal':
    case 'double':
    case 'float':
      return { name, test: (v) => NUMBER.test(v) };
    case 'guid':
      return { name, test: (v) => GUID.test(v) };
    case 'alpha':
      return { name, test: (v) => /^[a-z]+$/i.test(v) };
    case 'required':
      return { name, test: (v) => v.length > 0 };
    case 'minlength': {
      const [n] = numberArgs(template, name, args, [1]);
      return { name, test: (v) => v.length >= n! };
    }
    case 'maxlength': {
      const [n] = numberArgs(template, name, args, [1]);
      return { name, test: (v) => v.length <= n! };
    }
    case 'length': {
      const [a, b] = numberArgs(template, name, args, [1, 2]);
      return { name, test: (v) => (b === undefined ? v.length === a : v.length >= a! && v.length <= b) };
    }
    case 'min': {
      const [n] = numberArgs(template, name, args, [1]);
      return { name, test: (v) => isInt(v) && +v >= n! };
    }
    case 'max': {
      const [n] = numberArgs(template, name, args, [1]);
      return { name, test: (v) => isInt(v) && +v <= n! };
    }
    case 'range': {
      const [a, b] = numberArgs(template, name, args, [2]);
      return { name, test: (v) => isInt(v) && +v >= a! && +v <= b! };
    }
    case 'regex': {
      if (!args) throw new RouteTemplateError(template, 'constraint "regex" needs an expression');
      let re: RegExp;
      try {
        re = new RegExp(args, 'i');
      } catch (e) {
        throw new RouteTemplateError(template, `bad regex constraint: ${(e as Error).message}`);
      }
      return { name, test: (v) => re.test(v) };
    }
    default:
      throw new RouteTemplateError(template, `unknown constraint "${name}"`);
  }
}

/** Parses the text between `{` and `}`: `*name`, `name?`, `name=default`, `name:c1:c2(args)`. */
function parseParam(template: string, text: string): ParamPart {
  let rest = text;
  let catchAll = false;
  if (rest.startsWith('**')) [catchAll, rest] = [true, rest.slice(2)];
  else if (rest.startsWith('*')) [catchAll, rest] = [true, rest.slice(1)];
  const nameMatch = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
  if (!nameMatch) throw new RouteTemplateError(template, `bad parameter "{${text}}"`);
  const name = nameMatch[0];
  rest = rest.slice(name.length);
  const constraints: Constraint[] = [];
  let optional = false;
  let defaultValue: string | undefined;
  while (rest.startsWith(':')) {
    rest = rest.slice(1);
    const cname = /^[A-Za-z]+/.exec(rest)?.[0];
    if (!cname) throw new RouteTemplateError(template, `bad constraint in "{${text}}"`);
    rest = rest.slice(cname.length);
    let args: string | undefined;
    if (rest.startsWith('(')) {
      let depth = 0;
      let i = 0;
      for (; i < rest.length; i++) {
        if (rest[i] === '\\') i++;
        else if (rest[i] === '(') depth++;
        else if (rest[i] === ')' && --depth === 0) break;
      }
      if (depth !== 0) throw new RouteTemplateError(template, `unclosed "(" in "{${text}}"`);
      args = rest.slice(1, i);
      rest = rest.slice(i + 1);
    }
    constraints.push(makeConstraint(template, cname, args));
  }
  if (rest === '?') {
    optional = true;
    rest = '';
  } else if (rest.startsWith('=')) {
    defaultValue = rest.slice(1);
    optional = true;
    rest = '';
  }
  if (rest !== '') throw new RouteTemplateError(template, `unexpected "${rest}" in "{${text}}"`);
  return { kind: 'param', name, optional: optional || catchAll, catchAll, defaultValue, constraints };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function parseSegment(template: string, text: string): Segment {
  const parts: Part[] = [];
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '{' && text[i + 1] === '{') {
      literal += '{';
      i++;
    } else if (ch === '}' && text[i + 1] === '}') {
      literal += '}';
      i++;
    } else if (ch === '{') {
      // A regex constraint may hold braces; find the closing one at depth zero.
      let depth = 1;
      let j = i + 1;
      for (; j < text.length && depth > 0; j++) {
        if (text[j] === '{') depth++;
        else if (text[j] === '}') depth--;
      }
      if (depth !== 0) throw new RouteTemplateError(template, `unclosed "{" in segment "${text}"`);
      if (literal) parts.push({ kind: 'literal', text: literal });
      literal = '';
      parts.push(
        parseParam(
          template,
          text
            .slice(i + 1, j - 1)
            .replace(/\{\{/g, '{')
            .replace(/\}\}/g, '}'),
        ),
      );
      i = j - 1;
    } else if (ch === '}') {
      throw new RouteTemplateError(template, `unmatched "}" in segment "${text}"`);
    } else {
      literal += ch;
    }
  }
  if (literal) parts.push({ kind: 'literal', text: literal });
  const params = parts.filter((p): p is ParamPart => p.kind === 'param');
  for (let k = 1; k < parts.length; k++) {
    if (parts[k]!.kind === 'param' && parts[k - 1]!.kind === 'param') {
      throw new RouteTemplateError(template, `two parameters in a row in segment "${text}"`);
    }
  }
  if (parts.length > 1 && params.some((p) => p.optional || p.catchAll)) {
    throw new RouteTemplateError(template, `an optional or catch-all parameter must be alone in its segment`);
  }
  const source = parts
    // Greedy, so a complex segment splits at the last delimiter as ASP.NET does: {name}.{ext} on a.b.c is a.b + c.
    .map((p) => (p.kind === 'literal' ? escapeRegExp(p.text) : p.catchAll ? '(.*)' : '([^/]+)'))
    .join('');
  const only = params.length === 1 && parts.length === 1 ? params[0]! : undefined;
  const rank =
    params.length === 0
      ? 0
      : only?.catchAll
        ? 4
        : only?.optional
          ? 3
          : parts.length > 1 || params.some((p) => p.constraints.length)
            ? 1
            : 2;
  return { parts, params, pattern: new RegExp(`^${source}$`, 'i'), rank };
}

export function compileRoute(template: string): CompiledRoute {
  const trimmed = template.replace(/^\/+|\/+$/g, '');
  const texts = trimmed === '' ? [] : trimmed.split('/');
  const segments = texts.map((t) => {
    if (t === '') throw new RouteTemplateError(template, 'empty segment ("//")');
    return parseSegment(template, t);
  });
  const names = new Set<string>();
  segments.forEach((seg, i) => {
    for (const p of seg.params) {
      const key = p.name.toLowerCase();
      if (names.has(key)) throw new RouteTemplateError(template, `parameter "${p.name}" appears twice`);
      names.add(key);
      if (p.catchAll && i !== segments.length - 1) {
        throw new RouteTemplateError(template, `catch-all "{*${p.name}}" must be the last segment`);
      }
    }
    const optionalHere = seg.rank >= 3;
    if (optionalHere && segments.slice(i + 1).some((s) => s.rank < 3)) {
      throw new RouteTemplateError(template, 'only the last segments may be optional');
    }
  });
  return { template, segments };
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Matches a request path (no query, no leading prefix handling) and returns its parameters, or undefined. */
export function matchRoute(route: CompiledRoute, path: string): Record<string, string> | undefined {
  return matchSegments(route, pathSegments(path));
}

/** A request path's segments, as matchSegments takes them: split once, tried against every route. */
export function pathSegments(path: string): string[] {
  const trimmed = path.replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed === '' ? [] : trimmed.split('/');
}

export function matchSegments(
  route: CompiledRoute,
  texts: readonly string[],
): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  const segs = route.segments;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    const only = seg.params.length === 1 && seg.parts.length === 1 ? seg.params[0] : undefined;
    if (only?.catchAll) {
      const rest = texts.slice(i).join('/');
      if (!only.constraints.every((c) => c.test(decode(rest)))) return undefined;
      if (rest !== '' || only.defaultValue !== undefined)
        params[only.name] = rest === '' ? only.defaultValue! : decode(rest);
      return params;
    }
    const text = texts[i];
    if (text === undefined) {
      if (seg.rank < 3) return undefined;
      if (only?.defaultValue !== undefined) params[only.name] = only.defaultValue;
      continue;
    }
    const m = seg.pattern.exec(text);
    if (!m) return undefined;
    for (let k = 0; k < seg.params.length; k++) {
      const p = seg.params[k]!;
      const value = decode(m[k + 1]!);
      if (!p.constraints.every((c) => c.test(value))) return undefined;
      params[p.name] = value;
    }
  }
  return texts.length <= segs.length ? params : undefined;
}

/** Orders routes most specific first, as ASP.NET Core's route precedence does. */
export function compareSpecificity(a: CompiledRoute, b: CompiledRoute): number {
  const n = Math.max(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    // A route that has already ended is the more specific one: `a` before `a/{id?}` and `a/{*rest}`.
    const ra = a.segments[i]?.rank ?? -1;
    const rb = b.segments[i]?.rank ?? -1;
    if (ra !== rb) return ra - rb;
  }
  return b.segments.length - a.segments.length;
}
