/**
 * Reads what the parity test holds together in a Bicep file and its hand-written ARM JSON twin: parameter
 * and output declarations (with their decorators and defaults), resource and module declarations, and
 * literal string variables. Also checks a JSON template's internal references (parameters, variables,
 * resource ids, dependsOn, scopes) and that it uses only the template functions the local ARM emulator
 * evaluates. There is no Bicep compiler on the build machines, so this is deliberately a small parser for
 * the declaration syntax these templates use; anything it does not understand is an error, not a skip.
 */

export class TemplateParityError extends Error {
  constructor(
    readonly code: 'BICEP.PARSE' | 'ARM.EXPRESSION',
    message: string,
  ) {
    super(message);
    this.name = 'TemplateParityError';
  }
}

// ---------------------------------------------------------------------------------------------------
// Shared shapes

export type ParamType = 'string' | 'securestring' | 'int' | 'bool' | 'array' | 'object' | 'secureobject';

export type DefaultValue = { kind: 'literal'; value: unknown } | { kind: 'expression'; text: string };

export interface ParamSpec {
  name: string;
  type: ParamType;
  allowedValues?: unknown[];
  minValue?: number;
  maxValue?: number;
  minLength?: number;
  maxLength?: number;
  defaultValue?: DefaultValue;
  description?: string;
}

export interface OutputSpec {
  name: string;
  type: string;
  description?: string;
}

export interface BicepResource {
  symbol: string;
  type: string;
  apiVersion: string;
  existing: boolean;
  conditional: boolean;
}

export interface BicepModule {
  symbol: string;
  path: string;
}

export interface BicepFile {
  targetScope: string;
  params: ParamSpec[];
  outputs: OutputSpec[];
  resources: BicepResource[];
  modules: BicepModule[];
  /** Variables whose value is a plain string literal (no interpolation), by name. */
  stringVars: Record<string, string>;
}

/** The template functions the local ARM emulator evaluates; a twin must use nothing else. */
export const ALLOWED_FUNCTIONS: ReadonlySet<string> = new Set(
  [
    'parameters',
    'variables',
    'format',
    'concat',
    'resourceId',
    'subscriptionResourceId',
    'extensionResourceId',
    'resourceGroup',
    'subscription',
    'tenant',
    'uniqueString',
    'guid',
    'toLower',
    'toUpper',
    'take',
    'substring',
    'length',
    'if',
    'equals',
    'not',
    'and',
    'or',
    'empty',
    'contains',
    'union',
    'createArray',
    'createObject',
    'base64',
    'string',
    'int',
    'bool',
    'json',
    'reference',
    'copyIndex',
    'split',
    'replace',
    'first',
    'last',
    'greater',
    'less',
    'coalesce',
  ].map((f) => f.toLowerCase()),
);

/** Built-in resource types a template may name without declaring them. */
const BUILT_IN_TYPES: ReadonlySet<string> = new Set(['microsoft.authorization/roledefinitions']);

const SCHEMAS: Record<string, string> = {
  resourceGroup: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
  subscription: 'https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#',
};

// ---------------------------------------------------------------------------------------------------
// Bicep tokens

type TokenKind = 'ident' | 'string' | 'number' | 'punct' | 'newline';

interface Token {
  kind: TokenKind;
  text: string;
  start: number;
  end: number;
  /** For strings: the unescaped value when the string has no interpolation. */
  value?: string;
  interpolated?: boolean;
}

const PUNCT2 = ['==', '!=', '<=', '>=', '&&', '||', '??', '=~', '!~', '.?', '::', '=>'];

function bicepError(source: string, pos: number, message: string): TemplateParityError {
  const line = source.slice(0, pos).split('\n').length;
  return new TemplateParityError('BICEP.PARSE', `line ${line}: ${message}`);
}

/** Scans a '...' string at `pos` (which holds the quote); returns the index after the closing quote. */
function scanString(source: string, pos: number): { end: number; value: string; interpolated: boolean } {
  let i = pos + 1;
  let value = '';
  let interpolated = false;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\\') {
      const n = source[i + 1];
      const escapes: Record<string, string> = { "'": "'", '\\': '\\', n: '\n', r: '\r', t: '\t', $: '$' };
      if (n !== undefined && n in escapes) {
        value += escapes[n];
        i += 2;
        continue;
      }
      throw bicepError(source, i, `unsupported escape \\${n ?? ''}`);
    }
    if (c === "'") return { end: i + 1, value, interpolated };
    if (c === '\n') throw bicepError(source, i, 'newline in a single-quoted string');
    if (c === '$' && source[i + 1] === '{') {
      interpolated = true;
      i = skipInterpolation(source, i + 2);
      continue;
    }
    value += c;
    i++;
  }
  throw bicepError(source, pos, 'unterminated string');
}

/** Skips the inside of `${ ... }` (nested strings allowed); returns the index after the closing brace. */
function skipInterpolation(source: string, pos: number): number {
  let depth = 1;
  let i = pos;
  while (i < source.length) {
    const c = source[i]!;
    if (c === "'") {
      i = scanString(source, i).end;
      continue;
    }
    if (c === '{') depth++;
    if (c === '}' && --depth === 0) return i + 1;
    i++;
  }
  throw bicepError(source, pos, 'unterminated interpolation');
}

