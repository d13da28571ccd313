import fc from 'fast-check';
import {
  compareSpecificity,
  compileRoute,
  matchRoute,
  RouteTemplateError,
  type CompiledRoute,
} from './routes';

function match(template: string, path: string): Record<string, string> | undefined {
  return matchRoute(compileRoute(template), path);
}

function templateError(template: string): RouteTemplateError {
  try {
    compileRoute(template);
  } catch (e) {
    expect(e).toBeInstanceOf(RouteTemplateError);
    return e as RouteTemplateError;
  }
  throw new Error(`compileRoute(${JSON.stringify(template)}) did not throw`);
}

/** The templates sorted most specific first, as the host orders its route table. */
function ordered(templates: string[]): string[] {
  return templates
    .map((t) => compileRoute(t))
    .sort(compareSpecificity)
    .map((r) => r.template);
}

/** The template the host would pick for `path`: the first match in specificity order. */
function winner(templates: string[], path: string): string | undefined {
  const routes: CompiledRoute[] = templates.map((t) => compileRoute(t)).sort(compareSpecificity);
  return routes.find((r) => matchRoute(r, path) !== undefined)?.template;
}

describe('literal segments', () => {
  it('match case-insensitively and yield no parameters', () => {
    expect(match('api/Members', 'API/members')).toEqual({});
    expect(match('api/members', 'api/MEMBERS')).toEqual({});
  });

  it('do not match other text', () => {
    expect(match('api/members', 'api/member')).toBeUndefined();
    expect(match('api/members', 'api/membersx')).toBeUndefined();
    expect(match('api/members', 'apix/members')).toBeUndefined();
  });

  it('ignore leading and trailing slashes on the path and on the template', () => {
    expect(match('api/members', '/api/members/')).toEqual({});
    expect(match('api/members', '//api/members//')).toEqual({});
    expect(match('/api/members/', 'api/members')).toEqual({});
  });

  it('refuse too many and too few segments', () => {
    expect(match('api/members', 'api/members/extra')).toBeUndefined();
    expect(match('api/members', 'api')).toBeUndefined();
    expect(match('api/members', '')).toBeUndefined();
  });

  it('refuse an empty segment in the path', () => {
    expect(match('a/{x}/b', 'a//b')).toBeUndefined();
  });

  it('treat regex characters in literals as plain text', () => {
    expect(match('a.b/c+d', 'a.b/c+d')).toEqual({});
    expect(match('a.b/c+d', 'axb/ccd')).toBeUndefined();
  });

  it('unescape {{ and }} to literal braces', () => {
    expect(match('lit/a{{b}}', 'lit/a{b}')).toEqual({});
    expect(match('lit/a{{b}}', 'lit/ab')).toBeUndefined();
  });

  it('let an empty template match only the root', () => {
    expect(match('', '')).toEqual({});
    expect(match('', '/')).toEqual({});
    expect(match('', 'a')).toBeUndefined();
  });
});

describe('parameters', () => {
  it('capture one segment each, keeping their case', () => {
    expect(match('api/members/{id}/keys/{keyId}', 'api/members/Alice/keys/K1')).toEqual({
      id: 'Alice',
      keyId: 'K1',
    });
  });

  it('decode URL-encoded values', () => {
    expect(match('files/{name}', 'files/a%20b')).toEqual({ name: 'a b' });
    expect(match('files/{name}', 'files/caf%C3%A9')).toEqual({ name: 'café' });
    expect(match('files/{name}', 'files/100%25')).toEqual({ name: '100%' });
    expect(match('files/{name}', 'files/a+b')).toEqual({ name: 'a+b' });
  });

  it('keep an encoded slash inside its segment', () => {
    expect(match('files/{name}', 'files/a%2Fb')).toEqual({ name: 'a/b' });
    expect(match('files/{name}', 'files/a/b')).toBeUndefined();
  });

  it('keep a value that is not valid percent-encoding as it is', () => {
    expect(match('files/{name}', 'files/%E0%A4%A')).toEqual({ name: '%E0%A4%A' });
  });

  it('match with a trailing slash on the path', () => {
    expect(match('members/{id}', 'members/42/')).toEqual({ id: '42' });
  });

  it('refuse a path with a segment too many or too few', () => {
    expect(match('members/{id}', 'members/42/extra')).toBeUndefined();
    expect(match('members/{id}', 'members')).toBeUndefined();
    expect(match('members/{id}', 'members/')).toBeUndefined();
  });

  it('round-trip any value through encodeURIComponent', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' }),
        fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' }),
        (a, b) => {
          const path = `/api/${encodeURIComponent(a)}/x/${encodeURIComponent(b)}/`;
          expect(match('api/{a}/x/{b}', path)).toEqual({ a, b });
        },
      ),
    );
  });
});

