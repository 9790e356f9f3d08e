import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

/** Where `npm run dev` sends API calls (the API's own paths, so the built UI can later be
 * served by the API itself on the same origin). Override with MT_API_URL. */
const api = process.env['MT_API_URL'] ?? 'http://127.0.0.1:8000'
const apiPaths = [
  '/healthz',
  '/readyz',
  '/backends',
  '/tokenizers',
  '/runs',
  '/artifacts',
  '/corpus',
  '/openapi.json',
  '/docs',
  '/redoc',
]

export default defineConfig({
  plugins: [react()],
  // Relative asset URLs: the build works under any mount point (hash routing needs no
  // server-side fallback).
  base: './',
  server: {
    host: '127.0.0.1',
    proxy: Object.fromEntries(apiPaths.map((p) => [p, { target: api, changeOrigin: true }])),
  },
  preview: { host: '127.0.0.1' },
  build: { sourcemap: false, chunkSizeWarningLimit: 600 },
})