export function tokenizeBicep(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\n') {
      tokens.push({ kind: 'newline', text: '\n', start: i, end: i + 1 });
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (c === '/' && source[i + 1] === '*') {
      const close = source.indexOf('*/', i + 2);
      if (close < 0) throw bicepError(source, i, 'unterminated comment');
      i = close + 2;
    } else if (source.startsWith("'''", i)) {
      // Multi-line strings: no escapes, no interpolation; a newline right after the opening is dropped.
      const close = source.indexOf("'''", i + 3);
      if (close < 0) throw bicepError(source, i, 'unterminated multi-line string');
      let value = source.slice(i + 3, close);
      if (value.startsWith('\r\n')) value = value.slice(2);
      else if (value.startsWith('\n')) value = value.slice(1);
      tokens.push({ kind: 'string', text: source.slice(i, close + 3), start: i, end: close + 3, value });
      i = close + 3;
    } else if (c === "'") {
      const s = scanString(source, i);
      tokens.push({
        kind: 'string',
        text: source.slice(i, s.end),
        start: i,
        end: s.end,
        value: s.value,
        interpolated: s.interpolated,
      });
      i = s.end;
    } else if (/[0-9]/.test(c)) {
      let j = i;
      while (j < source.length && /[0-9.]/.test(source[j]!)) j++;
      tokens.push({ kind: 'number', text: source.slice(i, j), start: i, end: j });
      i = j;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < source.length && /[A-Za-z0-9_]/.test(source[j]!)) j++;
      tokens.push({ kind: 'ident', text: source.slice(i, j), start: i, end: j });
      i = j;
    } else {
      const two = source.slice(i, i + 2);
      const text = PUNCT2.includes(two) ? two : c;
      tokens.push({ kind: 'punct', text, start: i, end: i + text.length });
      i += text.length;
    }
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------------
// Bicep declarations

const NON_LITERAL = Symbol('non-literal');
type Literal = unknown;

class BicepReader {
  private i = 0;
  constructor(
    private readonly source: string,
    private readonly tokens: Token[],
  ) {}

  peek(offset = 0): Token | undefined {
    return this.tokens[this.i + offset];
  }

  next(): Token {
    const t = this.tokens[this.i++];
    if (!t) throw bicepError(this.source, this.source.length, 'unexpected end of file');
    return t;
  }

  atEnd(): boolean {
    return this.i >= this.tokens.length;
  }

  mark(): number {
    return this.i;
  }

  reset(position: number): void {
    this.i = position;
  }

  fail(message: string, token = this.peek()): never {
    throw bicepError(this.source, token?.start ?? this.source.length, message);
  }

  expect(kind: TokenKind, text?: string): Token {
    const t = this.next();
    if (t.kind !== kind || (text !== undefined && t.text !== text)) {
      this.fail(`expected ${text ?? kind}, found '${t.text}'`, t);
    }
    return t;
  }

  skipNewlines(): void {
    while (this.peek()?.kind === 'newline') this.i++;
  }

  isOpen(t: Token): boolean {
    return t.kind === 'punct' && (t.text === '(' || t.text === '[' || t.text === '{');
  }

  isClose(t: Token): boolean {
    return t.kind === 'punct' && (t.text === ')' || t.text === ']' || t.text === '}');
  }

  /**
   * Consumes an expression up to the end of the statement (a newline or end of file at bracket depth
   * 0, or an unmatched closing bracket / comma at depth 0 when `inList`). Returns its token range.
   */
  skipExpression(inList = false): { from: number; to: number } {
    const from = this.i;
    let depth = 0;
    while (!this.atEnd()) {
      const t = this.peek()!;
      if (depth === 0 && t.kind === 'newline') break;
      if (depth === 0 && inList && (this.isClose(t) || (t.kind === 'punct' && t.text === ','))) break;
      if (this.isOpen(t)) depth++;
      if (this.isClose(t)) {
        if (depth === 0) this.fail(`unbalanced '${t.text}'`, t);
        depth--;
      }
      if (t.kind === 'ident' && t.text === 'resource' && this.peek(2)?.kind === 'string' && depth > 0) {
        this.fail('nested resource declarations are not supported: declare child resources with parent:', t);
      }
      this.i++;
    }
    if (depth !== 0) this.fail('unbalanced brackets');
    return { from, to: this.i };
  }

  text(range: { from: number; to: number }): string {
    const first = this.tokens[range.from];
    const last = this.tokens[range.to - 1];
    if (!first || !last) return '';
    return this.source.slice(first.start, last.end);
  }

  /** Parses a literal value (string, number, bool, null, array, object of literals) at the cursor. */
  literal(): Literal | typeof NON_LITERAL {
    const start = this.i;
    const value = this.literalInner();
    if (value === NON_LITERAL) {
      this.i = start;
      this.skipExpression(true);
    }
    return value;
  }