describe('optional parameters and defaults', () => {
  it('{param?} is absent when its segment is missing', () => {
    expect(match('echo/{id}/{rest?}', 'echo/1')).toEqual({ id: '1' });
    expect(match('echo/{id}/{rest?}', 'echo/1/')).toEqual({ id: '1' });
    expect(match('echo/{id}/{rest?}', 'echo/1/two')).toEqual({ id: '1', rest: 'two' });
    expect(match('echo/{id}/{rest?}', 'echo/1/two/three')).toBeUndefined();
  });

  it('{param=default} takes the default when missing and the value when present', () => {
    expect(match('docs/{lang=en}', 'docs')).toEqual({ lang: 'en' });
    expect(match('docs/{lang=en}', 'docs/fr')).toEqual({ lang: 'fr' });
  });

  it('allows several optional segments at the end', () => {
    const route = compileRoute('d/{y?}/{m?}/{day?}');
    expect(matchRoute(route, 'd')).toEqual({});
    expect(matchRoute(route, 'd/2026')).toEqual({ y: '2026' });
    expect(matchRoute(route, 'd/2026/01/31')).toEqual({ y: '2026', m: '01', day: '31' });
  });

  it('checks constraints on an optional value only when it is there', () => {
    expect(match('p/{n:int?}', 'p')).toEqual({});
    expect(match('p/{n:int?}', 'p/7')).toEqual({ n: '7' });
    expect(match('p/{n:int?}', 'p/x')).toBeUndefined();
  });

  it('accepts a constraint and a default together', () => {
    expect(match('p/{n:int=5}', 'p')).toEqual({ n: '5' });
    expect(match('p/{n:int=5}', 'p/6')).toEqual({ n: '6' });
    expect(match('p/{n:int=5}', 'p/six')).toBeUndefined();
  });
});

