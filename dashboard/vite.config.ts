import { defineConfig } from 'vitest/config';

// During development the admin API runs elsewhere: `JUNCTION_ADMIN_URL=http://127.0.0.1:PORT npm run dev`
// proxies /v1 to it, so the dashboard keeps one origin (cookies are SameSite=Strict, path /v1).
const admin = process.env.JUNCTION_ADMIN_URL ?? 'http://127.0.0.1:8081';

export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: { '/v1': { target: admin, changeOrigin: false } },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test-setup.ts'],
    restoreMocks: true,
  },
});
