// Reads one config file (YAML or JSON) plus environment variables, validates it against the schema,
// fills defaults, and returns the cameras that are valid with a list of the ones that are not.
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { originEntryProblem } from '../signaling/src/origins.js';
import { checkCameraUrlTemplate, encodeUrlComponent, parseCameraUrl } from './cameraUrl.js';
import { type CameraConfig, CameraSchema, type Config, ConfigSchema, type OnvifConfig } from './schema.js';

export class ConfigError extends Error {
  readonly code = 'E_CONFIG';
  constructor(
    readonly file: string,
    readonly field: string,
    reason: string,
  ) {
    super(`${file}: ${field || '(root)'} ${reason}`);
  }
}

export interface CameraProblem {
  index: number;
  id?: string;
  field: string;
  reason: string;
}

export interface LoadedConfig {
  config: Config;
  cameras: CameraConfig[];
  cameraProblems: CameraProblem[];
  file: string;
}

const ajv = new Ajv({ allErrors: false, useDefaults: true, coerceTypes: false, strict: false });
const validateConfig = ajv.compile<Config>(ConfigSchema);
const validateCamera = ajv.compile<CameraConfig>(CameraSchema);

function describe(err: ErrorObject): { field: string; reason: string } {
  const field =
    err.keyword === 'additionalProperties'
      ? `${err.instancePath}/${(err.params as { additionalProperty: string }).additionalProperty}`
      : err.keyword === 'required'
        ? `${err.instancePath}/${(err.params as { missingProperty: string }).missingProperty}`
        : err.instancePath;
  const reason =
    err.keyword === 'additionalProperties'
      ? 'is not a known setting'
      : err.keyword === 'required'
        ? 'is required'
        : (err.message ?? 'is invalid');
  return { field, reason };
}

function setPath(obj: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = obj;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = value;
}

// Environment variables that override the file: secrets and ports belong here, not in the file.
const ENV_OVERRIDES: [string, string[], 'string' | 'int'][] = [
  ['CCTV_HOST', ['server', 'host'], 'string'],
  ['CCTV_PORT', ['server', 'port'], 'int'],
  ['CCTV_PUBLIC_URL', ['server', 'publicUrl'], 'string'],
  ['CCTV_LOG_LEVEL', ['log', 'level'], 'string'],
  ['CCTV_WORKERS', ['media', 'workers'], 'int'],
  ['CCTV_RTC_PORT', ['media', 'rtcPort'], 'int'],
  ['CCTV_LISTEN_IP', ['media', 'listenIp'], 'string'],
  ['CCTV_ANNOUNCED_ADDRESS', ['media', 'announcedAddress'], 'string'],
  ['CCTV_JWT_SECRET', ['auth', 'jwtSecret'], 'string'],
  ['CCTV_JWT_PUBLIC_KEY_FILE', ['auth', 'publicKeyFile'], 'string'],
  ['CCTV_JWT_PRIVATE_KEY_FILE', ['auth', 'privateKeyFile'], 'string'],
  ['CCTV_SESSION_SECRET', ['auth', 'sessions', 'secret'], 'string'],
  ['CCTV_OIDC_CLIENT_SECRET', ['auth', 'oidc', 'clientSecret'], 'string'],
  ['CCTV_USERS_FILE', ['auth', 'accounts', 'file'], 'string'],
  ['CCTV_AUDIT_FILE', ['audit', 'file'], 'string'],
  ['CCTV_AUDIT_KEY', ['audit', 'key'], 'string'],
  ['CCTV_AUDIT_SIGNING_KEY_FILE', ['audit', 'signingKeyFile'], 'string'],
  ['CCTV_REDIS_URL', ['redis', 'url'], 'string'],
  ['CCTV_CLUSTER_REDIS', ['cluster', 'redis'], 'string'],
  ['CCTV_CLUSTER_SECRET', ['cluster', 'secret'], 'string'],
  ['CCTV_INTERNAL_ADDRESS', ['cluster', 'internalAddress'], 'string'],
  ['CCTV_NODE_ID', ['cluster', 'nodeId'], 'string'],
  ['CCTV_TURN_SECRET', ['turn', 'secret'], 'string'],
  ['CCTV_METRICS_TOKEN', ['metrics', 'token'], 'string'],
  ['CCTV_METRICS_HOST', ['metrics', 'listen', 'host'], 'string'],
  ['CCTV_METRICS_PORT', ['metrics', 'listen', 'port'], 'int'],
  ['CCTV_SIM_PORT', ['simulator', 'port'], 'int'],
  ['CCTV_SNAPSHOTTER_BIN', ['snapshots', 'decoderPath'], 'string'],
];

/**
 * `${NAME}` in a camera URL is taken from the environment. The variable holds the value as the camera
 * expects it (plain text, never pre-encoded); it is percent-encoded here, so a password with '@', '/',
 * '#', '%' or spaces is read back exactly (see config/cameraUrl.ts for the rule). The value is never
 * echoed in errors; `invalid` names variables whose value cannot be encoded (not well-formed text).
 */