describe('constraints', () => {
  it.each<[string, string[], string[]]>([
    [
      'int',
      ['0', '42', '-5', '+7', '007', '2147483647', '-2147483648'],
      ['2147483648', '-2147483649', '1.5', '1e3', 'abc', '12a', '0x10'],
    ],
    ['INT', ['42'], ['abc']],
    [
      'long',
      ['2147483648', '9223372036854775807', '-9223372036854775808', '+5'],
      ['9223372036854775808', '-9223372036854775809', '1.5', 'abc'],
    ],
    ['bool', ['true', 'false', 'TRUE', 'False'], ['yes', '1', '0', 'truee']],
    [
      'datetime',
      ['2026-01-31', '2026-01-31T10%3A00%3A00Z', '2026-01-31 10:00', '1%2F31%2F2026', 'Jan 31 2026'],
      ['7', '2026', '1.5', 'foo 2', 'abc', '2026-13-01', 'tomorrow'],
    ],
    ['decimal', ['1.5', '-2', '+3.25', '.5', '10'], ['abc', '1.2.3', '1,5', '']],
    ['double', ['1.5', '1e3', '-2.5E-3'], ['1e', 'e3', 'NaN', 'Infinity']],
    ['float', ['0.1', '3'], ['one']],
    [
      'guid',
      [
        'd3b07384-d9a0-4c9b-8f6e-1a2b3c4d5e6f',
        'D3B07384-D9A0-4C9B-8F6E-1A2B3C4D5E6F',
        'd3b07384d9a04c9b8f6e1a2b3c4d5e6f',
        '%7Bd3b07384-d9a0-4c9b-8f6e-1a2b3c4d5e6f%7D',
      ],
      ['d3b07384-d9a0-4c9b-8f6e-1a2b3c4d5e6', 'g3b07384-d9a0-4c9b-8f6e-1a2b3c4d5e6f', '42'],
    ],
    ['alpha', ['abc', 'ABCxyz'], ['abc1', 'a-b', 'caf%C3%A9', 'a%20b']],
    ['required', ['x'], []],
    ['minlength(3)', ['abc', 'abcdef'], ['ab', 'a']],
    ['maxlength(3)', ['a', 'abc'], ['abcd']],
    ['length(3)', ['abc'], ['ab', 'abcd']],
    ['length(2,4)', ['ab', 'abc', 'abcd'], ['a', 'abcde']],
    ['length(2, 4)', ['ab', 'abcd'], ['a', 'abcde']],
    ['min(10)', ['10', '11', '999'], ['9', '-10', 'ten']],
    ['max(10)', ['10', '-3', '0'], ['11', 'ten']],
    ['min(-5)', ['-5', '0'], ['-6']],
    ['range(1,5)', ['1', '3', '5'], ['0', '6', 'x']],
    ['range(-5,-1)', ['-5', '-1'], ['0', '-6']],
    ['alpha:maxlength(5)', ['abcde'], ['abcdef', 'ab1']],
  ])('{v:%s}', (constraint, accepted, rejected) => {
    const route = compileRoute(`c/{v:${constraint}}`);
    for (const value of accepted) {
      expect([value, matchRoute(route, `c/${value}`)]).toEqual([value, { v: decodeURIComponent(value) }]);
    }
    for (const value of rejected) {
      expect([value, matchRoute(route, `c/${value}`)]).toEqual([value, undefined]);
    }
  });

  it('regex: braces escaped as {{ }}, case-insensitive', () => {
    const route = compileRoute('codes/{code:regex(^[A-Z]{{3}}-\\d+$)}');
    expect(matchRoute(route, 'codes/ABC-12')).toEqual({ code: 'ABC-12' });
    expect(matchRoute(route, 'codes/abc-12')).toEqual({ code: 'abc-12' });
    expect(matchRoute(route, 'codes/AB-12')).toBeUndefined();
    expect(matchRoute(route, 'codes/ABCD-12')).toBeUndefined();
    expect(matchRoute(route, 'codes/ABC-')).toBeUndefined();
  });

  it('regex: is not anchored unless the expression says so, as in ASP.NET Core', () => {
    expect(match('r/{v:regex(ab)}', 'r/xaby')).toEqual({ v: 'xaby' });
    expect(match('r/{v:regex(ab)}', 'r/ba')).toBeUndefined();
  });

  it('regex: may hold parentheses, escaped or nested', () => {
    expect(match('r/{v:regex(^(a|b)+$)}', 'r/abba')).toEqual({ v: 'abba' });
    expect(match('r/{v:regex(^(a|b)+$)}', 'r/abc')).toBeUndefined();
    expect(match('r/{v:regex(^\\(x\\)$)}', 'r/(x)')).toEqual({ v: '(x)' });
  });

  it('regex: is tested against the decoded value', () => {
    expect(match('r/{v:regex(^a b$)}', 'r/a%20b')).toEqual({ v: 'a b' });
  });

  it('all constraints on a parameter must pass', () => {
    const route = compileRoute('c/{v:int:range(1,10):maxlength(1)}');
    expect(matchRoute(route, 'c/7')).toEqual({ v: '7' });
    expect(matchRoute(route, 'c/10')).toBeUndefined();
    expect(matchRoute(route, 'c/0')).toBeUndefined();
  });
});

