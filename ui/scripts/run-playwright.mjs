// `playwright test` (browser tests, see playwright.config.ts) with its list report, then
// one plain closing line for CI: "N passed, N failed" (", N skipped" when some were, such
// as test.fixme). Exits with Playwright's status.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tmp = mkdtempSync(join(tmpdir(), 'mt-playwright-'))
const report = join(tmp, 'report.json')
const bin = join(root, 'node_modules', '.bin', 'playwright')
const result = spawnSync(bin, ['test', '--reporter=list,json', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, PLAYWRIGHT_JSON_OUTPUT_NAME: report },
})

let status = result.status ?? 1
try {
  const { stats, errors = [] } = JSON.parse(readFileSync(report, 'utf8'))
  const passed = (stats.expected ?? 0) + (stats.flaky ?? 0)
  // Errors outside any test (a web server that did not start, a file that did not load)
  // count as one failure.
  const failed = (stats.unexpected ?? 0) || (errors.length > 0 ? 1 : 0)
  const skipped = stats.skipped ?? 0
  if (failed > 0 || passed === 0) status = status || 1
  console.log(`${passed} passed, ${failed} failed` + (skipped > 0 ? `, ${skipped} skipped` : ''))
} catch (err) {
  console.log('0 passed, 1 failed')
  console.error(`could not read Playwright's report: ${err instanceof Error ? err.message : err}`)
  status = status || 1
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
process.exit(status)
