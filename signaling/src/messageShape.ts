// What every client message must be before its schema is checked: JSON, nested no deeper than any
// protocol message needs, and free of keys named like Object.prototype's members ("__proto__").
import { GatewayError } from './errors.js';

/** Deeper than any protocol message (consume's codec parameters sit at depth 5). */
export const MAX_DEPTH = 16;

const PROTOTYPE_KEYS = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new GatewayError('E_BAD_JSON', 'the message is not valid JSON');
  }
}

export function checkShape(msg: unknown): void {
  // Iterative, so a deeply nested message cannot overflow the stack.
  const stack: [unknown, number][] = [[msg, 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [value, depth] = item;
    if (!value || typeof value !== 'object') continue;
    if (depth >= MAX_DEPTH)
      throw new GatewayError('E_BAD_REQUEST', `the message nests deeper than ${MAX_DEPTH} levels`);
    for (const key of Object.keys(value)) {
      if (PROTOTYPE_KEYS.has(key)) throw new GatewayError('E_BAD_REQUEST', `the key "${key}" is not allowed`);
      stack.push([(value as Record<string, unknown>)[key], depth + 1]);
    }
  }
}