  private literalInner(): Literal | typeof NON_LITERAL {
    const t = this.next();
    let value: Literal | typeof NON_LITERAL = NON_LITERAL;
    if (t.kind === 'string' && !t.interpolated) value = t.value;
    else if (t.kind === 'number') value = Number(t.text);
    else if (t.kind === 'punct' && t.text === '-' && this.peek()?.kind === 'number')
      value = -Number(this.next().text);
    else if (t.kind === 'ident' && (t.text === 'true' || t.text === 'false')) value = t.text === 'true';
    else if (t.kind === 'ident' && t.text === 'null') value = null;
    else if (t.kind === 'punct' && t.text === '[') value = this.arrayLiteral();
    else if (t.kind === 'punct' && t.text === '{') value = this.objectLiteral();
    if (value === NON_LITERAL) return NON_LITERAL;
    // A literal followed by more expression (e.g. 'a' == b) is not a literal.
    const after = this.peek();
    if (
      after &&
      after.kind !== 'newline' &&
      !this.isClose(after) &&
      !(after.kind === 'punct' && after.text === ',')
    ) {
      return NON_LITERAL;
    }
    return value;
  }

  private arrayLiteral(): Literal[] | typeof NON_LITERAL {
    const items: Literal[] = [];
    for (;;) {
      this.skipSeparators();
      const t = this.peek();
      if (!t) this.fail('unterminated array');
      if (t.kind === 'punct' && t.text === ']') {
        this.i++;
        return items;
      }
      const item = this.literalInner();
      if (item === NON_LITERAL) return NON_LITERAL;
      items.push(item);
    }
  }

  private objectLiteral(): Record<string, Literal> | typeof NON_LITERAL {
    const obj: Record<string, Literal> = {};
    for (;;) {
      this.skipSeparators();
      const t = this.next();
      if (t.kind === 'punct' && t.text === '}') return obj;
      let key: string;
      if (t.kind === 'ident') key = t.text;
      else if (t.kind === 'string' && !t.interpolated) key = t.value!;
      else return NON_LITERAL;
      this.expect('punct', ':');
      const value = this.literalInner();
      if (value === NON_LITERAL) return NON_LITERAL;
      obj[key] = value;
    }
  }

  private skipSeparators(): void {
    while (this.peek()?.kind === 'newline' || (this.peek()?.kind === 'punct' && this.peek()!.text === ','))
      this.i++;
  }
}

interface Decorator {
  name: string;
  args: (Literal | typeof NON_LITERAL)[];
  token: Token;
}

function readDecorator(r: BicepReader): Decorator {
  const at = r.expect('punct', '@');
  let name = r.expect('ident').text;
  if (name === 'sys' && r.peek()?.text === '.') {
    r.next();
    name = r.expect('ident').text;
  }
  r.expect('punct', '(');
  const args: (Literal | typeof NON_LITERAL)[] = [];
  for (;;) {
    r.skipNewlines();
    if (r.peek()?.kind === 'punct' && r.peek()!.text === ')') {
      r.next();
      break;
    }
    args.push(r.literal());
    r.skipNewlines();
    if (r.peek()?.kind === 'punct' && r.peek()!.text === ',') r.next();
  }
  return { name, args, token: at };
}

function literalArg(r: BicepReader, d: Decorator, kind: 'string' | 'number' | 'array'): unknown {
  const v = d.args[0];
  const ok = kind === 'array' ? Array.isArray(v) : typeof v === kind;
  if (d.args.length !== 1 || !ok) r.fail(`@${d.name}() needs one literal ${kind}`, d.token);
  return v;
}

/** Whitespace outside string literals removed, so expression texts compare regardless of layout. */
export function normalizeExpression(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      if (inString && text[i + 1] === "'") {
        out += "''";
        i++;
        continue;
      }
      inString = !inString;
    }
    if (!inString && /\s/.test(c)) continue;
    out += c;
  }
  return out;
}