describe('catch-all parameters', () => {
  it.each(['{*path}', '{**path}'])('%s takes the rest of the path, slashes included', (param) => {
    const route = compileRoute(`things/{id:guid}/${param}`);
    const id = 'd3b07384-d9a0-4c9b-8f6e-1a2b3c4d5e6f';
    expect(matchRoute(route, `things/${id}/a/b/c`)).toEqual({ id, path: 'a/b/c' });
    expect(matchRoute(route, `things/${id}/a/b/c/`)).toEqual({ id, path: 'a/b/c' });
    expect(matchRoute(route, `things/${id}/one`)).toEqual({ id, path: 'one' });
    expect(matchRoute(route, `things/${id}`)).toEqual({ id });
    expect(matchRoute(route, 'things/not-a-guid/a')).toBeUndefined();
  });

  it('decodes the captured path', () => {
    expect(match('f/{*path}', 'f/a%20b/c%2Fd')).toEqual({ path: 'a b/c/d' });
  });

  it('takes its default when the rest is empty', () => {
    expect(match('site/{*path=index.html}', 'site')).toEqual({ path: 'index.html' });
    expect(match('site/{*path=index.html}', 'site/about')).toEqual({ path: 'about' });
  });

  it('tests constraints against the whole rest', () => {
    expect(match('f/{*path:maxlength(3)}', 'f/a/b')).toEqual({ path: 'a/b' });
    expect(match('f/{*path:maxlength(3)}', 'f/a/bc')).toBeUndefined();
    expect(match('f/{*path:required}', 'f')).toBeUndefined();
  });

  it('does not match when the segments before it do not', () => {
    expect(match('f/{*path}', 'g/a/b')).toBeUndefined();
  });
});

describe('complex segments (literal text around parameters)', () => {
  it('split at the last delimiter, as ASP.NET Core does', () => {
    expect(match('files/{name}.{ext}', 'files/report.pdf')).toEqual({ name: 'report', ext: 'pdf' });
    expect(match('files/{name}.{ext}', 'files/report.final.pdf')).toEqual({
      name: 'report.final',
      ext: 'pdf',
    });
    expect(match('r/{a}-{b}-{c}', 'r/1-2-3-4')).toEqual({ a: '1-2', b: '3', c: '4' });
  });

  it('need a non-empty value for each parameter', () => {
    expect(match('files/{name}.{ext}', 'files/report')).toBeUndefined();
    expect(match('files/{name}.{ext}', 'files/.pdf')).toBeUndefined();
    expect(match('files/{name}.{ext}', 'files/report.')).toBeUndefined();
  });

  it('match the literal part case-insensitively and apply constraints', () => {
    expect(match('api/v{major:int}', 'api/V2')).toEqual({ major: '2' });
    expect(match('api/v{major:int}', 'api/vx')).toBeUndefined();
    expect(match('api/v{major:int}', 'api/2')).toBeUndefined();
  });
});

describe('template errors', () => {
  it.each<[string, RegExp]>([
    ['a/{id:foo}', /unknown constraint "foo"/],
    ['a/{id', /unclosed "\{"/],
    ['a/{id:regex(^x{{2}}$)', /unclosed "\{"/],
    ['a/id}', /unmatched "\}"/],
    ['a/{id}/b/{id}', /parameter "id" appears twice/],
    ['a/{id}/b/{ID}', /parameter "ID" appears twice/],
    ['{*rest}/a', /catch-all "\{\*rest\}" must be the last segment/],
    ['{**rest}/{x}', /catch-all "\{\*rest\}" must be the last segment/],
    ['a/{x?}/b', /only the last segments may be optional/],
    ['a/{x=1}/{y}', /only the last segments may be optional/],
    ['a/{x?}/{y:int}', /only the last segments may be optional/],
    ['a/{x}{y}', /two parameters in a row/],
    ['a/pre{x}{y}post', /two parameters in a row/],
    ['a/{x:minlength}', /constraint "minlength" needs 1 integer argument/],
    ['a/{x:minlength(x)}', /constraint "minlength" needs 1 integer argument/],
    ['a/{x:length(1,2,3)}', /constraint "length" needs 1 or 2 integer argument/],
    ['a/{x:range(1)}', /constraint "range" needs 2 integer argument/],
    ['a/{x:regex}', /constraint "regex" needs an expression/],
    ['a/{x:regex([)}', /bad regex constraint/],
    ['a/{x:regex(a}', /unclosed "\("/],
    ['a//b', /empty segment/],
    ['a/{1x}', /bad parameter "\{1x\}"/],
    ['a/{}', /bad parameter "\{\}"/],
    ['a/{x!}', /unexpected "!"/],
    ['a/{x:}', /bad constraint/],
    ['a/x{*rest}', /must be alone in its segment/],
    ['a/{name}.{ext?}', /must be alone in its segment/],
    ['a/file.{ext?}', /must be alone in its segment/],
  ])('%s', (template, message) => {
    const err = templateError(template);
    expect(err.name).toBe('RouteTemplateError');
    expect(err.template).toBe(template);
    expect(err.message).toMatch(message);
    expect(err.message.startsWith(`Route template "${template}": `)).toBe(true);
  });

  it.each(['a/{id}/{*rest}', 'a/{x?}/{y?}', 'a/{x?}/{*rest}', 'a/{id:int}.{fmt}', 'a/{**rest}', '{id}'])(
    'accepts %s',
    (template) => {
      expect(compileRoute(template).template).toBe(template);
    },
  );
});

