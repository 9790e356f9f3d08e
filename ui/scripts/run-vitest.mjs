// `vitest run` with its usual report, then one plain closing line for CI:
// "N passed, N failed" (", N skipped" when some were). Exits with vitest's status.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tmp = mkdtempSync(join(tmpdir(), 'mt-vitest-'))
const report = join(tmp, 'report.json')
const bin = join(root, 'node_modules', '.bin', 'vitest')
const args = ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`]
const result = spawnSync(bin, [...args, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' })

let status = result.status ?? 1
try {
  const json = JSON.parse(readFileSync(report, 'utf8'))
  const passed = json.numPassedTests ?? 0
  const skipped = (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0)
  // A file that fails to load counts as a failed suite with no failed test in it.
  const failed = (json.numFailedTests ?? 0) || (json.numFailedTestSuites ?? 0)
  if (failed > 0 || passed === 0) status = status || 1
  console.log(`${passed} passed, ${failed} failed` + (skipped > 0 ? `, ${skipped} skipped` : ''))
} catch (err) {
  console.log(`0 passed, 1 failed`)
  console.error(`could not read vitest's report: ${err instanceof Error ? err.message : err}`)
  status = status || 1
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
process.exit(status)