export function parseBicep(source: string): BicepFile {
  const r = new BicepReader(source, tokenizeBicep(source));
  const file: BicepFile = {
    targetScope: 'resourceGroup',
    params: [],
    outputs: [],
    resources: [],
    modules: [],
    stringVars: {},
  };
  let decorators: Decorator[] = [];
  for (;;) {
    r.skipNewlines();
    if (r.atEnd()) break;
    const t = r.peek()!;
    if (t.kind === 'punct' && t.text === '@') {
      decorators.push(readDecorator(r));
      continue;
    }
    if (t.kind !== 'ident') r.fail(`unexpected '${t.text}'`);
    const keyword = r.next().text;
    switch (keyword) {
      case 'targetScope': {
        r.expect('punct', '=');
        const scope = r.expect('string');
        if (scope.interpolated) r.fail('targetScope must be a literal', scope);
        file.targetScope = scope.value!;
        break;
      }
      case 'param':
        file.params.push(readParam(r, decorators));
        decorators = [];
        break;
      case 'output': {
        const name = r.expect('ident').text;
        const type = r.expect('ident').text;
        r.expect('punct', '=');
        r.skipExpression();
        const spec: OutputSpec = { name, type: type.toLowerCase() };
        for (const d of decorators) {
          if (d.name === 'description') spec.description = literalArg(r, d, 'string') as string;
          else r.fail(`@${d.name} is not supported on outputs here`, d.token);
        }
        decorators = [];
        file.outputs.push(spec);
        break;
      }
      case 'var': {
        const name = r.expect('ident').text;
        r.expect('punct', '=');
        const valueToken = r.peek();
        const range = r.skipExpression();
        if (range.to - range.from === 1 && valueToken?.kind === 'string' && !valueToken.interpolated) {
          file.stringVars[name] = valueToken.value!;
        }
        decorators = [];
        break;
      }
      case 'resource': {
        const symbol = r.expect('ident').text;
        const typeToken = r.expect('string');
        const [type, apiVersion] = (typeToken.value ?? '').split('@');
        if (!type || !apiVersion) {
          throw bicepError(source, typeToken.start, `resource type needs '@<apiVersion>': ${typeToken.text}`);
        }
        let existing = false;
        if (r.peek()?.kind === 'ident' && r.peek()!.text === 'existing') {
          r.next();
          existing = true;
        }
        r.expect('punct', '=');
        const conditional = r.peek()?.kind === 'ident' && r.peek()!.text === 'if';
        r.skipExpression();
        file.resources.push({ symbol, type, apiVersion, existing, conditional });
        decorators = [];
        break;
      }
      case 'module': {
        const symbol = r.expect('ident').text;
        const pathToken = r.expect('string');
        r.expect('punct', '=');
        r.skipExpression();
        file.modules.push({ symbol, path: pathToken.value! });
        decorators = [];
        break;
      }
      case 'metadata':
      case 'import':
      case 'type':
      case 'func':
        r.skipExpression();
        decorators = [];
        break;
      default:
        r.fail(`unsupported statement '${keyword}'`, t);
    }
  }
  if (decorators.length > 0) r.fail('decorator without a declaration', decorators[0]!.token);
  return file;
}

function readParam(r: BicepReader, decorators: Decorator[]): ParamSpec {
  const name = r.expect('ident').text;
  const typeToken = r.expect('ident');
  const baseTypes = ['string', 'int', 'bool', 'array', 'object'];
  if (!baseTypes.includes(typeToken.text))
    r.fail(`unsupported parameter type '${typeToken.text}'`, typeToken);
  const spec: ParamSpec = { name, type: typeToken.text as ParamType };
  let secure = false;
  for (const d of decorators) {
    switch (d.name) {
      case 'description':
        spec.description = literalArg(r, d, 'string') as string;
        break;
      case 'allowed':
        spec.allowedValues = literalArg(r, d, 'array') as unknown[];
        break;
      case 'minValue':
      case 'maxValue':
      case 'minLength':
      case 'maxLength':
        spec[d.name as 'minValue' | 'maxValue' | 'minLength' | 'maxLength'] = literalArg(
          r,
          d,
          'number',
        ) as number;
        break;
      case 'secure':
        if (d.args.length !== 0) r.fail('@secure() takes no arguments', d.token);
        secure = true;
        break;
      default:
        r.fail(`unsupported decorator @${d.name}`, d.token);
    }
  }
  if (secure) {
    if (spec.type === 'string') spec.type = 'securestring';
    else if (spec.type === 'object') spec.type = 'secureobject';
    else r.fail('@secure() applies to string and object parameters only', typeToken);
  }
  if (r.peek()?.kind === 'punct' && r.peek()!.text === '=') {
    r.next();
    const start = r.mark();
    const value = r.literal();
    if (value !== NON_LITERAL) {
      spec.defaultValue = { kind: 'literal', value };
    } else {
      r.reset(start);
      const range = r.skipExpression();
      spec.defaultValue = { kind: 'expression', text: normalizeExpression(r.text(range)) };
    }
  }
  return spec;
}

// ---------------------------------------------------------------------------------------------------
// ARM templates

