// Structured logs (pino). Secrets are redacted by key; camera URLs are redacted before they are logged.
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'cctv-gateway' },
      redact: {
        paths: [
          'token',
          '*.token',
          'password',
          '*.password',
          'jwtSecret',
          '*.jwtSecret',
          'secret',
          '*.secret',
          'credential',
          '*.credential',
          'authorization',
          '*.authorization',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