export function interpolateEnv(
  value: string,
  env: NodeJS.ProcessEnv,
): { value: string; missing: string[]; invalid: string[] } {
  const missing: string[] = [];
  const invalid: string[] = [];
  const out = value.replace(/\$\{([A-Z0-9_]+)\}/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) {
      missing.push(name);
      return '';
    }
    try {
      return encodeUrlComponent(v);
    } catch {
      invalid.push(name);
      return '';
    }
  });
  return { value: out, missing, invalid };
}

/**
 * Checks one camera URL and fills in its `${NAME}`s: the rule on raw characters is checked on the
 * text as written (a password pasted unencoded is refused, not guessed at), then the filled-in URL
 * must parse. Reasons never hold any part of the user or password.
 */
function cameraUrl(template: string, env: NodeJS.ProcessEnv): { url: string } | { reason: string } {
  const written = checkCameraUrlTemplate(template);
  if (written) return { reason: written.reason };
  const { value, missing, invalid } = interpolateEnv(template, env);
  if (missing.length) return { reason: `uses unset environment variable(s) ${missing.join(', ')}` };
  if (invalid.length) return { reason: `environment variable(s) ${invalid.join(', ')} hold text that is not valid` };
  const parsed = parseCameraUrl(value);
  if (!parsed.ok) return { reason: `once the environment variables are filled in: ${parsed.reason}` };
  return { url: value };
}

/**
 * `${NAME}` in a camera's ONVIF user or password is taken from the environment as it is: it goes
 * into a WS-Security digest, not into a URL, so nothing is encoded. Fills `onvif` in place; returns
 * the problem (never holding the value) or undefined.
 */
function fillOnvifEnv(onvif: OnvifConfig, env: NodeJS.ProcessEnv): { field: string; reason: string } | undefined {
  for (const key of ['user', 'password'] as const) {
    const written = onvif[key];
    if (written === undefined) continue;
    const missing: string[] = [];
    const value = written.replace(/\$\{([A-Z0-9_]+)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) missing.push(name);
      return v ?? '';
    });
    if (missing.length)
      return { field: `/onvif/${key}`, reason: `uses unset environment variable(s) ${missing.join(', ')}` };
    onvif[key] = value;
  }
  return undefined;
}

/** A bad `signaling.allowedOrigins` entry in words, before the schema's pattern would say it less clearly. */
function checkAllowedOrigins(data: Record<string, unknown>, file: string): void {
  const entries = (data['signaling'] as { allowedOrigins?: unknown } | undefined)?.allowedOrigins;
  if (!Array.isArray(entries)) return;
  for (const [i, e] of entries.entries()) {
    const problem = typeof e === 'string' ? originEntryProblem(e) : undefined;
    if (problem) throw new ConfigError(file, `/signaling/allowedOrigins/${i}`, problem);
  }
}

export function parseConfig(raw: unknown, file: string, env: NodeJS.ProcessEnv = {}): LoadedConfig {
  const data = (raw ?? {}) as Record<string, unknown>;
  if (typeof data !== 'object' || Array.isArray(data)) throw new ConfigError(file, '', 'must be a mapping of settings');
  for (const [name, keys, kind] of ENV_OVERRIDES) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (kind === 'int' && !/^\d+$/.test(v))
      throw new ConfigError(`env ${name}`, `/${keys.join('/')}`, 'must be an integer');
    setPath(data, keys, kind === 'int' ? Number(v) : v);
  }
  checkAllowedOrigins(data, file);
  if (!validateConfig(data)) {
    const { field, reason } = describe(validateConfig.errors?.[0] as ErrorObject);
    throw new ConfigError(file, field, reason);
  }
  const config = data as Config;
  const cameras: CameraConfig[] = [];
  const cameraProblems: CameraProblem[] = [];
  const seen = new Set<string>();
  for (const [index, cam] of config.cameras.entries()) {
    const id = typeof cam === 'object' && cam !== null ? (cam as { id?: unknown }).id : undefined;
    const idStr = typeof id === 'string' ? id : undefined;
    const problem = (field: string, reason: string): void => {
      cameraProblems.push({ index, ...(idStr ? { id: idStr } : {}), field: `/cameras/${index}${field}`, reason });
    };
    const copy = structuredClone(cam);
    if (!validateCamera(copy)) {
      const d = describe(validateCamera.errors?.[0] as ErrorObject);
      problem(d.field, d.reason);
      continue;
    }
    if (seen.has(copy.id)) {
      problem('/id', 'repeats the id of an earlier camera');
      continue;
    }
    let ok = true;
    for (const variant of ['main', 'sub'] as const) {
      const v = copy[variant];
      if (!v) continue;
      const checked = cameraUrl(v.url, env);
      if ('reason' in checked) {
        problem(`/${variant}/url`, checked.reason);
        ok = false;
        break;
      }
      v.url = checked.url;
    }
    if (!ok) continue;
    const onvifProblem = copy.onvif ? fillOnvifEnv(copy.onvif, env) : undefined;
    if (onvifProblem) {
      problem(onvifProblem.field, onvifProblem.reason);
      continue;
    }
    seen.add(copy.id);
    cameras.push(copy);
  }
  return { config, cameras, cameraProblems, file };
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, '', `cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let raw: unknown;
  try {
    raw = path.extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(
      file,
      '',
      `is not valid ${path.extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  return parseConfig(raw, file, env);
}
