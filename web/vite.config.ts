import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The server serves dist/ (index.html and hashed files under /assets/); `npm run dev` proxies the API.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    // No inline scripts or styles in index.html: the server's content-security policy forbids them.
    modulePreload: { polyfill: false },
  },
  server: { proxy: { '/api': 'http://127.0.0.1:3000' } },
});
