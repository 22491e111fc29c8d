import { describe, expect, it } from 'vitest';
import { checkShape, MAX_DEPTH, parseJson } from './messageShape.js';

const code = (text: string) => {
  try {
    checkShape(parseJson(text));
    return 'ok';
  } catch (err) {
    return `${(err as { code: string }).code}: ${(err as Error).message}`;
  }
};

describe('message shape', () => {
  it('passes a protocol message', () => {
    expect(code('{"id":1,"method":"auth","data":{"token":"x"}}')).toBe('ok');
  });

  it('refuses text that is not JSON', () => {
    expect(code('{"id": 2, "method": ')).toBe('E_BAD_JSON: the message is not valid JSON');
  });

  it('refuses keys named like Object.prototype members, at any depth', () => {
    for (const key of ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__']) {
      expect(code(`{"id":1,"method":"consume","data":{"a":[{"${key}":1}]}}`)).toBe(
        `E_BAD_REQUEST: the key "${key}" is not allowed`,
      );
    }
    expect(code('{"id":1,"method":"constructor","data":{}}')).toBe('ok'); // a value: the method lookup refuses it
  });

  it('refuses deep nesting without overflowing the stack', () => {
    expect(code(`${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}`)).toBe('ok');
    const deep = 100_000;
    expect(code(`${'['.repeat(deep)}${']'.repeat(deep)}`)).toMatch(/^E_BAD_REQUEST: the message nests deeper/);
    expect(code(`${'{"a":'.repeat(deep)}1${'}'.repeat(deep)}`)).toMatch(/^E_BAD_REQUEST: the message nests deeper/);
  });
});
