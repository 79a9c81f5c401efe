import { defineConfig } from 'vitest/config';

// Real Chromium: one browser per file, files one after another (2 shared cores).
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 30000,
    hookTimeout: 30000,
  },
});
