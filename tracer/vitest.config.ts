import { defineConfig } from 'vitest/config';

export default defineConfig({
  define: { __VERSION__: '"test"', __IMPRESSIONS__: 'true', __CHARTS__: 'true', __REDIRECT__: 'true', __BRIDGE__: 'true', __WIX__: 'true' },
  test: { include: ['test/unit/**/*.test.ts'], environment: 'node' },
});