export interface ArmTemplate {
  $schema?: string;
  contentVersion?: string;
  parameters?: Record<string, Record<string, unknown>>;
  variables?: Record<string, unknown>;
  resources?: unknown;
  outputs?: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

function isExpression(s: string): boolean {
  return s.startsWith('[') && s.endsWith(']') && !s.startsWith('[[');
}

function armDefault(value: unknown): DefaultValue {
  if (typeof value === 'string' && isExpression(value)) {
    return { kind: 'expression', text: normalizeExpression(value.slice(1, -1)) };
  }
  return {
    kind: 'literal',
    value: typeof value === 'string' && value.startsWith('[[') ? value.slice(1) : value,
  };
}

export function armParams(template: ArmTemplate): ParamSpec[] {
  return Object.entries(template.parameters ?? {}).map(([name, def]) => {
    const spec: ParamSpec = { name, type: String(def.type).toLowerCase() as ParamType };
    if (def.allowedValues !== undefined) spec.allowedValues = def.allowedValues as unknown[];
    for (const k of ['minValue', 'maxValue', 'minLength', 'maxLength'] as const) {
      if (def[k] !== undefined) spec[k] = def[k] as number;
    }
    if ('defaultValue' in def) spec.defaultValue = armDefault(def.defaultValue);
    const description = (def.metadata as { description?: unknown } | undefined)?.description;
    if (typeof description === 'string') spec.description = description;
    return spec;
  });
}

export function armOutputs(template: ArmTemplate): OutputSpec[] {
  return Object.entries(template.outputs ?? {}).map(([name, def]) => {
    const spec: OutputSpec = { name, type: String(def.type).toLowerCase() };
    const description = (def.metadata as { description?: unknown } | undefined)?.description;
    if (typeof description === 'string') spec.description = description;
    return spec;
  });
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function resourcesOf(template: ArmTemplate): Record<string, unknown>[] {
  return Array.isArray(template.resources) ? (template.resources as Record<string, unknown>[]) : [];
}

/**
 * Differences between a Bicep file and its JSON twin: parameters (names, types, allowed values,
 * bounds, defaults, descriptions), outputs (names, types), the target scope's schema, the declared
 * resources (type, API version, condition) and literal string variables. Modules are compared with
 * `moduleFiles` (path → parsed Bicep), pairing each module with a nested deployment in order.
 */
export function compareTwins(
  bicep: BicepFile,
  template: ArmTemplate,
  moduleFiles: Record<string, BicepFile> = {},
  where = '',
): string[] {
  const problems: string[] = [];
  const at = (s: string) => problems.push(where ? `${where}: ${s}` : s);

  const schema = SCHEMAS[bicep.targetScope];
  if (!schema) at(`unsupported targetScope '${bicep.targetScope}'`);
  else if (template.$schema !== schema)
    at(`$schema should be ${schema} for targetScope '${bicep.targetScope}'`);
  if (template.contentVersion !== '1.0.0.0') at('contentVersion should be 1.0.0.0');
  if (!Array.isArray(template.resources)) at('resources must be an array');

  const jsonParams = new Map(armParams(template).map((p) => [p.name, p]));
  const bicepParams = new Map(bicep.params.map((p) => [p.name, p]));
  for (const name of bicepParams.keys())
    if (!jsonParams.has(name)) at(`parameter '${name}' missing from the JSON`);
  for (const name of jsonParams.keys())
    if (!bicepParams.has(name)) at(`parameter '${name}' missing from the Bicep`);
  for (const [name, b] of bicepParams) {
    const j = jsonParams.get(name);
    if (!j) continue;
    for (const key of ['type', 'allowedValues', 'minValue', 'maxValue', 'minLength', 'maxLength'] as const) {
      if (!same(b[key], j[key]))
        at(`parameter '${name}' ${key}: Bicep ${JSON.stringify(b[key])}, JSON ${JSON.stringify(j[key])}`);
    }
    if ((b.defaultValue === undefined) !== (j.defaultValue === undefined)) {
      at(`parameter '${name}' has a default on one side only`);
    } else if (b.defaultValue && !same(b.defaultValue, j.defaultValue)) {
      at(
        `parameter '${name}' default: Bicep ${JSON.stringify(b.defaultValue)}, JSON ${JSON.stringify(j.defaultValue)}`,
      );
    }
    if (b.description !== j.description) at(`parameter '${name}' description differs`);
  }

  const jsonOutputs = new Map(armOutputs(template).map((o) => [o.name, o]));
  const bicepOutputs = new Map(bicep.outputs.map((o) => [o.name, o]));
  for (const name of bicepOutputs.keys())
    if (!jsonOutputs.has(name)) at(`output '${name}' missing from the JSON`);
  for (const name of jsonOutputs.keys())
    if (!bicepOutputs.has(name)) at(`output '${name}' missing from the Bicep`);
  for (const [name, b] of bicepOutputs) {
    const j = jsonOutputs.get(name);
    if (j && b.type !== j.type) at(`output '${name}' type: Bicep ${b.type}, JSON ${j.type}`);
    if (j && b.description !== j.description) at(`output '${name}' description differs`);
  }

  const key = (type: string, apiVersion: unknown, conditional: boolean) =>
    `${type.toLowerCase()}@${String(apiVersion)}${conditional ? ' (conditional)' : ''}`;
  const declared = bicep.resources
    .filter((r) => !r.existing)
    .map((r) => key(r.type, r.apiVersion, r.conditional));
  const deployments = resourcesOf(template).filter(
    (r) => String(r.type).toLowerCase() === 'microsoft.resources/deployments',
  );
  const jsonDeclared = resourcesOf(template)
    .filter((r) => String(r.type).toLowerCase() !== 'microsoft.resources/deployments')
    .map((r) => key(String(r.type), r.apiVersion, r.condition !== undefined));
  const sorted = (xs: string[]) => [...xs].sort().join(', ');
  if (sorted(declared) !== sorted(jsonDeclared)) {
    at(`resources differ: Bicep [${sorted(declared)}], JSON [${sorted(jsonDeclared)}]`);
  }
  if (deployments.length !== bicep.modules.length) {
    at(
      `${bicep.modules.length} module(s) in the Bicep but ${deployments.length} nested deployment(s) in the JSON`,
    );
  }
  bicep.modules.forEach((m, index) => {
    const deployment = deployments[index];
    const moduleFile = moduleFiles[m.path];
    if (!deployment) return;
    if (!moduleFile) {
      at(`module '${m.symbol}': no parsed Bicep for '${m.path}'`);
      return;
    }
    const properties = (deployment.properties ?? {}) as Record<string, unknown>;
    const inner = properties.template as ArmTemplate | undefined;
    if (!inner) {
      at(`module '${m.symbol}': nested deployment has no inline template`);
      return;
    }
    problems.push(
      ...compareTwins(moduleFile, inner, moduleFiles, `${where ? `${where} > ` : ''}module ${m.symbol}`),
    );
  });

  const jsonVars = template.variables ?? {};
  for (const [name, value] of Object.entries(bicep.stringVars)) {
    if (!(name in jsonVars)) at(`variable '${name}' missing from the JSON`);
    else if (jsonVars[name] !== value) at(`variable '${name}' differs between the Bicep and the JSON`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------
// ARM expressions

export type Expr =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'call'; name: string; args: Expr[] }
  | { kind: 'property'; target: Expr; name: string }
  | { kind: 'index'; target: Expr; index: Expr };

/** Parses the inside of an ARM template expression (the text between the outer brackets). */
export function parseExpression(text: string): Expr {
  let i = 0;
  const fail = (message: string): never => {
    throw new TemplateParityError('ARM.EXPRESSION', `${message} at ${i} in [${text}]`);
  };
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const primary = (): Expr => {
    ws();
    const c = text[i];
    if (c === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) fail('unterminated string');
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          return { kind: 'string', value };
        }
        value += text[i++];
      }
    }
    const num = /^-?[0-9]+/.exec(text.slice(i));
    if (num) {
      i += num[0].length;
      return { kind: 'number', value: Number(num[0]) };
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (!ident) return fail('expected a value');
    i += ident[0].length;
    ws();
    if (text[i] !== '(') fail(`'${ident[0]}' is not a function call`);
    i++;
    const args: Expr[] = [];
    ws();
    if (text[i] === ')') {
      i++;
    } else {
      for (;;) {
        args.push(expr());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ')') {
          i++;
          break;
        }
        fail("expected ',' or ')'");
      }
    }
    return { kind: 'call', name: ident[0], args };
  };
  const expr = (): Expr => {
    let e = primary();
    for (;;) {
      ws();
      if (text[i] === '.') {
        i++;
        const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
        if (!name) fail('expected a property name');
        i += name![0].length;
        e = { kind: 'property', target: e, name: name![0] };
      } else if (text[i] === '[') {
        i++;
        const index = expr();
        ws();
        if (text[i] !== ']') fail("expected ']'");
        i++;
        e = { kind: 'index', target: e, index };
      } else {
        return e;
      }
    }
  };
  const result = expr();
  ws();
  if (i !== text.length) fail('unexpected text');
  return result;
}

/** A canonical text for an expression, so equal expressions compare equal whatever their layout. */
export function printExpression(e: Expr): string {
  switch (e.kind) {
    case 'string':
      return `'${e.value.replace(/'/g, "''")}'`;
    case 'number':
      return String(e.value);
    case 'call':
      return `${e.name.toLowerCase()}(${e.args.map(printExpression).join(', ')})`;
    case 'property':
      return `${printExpression(e.target)}.${e.name}`;
    case 'index':
      return `${printExpression(e.target)}[${printExpression(e.index)}]`;
  }
}

function calls(e: Expr, out: Extract<Expr, { kind: 'call' }>[] = []): Extract<Expr, { kind: 'call' }>[] {
  if (e.kind === 'call') {
    out.push(e);
    e.args.forEach((a) => calls(a, out));
  } else if (e.kind === 'property') {
    calls(e.target, out);
  } else if (e.kind === 'index') {
    calls(e.target, out);
    calls(e.index, out);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Reference checks

interface Declared {
  type: string;
  /** Canonical text of each name segment. */
  names: string[];
  literalName?: string;
  properties: Record<string, unknown>;
}

/** Splits a resource name (literal or expression) into canonical segments. */
function nameSegments(name: unknown): string[] {
  if (typeof name !== 'string') return [JSON.stringify(name)];
  if (!isExpression(name)) return name.split('/').map((s) => printExpression({ kind: 'string', value: s }));
  const e = parseExpression(name.slice(1, -1));
  if (e.kind === 'call' && e.name.toLowerCase() === 'format' && e.args[0]?.kind === 'string') {
    return formatSegments(e.args[0].value, e.args.slice(1)) ?? [printExpression(e)];
  }
  return [printExpression(e)];
}

/** 'a/{0}/{1}' with args → ["'a'", arg0, arg1]; undefined when a piece mixes text and placeholders. */
function formatSegments(format: string, args: Expr[]): string[] | undefined {
  const out: string[] = [];
  for (const piece of format.split('/')) {
    const placeholder = /^\{(\d+)\}$/.exec(piece);
    if (placeholder) {
      const arg = args[Number(placeholder[1])];
      if (!arg) return undefined;
      out.push(printExpression(arg));
    } else if (!/[{}]/.test(piece)) {
      out.push(printExpression({ kind: 'string', value: piece }));
    } else {
      return undefined;
    }
  }
  return out;
}

const TYPE_PATTERN = /^[A-Za-z][\w-]*\.[\w.-]+(\/[\w-]+)+$/;

/** The type and name segments a resourceId-family call names, or an error text. */
function referencedResource(
  call: Extract<Expr, { kind: 'call' }>,
): { type: string; names: string[] } | string {
  const fn = call.name.toLowerCase();
  const args = fn === 'extensionresourceid' ? call.args.slice(1) : call.args;
  const typeIndex = args.findIndex((a) => a.kind === 'string' && TYPE_PATTERN.test(a.value));
  if (typeIndex < 0) return `${call.name}() without a literal resource type`;
  const typeArg = args[typeIndex] as { kind: 'string'; value: string };
  return { type: typeArg.value, names: args.slice(typeIndex + 1).map(printExpression) };
}

export interface CheckOptions {
  /** Resource types the Bicep declares `existing` (referenced, not deployed by this template). */
  existingTypes?: string[];
}

/**
 * Checks a JSON template's references: every `parameters('x')` and `variables('x')` names a declared
 * one (and every declared one is used), every resourceId-family call, `dependsOn` entry and extension
 * `scope` names a resource the template declares (or a sub-resource of one, a built-in, or a type the
 * Bicep declares `existing`), only ALLOWED_FUNCTIONS appear, and `reference()` stays out of variables.
 * Nested deployments with inner scope are checked as templates of their own.
 */
export function checkTemplate(template: ArmTemplate, options: CheckOptions = {}, where = ''): string[] {
  const problems: string[] = [];
  const at = (path: string, s: string) => problems.push(`${where}${path}: ${s}`);
  const existing = new Set((options.existingTypes ?? []).map((t) => t.toLowerCase()));
  const params = new Set(Object.keys(template.parameters ?? {}));
  const vars = new Set(Object.keys(template.variables ?? {}));
  const usedParams = new Set<string>();
  const usedVars = new Set<string>();

  const declared: Declared[] = [];
  resourcesOf(template).forEach((r, index) => {
    try {
      declared.push({
        type: String(r.type),
        names: nameSegments(r.name),
        literalName: typeof r.name === 'string' && !isExpression(r.name) ? r.name : undefined,
        properties: (r.properties ?? {}) as Record<string, unknown>,
      });
    } catch (err) {
      at(`resources[${index}].name`, (err as Error).message);
    }
  });

  const resolve = (ref: { type: string; names: string[] }, allowSubResource: boolean): string | undefined => {
    const type = ref.type.toLowerCase();
    if (BUILT_IN_TYPES.has(type) || existing.has(type)) {
      return allowSubResource ? undefined : `'${ref.type}' is not deployed by this template`;
    }
    const exact = declared.find((d) => d.type.toLowerCase() === type && same(d.names, ref.names));
    if (exact) return undefined;
    if (allowSubResource) {
      // A sub-resource declared inline, e.g. loadBalancers/probes named in the load balancer's properties.
      const typeParts = ref.type.split('/');
      const child = typeParts[typeParts.length - 1]!;
      const parentType = typeParts.slice(0, -1).join('/').toLowerCase();
      const parent = declared.find(
        (d) => d.type.toLowerCase() === parentType && same(d.names, ref.names.slice(0, -1)),
      );
      const items = parent?.properties[child];
      const last = ref.names[ref.names.length - 1];
      if (Array.isArray(items)) {
        const named = items.some((item) => {
          const n = (item as { name?: unknown }).name;
          return typeof n === 'string' && printExpression({ kind: 'string', value: n }) === last;
        });
        if (named || !last?.startsWith("'")) return undefined;
      }
    }
    return `${ref.type}(${ref.names.join(', ')}) names no resource declared in the template`;
  };

  const checkExpression = (text: string, path: string, inVariables: boolean) => {
    let e: Expr;
    try {
      e = parseExpression(text);
    } catch (err) {
      at(path, (err as Error).message);
      return;
    }
    for (const c of calls(e)) {
      const fn = c.name.toLowerCase();
      if (!ALLOWED_FUNCTIONS.has(fn))
        at(path, `function ${c.name}() is not one the local ARM emulator evaluates`);
      if (fn === 'parameters' || fn === 'variables') {
        const arg = c.args[0];
        if (c.args.length !== 1 || arg?.kind !== 'string') {
          at(path, `${c.name}() needs one literal name`);
          continue;
        }
        const known = fn === 'parameters' ? params : vars;
        (fn === 'parameters' ? usedParams : usedVars).add(arg.value);
        if (!known.has(arg.value)) at(path, `${c.name}('${arg.value}') is not declared`);
      }
      if (fn === 'resourceid' || fn === 'subscriptionresourceid' || fn === 'extensionresourceid') {
        const ref = referencedResource(c);
        const problem = typeof ref === 'string' ? ref : resolve(ref, true);
        if (problem) at(path, problem);
      }
      if (fn === 'reference' && inVariables) at(path, 'reference() cannot be used in variables');
      if (fn === 'reference' && c.args[0]?.kind === 'string') {
        at(path, 'reference() by bare name: use a resourceId() so the target is checked');
      }
    }
  };

  const visit = (value: unknown, path: string, inVariables = false): void => {
    if (typeof value === 'string') {
      if (isExpression(value)) checkExpression(value.slice(1, -1), path, inVariables);
      // ARM would take it as a literal string: almost certainly a broken expression.
      else if (value.startsWith('[') && !value.startsWith('[[')) at(path, `unterminated expression ${value}`);
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, `${path}[${i}]`, inVariables));
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (isExpression(k)) checkExpression(k.slice(1, -1), `${path} key ${k}`, inVariables);
        visit(v, `${path}.${k}`, inVariables);
      }
    }
  };