describe('compareSpecificity', () => {
  it('orders literal, constrained, plain, optional, catch-all', () => {
    expect(ordered(['a/{*rest}', 'a/{id?}', 'a/{id}', 'a/{id:int}', 'a/b'])).toEqual([
      'a/b',
      'a/{id:int}',
      'a/{id}',
      'a/{id?}',
      'a/{*rest}',
    ]);
  });

  it('decides by the first segment that differs', () => {
    expect(ordered(['{x}/b', 'a/{*rest}'])).toEqual(['a/{*rest}', '{x}/b']);
    expect(ordered(['a/{x}/c', 'a/b/{*rest}'])).toEqual(['a/b/{*rest}', 'a/{x}/c']);
    expect(ordered(['a/{x:int}/{y}', 'a/{x:int}/c'])).toEqual(['a/{x:int}/c', 'a/{x:int}/{y}']);
  });

  it('puts a route that ends before one whose extra segments are optional', () => {
    expect(ordered(['a/{*rest}', 'a/{id?}', 'a'])).toEqual(['a', 'a/{id?}', 'a/{*rest}']);
    expect(winner(['a/{*rest}', 'a'], 'a')).toBe('a');
    expect(winner(['a/{id?}', 'a'], '/a/')).toBe('a');
  });

  it('ranks a complex segment with constrained parameters, ahead of a plain one', () => {
    expect(ordered(['files/{id}', 'files/{name}.{ext}'])).toEqual(['files/{name}.{ext}', 'files/{id}']);
    expect(winner(['files/{id}', 'files/{name}.{ext}'], 'files/a.txt')).toBe('files/{name}.{ext}');
  });

  it('routes each request to the most specific template that matches', () => {
    const table = [
      'items/{*rest}',
      'items/{name:alpha:maxlength(5)}',
      'items/{n:int}',
      'items/special',
      'items/{x}',
    ];
    expect(winner(table, 'items/special')).toBe('items/special');
    expect(winner(table, 'items/SPECIAL')).toBe('items/special');
    expect(winner(table, 'items/42')).toBe('items/{n:int}');
    expect(winner(table, 'items/abc')).toBe('items/{name:alpha:maxlength(5)}');
    expect(winner(table, 'items/abcdef')).toBe('items/{x}');
    expect(winner(table, 'items/a/b')).toBe('items/{*rest}');
    expect(winner(table, 'items')).toBe('items/{*rest}');
    expect(winner(table, 'other')).toBeUndefined();
  });

  it('is zero for equally specific routes and antisymmetric otherwise', () => {
    const templates = ['a', 'a/b', 'a/{x}', 'a/{x:int}', 'a/{x?}', 'a/{*r}', '{x}', '{x}/b', 'a/b/c', ''];
    const routes = templates.map((t) => compileRoute(t));
    expect(compareSpecificity(compileRoute('a/{x}'), compileRoute('b/{y}'))).toBe(0);
    for (const a of routes) {
      expect(compareSpecificity(a, a)).toBe(0);
      for (const b of routes) {
        expect(Math.sign(compareSpecificity(a, b)) + Math.sign(compareSpecificity(b, a))).toBe(0);
      }
    }
  });
});
