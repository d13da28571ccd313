/**
 * ARM template language expressions (`[concat('a', parameters('b'))]`): a tokenizer and parser. Pure; the
 * evaluator lives in template.ts.
 */

export type Expr =
  | { k: 'lit'; v: string | number | boolean | null }
  | { k: 'call'; name: string; args: Expr[] }
  | { k: 'prop'; target: Expr; name: string }
  | { k: 'index'; target: Expr; index: Expr };

/** A template the way ARM refuses one: `InvalidTemplate` and a message naming what is wrong. */
export class TemplateError extends Error {
  readonly code = 'ARM.INVALID_TEMPLATE';
  constructor(
    /** The ARM error code (`InvalidTemplate`, `InvalidTemplateDeployment`, `ResourceNotFound`…). */
    readonly armCode: string,
    message: string,
    /** `validation`: refused before the deployment starts; `runtime`: the deployment fails. */
    readonly phase: 'validation' | 'runtime' = 'validation',
    readonly details?: Array<{ code: string; message: string; target?: string }>,
  ) {
    super(message);
    this.name = 'TemplateError';
  }
}

export function invalidTemplate(message: string): TemplateError {
  return new TemplateError('InvalidTemplate', `Deployment template validation failed: '${message}'.`);
}

type Token =
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'id'; v: string }
  | { t: '(' | ')' | ',' | '.' | '[' | ']' };

function parseError(text: string, detail: string): TemplateError {
  return new TemplateError(
    'InvalidTemplate',
    `Deployment template language expression evaluation failed: 'Unable to parse language expression '${text}': ${detail}'. Please see https://aka.ms/arm-template-expressions for usage details.`,
  );
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let v = '';
      i++;
      for (;;) {
        if (i >= text.length) throw parseError(text, 'the string literal is not terminated');
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            v += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += text[i];
        i++;
      }
      out.push({ t: 'str', v });
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(text[i + 1] ?? ''))) {
      let j = i + 1;
      while (j < text.length && /[0-9]/.test(text[j]!)) j++;
      out.push({ t: 'num', v: Number(text.slice(i, j)) });
      i = j;
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < text.length && /[A-Za-z0-9_$]/.test(text[j]!)) j++;
      out.push({ t: 'id', v: text.slice(i, j) });
      i = j;
    } else if ('(),.[]'.includes(c)) {
      out.push({ t: c as '(' });
      i++;
    } else {
      throw parseError(text, `the character '${c}' at position '${i}' is not expected`);
    }
  }
  return out;
}

/** Parses the inside of `[...]`. */
export function parseExpression(text: string): Expr {
  const tokens = tokenize(text);
  let p = 0;
  const peek = () => tokens[p];
  const expect = (t: Token['t']) => {
    const tok = tokens[p];
    if (!tok || tok.t !== t)
      throw parseError(text, `expected token '${t}' and actual '${tok ? tok.t : 'EndOfData'}'`);
    p++;
    return tok;
  };
  const primary = (): Expr => {
    const tok = tokens[p];
    if (!tok) throw parseError(text, 'the expression is empty or ends too soon');
    p++;
    if (tok.t === 'str') return { k: 'lit', v: tok.v };
    if (tok.t === 'num') return { k: 'lit', v: tok.v };
    if (tok.t === 'id') {
      // Bare true/false/null read as literals (ARM's own functions for them work too).
      const word = tok.v.toLowerCase();
      if (peek()?.t !== '(' && (word === 'true' || word === 'false' || word === 'null'))
        return { k: 'lit', v: word === 'null' ? null : word === 'true' };
      expect('(');
      const args: Expr[] = [];
      if (peek()?.t !== ')') {
        args.push(expression());
        while (peek()?.t === ',') {
          p++;
          args.push(expression());
        }
      }
      expect(')');
      return { k: 'call', name: tok.v, args };
    }
    throw parseError(text, `the token '${tok.t}' is not expected here`);
  };
  const expression = (): Expr => {
    let e = primary();
    for (;;) {
      const tok = peek();
      if (tok?.t === '.') {
        p++;
        const name = expect('id') as { t: 'id'; v: string };
        e = { k: 'prop', target: e, name: name.v };
      } else if (tok?.t === '[') {
        p++;
        const index = expression();
        expect(']');
        e = { k: 'index', target: e, index };
      } else return e;
    }
  };
  const e = expression();
  if (p !== tokens.length) throw parseError(text, `unexpected '${tokens[p]!.t}' after the expression`);
  return e;
}

/** Whether a template string is an expression; `[[` escapes a literal `[`. */
export function expressionText(value: string): string | undefined {
  if (value.length >= 2 && value.startsWith('[') && value.endsWith(']') && !value.startsWith('[['))
    return value.slice(1, -1);
  return undefined;
}

/** A literal string, with ARM's `[[` escape undone. */
export function literalText(value: string): string {
  return value.startsWith('[[') && value.endsWith(']') ? value.slice(1) : value;
}