  // A dependsOn entry or scope must name a resource this template deploys (scopes may name existing ones).
  const checkTarget = (value: unknown, path: string, mayBeExisting: boolean) => {
    if (typeof value !== 'string') return at(path, 'must be a string');
    if (!isExpression(value)) {
      if (!declared.some((d) => d.literalName === value))
        at(path, `'${value}' names no resource declared in the template`);
      return;
    }
    let e: Expr;
    try {
      e = parseExpression(value.slice(1, -1));
    } catch (err) {
      return at(path, (err as Error).message);
    }
    let ref: { type: string; names: string[] } | string;
    if (
      e.kind === 'call' &&
      ['resourceid', 'subscriptionresourceid', 'extensionresourceid'].includes(e.name.toLowerCase())
    ) {
      ref = referencedResource(e);
    } else if (e.kind === 'call' && e.name.toLowerCase() === 'format' && e.args[0]?.kind === 'string') {
      // Bicep's relative scope form: format('Microsoft.KeyVault/vaults/{0}', name).
      const segments = formatSegments(e.args[0].value, e.args.slice(1));
      ref = segments && segments.length >= 3 ? scopeReference(segments) : `unrecognised scope ${value}`;
    } else {
      ref = `${value} does not name a resource`;
    }
    if (typeof ref === 'string') return at(path, ref);
    const type = ref.type.toLowerCase();
    if (mayBeExisting && existing.has(type)) return;
    const problem = resolve(ref, false);
    if (problem) at(path, problem);
  };

