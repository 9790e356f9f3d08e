import { defineConfig, type PlaywrightTestConfig } from '@playwright/test'
import { API_KEY, API_PORT, KEY_API_PORT } from './tests/e2e/env'

/** Browser tests: Debian's Chromium (never `npx playwright install`) against two private
 * stacks started by tests/e2e/stack.py — Redis, the API and a worker each, one of them with
 * an API key. The dashboard must be built first (`npm run build`): the API serves ui/dist
 * at /ui/. Run with `npm run e2e` (or `make ui-test`), which ends with `N passed, N failed`.
 * MT_CHROMIUM names another Chromium; MT_E2E_PORT and MT_E2E_KEY_PORT move the stacks. */

const launchOptions = {
  executablePath: process.env['MT_CHROMIUM'] ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
}

type WebServer = Extract<NonNullable<PlaywrightTestConfig['webServer']>, unknown[]>[number]

function stack(port: number, apiKey?: string): WebServer {
  return {
    name: apiKey ? 'stack+key' : 'stack',
    command: `../.venv/bin/python tests/e2e/stack.py --port ${port}${apiKey ? ` --api-key ${apiKey}` : ''}`,
    // /readyz answers 200 once Redis answers and a worker is live; with a key it answers
    // 401 at once, so the launcher's line, printed once it saw 200 (with the key) and the
    // dashboard at /ui/, is waited for too.
    url: `http://127.0.0.1:${port}/readyz`,
    wait: { stdout: /stack ready: / },
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'ignore',
    stderr: 'pipe',
    // The launcher forwards SIGTERM to the API, the worker and Redis, then cleans up.
    gracefulShutdown: { signal: 'SIGTERM', timeout: 30_000 },
  }
}

export default defineConfig({
  testDir: 'tests/e2e',
  // Cleaned at the start of each run; the tests' screenshots go to test-results/screenshots.
  outputDir: 'test-results',
  // One browser at a time on a two-core machine; the stacks' worker takes jobs in order.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env['CI'],
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    launchOptions,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    actionTimeout: 10_000,
    navigationTimeout: 20_000,
  },
  projects: [
    { name: 'desktop', use: { browserName: 'chromium', viewport: { width: 1280, height: 800 } } },
    {
      name: 'phone',
      use: {
        browserName: 'chromium',
        viewport: { width: 390, height: 844 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
      },
    },
  ],
  webServer: [stack(API_PORT), stack(KEY_API_PORT, API_KEY)],
})
