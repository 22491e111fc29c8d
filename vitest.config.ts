import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts', 'config/**/*.test.ts', 'gateway/**/*.test.ts', 'signaling/**/*.test.ts'],
    // Real workers, FFmpeg and browsers on 2 cores: one file at a time keeps timings honest.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