  visit(template.parameters, 'parameters');
  visit(template.variables, 'variables', true);
  visit(template.outputs, 'outputs');
  resourcesOf(template).forEach((r, index) => {
    const path = `resources[${index}]`;
    const isDeployment = String(r.type).toLowerCase() === 'microsoft.resources/deployments';
    const properties = (r.properties ?? {}) as Record<string, unknown>;
    const inner = isDeployment ? (properties.template as ArmTemplate | undefined) : undefined;
    const innerScope = (properties.expressionEvaluationOptions as { scope?: string } | undefined)?.scope;
    for (const [k, v] of Object.entries(r)) {
      if (k === 'dependsOn') {
        if (!Array.isArray(v)) at(`${path}.dependsOn`, 'must be an array');
        else v.forEach((d, i) => checkTarget(d, `${path}.dependsOn[${i}]`, false));
        visit(v, `${path}.dependsOn`);
      } else if (k === 'scope') {
        checkTarget(v, `${path}.scope`, true);
        visit(v, `${path}.scope`);
      } else if (k === 'properties' && inner && innerScope === 'inner') {
        const { template: _inner, ...rest } = properties;
        visit(rest, `${path}.properties`);
        problems.push(...checkTemplate(inner, options, `${where}${path}.properties.template > `));
        const innerParams = inner.parameters ?? {};
        const passed = (properties.parameters ?? {}) as Record<string, unknown>;
        for (const name of Object.keys(passed)) {
          if (!(name in innerParams))
            at(`${path}.properties.parameters`, `'${name}' is not a parameter of the inner template`);
        }
        for (const [name, def] of Object.entries(innerParams)) {
          if (!('defaultValue' in def) && !(name in passed)) {
            at(`${path}.properties.parameters`, `required inner parameter '${name}' is not passed`);
          }
        }
      } else if (k === 'properties' && inner) {
        at(`${path}.properties`, 'nested deployments must use expressionEvaluationOptions.scope inner');
      } else {
        visit(v, `${path}.${k}`);
      }
    }
  });

  for (const p of params) if (!usedParams.has(p)) at('parameters', `'${p}' is never used`);
  for (const v of vars) if (!usedVars.has(v)) at('variables', `'${v}' is never used`);
  return problems;
}

/** ["'Microsoft.KeyVault'", "'vaults'", name, ...] → type Microsoft.KeyVault/vaults, names [name]. */
function scopeReference(segments: string[]): { type: string; names: string[] } | string {
  const literal = (s: string) =>
    s.startsWith("'") && s.endsWith("'") ? s.slice(1, -1).replace(/''/g, "'") : undefined;
  const namespace = literal(segments[0]!);
  if (!namespace) return 'scope must start with a literal provider namespace';
  const typeParts = [namespace];
  const names: string[] = [];
  for (let i = 1; i < segments.length; i += 2) {
    const t = literal(segments[i]!);
    const n = segments[i + 1];
    if (!t || n === undefined) return 'scope must alternate literal types and names';
    typeParts.push(t);
    names.push(n);
  }
  return { type: typeParts.join('/'), names };
}
