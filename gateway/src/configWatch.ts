// Applies a changed config file to a running gateway: the file is checked every couple of seconds
// (and at once on SIGHUP); when it changed, it is loaded and validated again and its cameras are
// applied (see StreamRegistry.reconfigure): a corrected camera password is tried at once, without
// waiting out the backoff of the rejected one. A file that no longer loads is reported once and the
// running cameras stay as they are. Other settings (ports, workers, auth) need a restart: said once.
import fs from 'node:fs';
import { ConfigError, loadConfig } from '../../config/load.js';
import type { CameraConfig, Config } from '../../config/schema.js';
import type { Logger } from './log.js';

export interface ConfigWatchOptions {
  file: string;
  /** The config the gateway started with (to tell which other settings changed). */
  config: Config;
  env?: NodeJS.ProcessEnv;
  /** Poll interval of the file's mtime; default 2000 ms. */
  intervalMs?: number;
  /** Cameras that do not come from the file (the embedded simulator's). */
  extraCameras?: CameraConfig[];
  apply: (cameras: CameraConfig[]) => Promise<unknown>;
  logger: Logger;
}

export interface ConfigWatch {
  /** Loads the file and applies it now (SIGHUP). */
  reload(why: string): Promise<void>;
  close(): void;
}

const withoutCameras = (c: Config) => JSON.stringify({ ...c, cameras: [] });

export function watchConfig(opts: ConfigWatchOptions): ConfigWatch {
  const { file, logger } = opts;
  const started = withoutCameras(opts.config);
  let lastError = '';
  let running: Promise<void> = Promise.resolve();
  let closed = false;

  const load = async (why: string) => {
    let loaded: ReturnType<typeof loadConfig>;
    try {
      loaded = loadConfig(file, opts.env ?? process.env);
    } catch (err) {
      const message = err instanceof ConfigError ? err.message : (err as Error).message;
      if (message !== lastError) logger.error({ why, error: message }, 'config not applied: it does not load');
      lastError = message;
      return;
    }
    lastError = '';
    for (const p of loaded.cameraProblems)
      logger.error(
        { camera: p.id ?? `#${p.index}`, field: p.field, reason: p.reason },
        'camera skipped: bad config entry',
      );
    if (withoutCameras(loaded.config) !== started)
      logger.warn({ why }, 'settings other than cameras changed; they apply after a restart');
    await opts.apply([...loaded.cameras, ...(opts.extraCameras ?? [])]);
  };
  const reload = (why: string) => {
    running = running
      .then(() => (closed ? undefined : load(why)))
      .catch((err: Error) => {
        logger.error({ err: err.message }, 'config could not be applied');
      });
    return running;
  };
  // The file as it was when the gateway loaded it: any later write counts (fs.watchFile would take
  // its own first look later and miss a change made before it).
  const stamp = (st: fs.Stats | undefined) => (st ? `${st.mtimeMs}:${st.size}:${st.ino}` : 'missing');
  const statNow = () => {
    try {
      return fs.statSync(file);
    } catch {
      return undefined;
    }
  };
  let seen = stamp(statNow());
  const timer = setInterval(() => {
    fs.stat(file, (err, st) => {
      const now = stamp(err ? undefined : st);
      if (now === seen || closed) return;
      seen = now;
      void reload('file changed');
    });
  }, opts.intervalMs ?? 2000);
  timer.unref();
  return {
    reload,
    close: () => {
      closed = true;
      clearInterval(timer);
    },
  };
}
