// Fail when the committed schema (scripts/openapi.json) or the generated client
// (src/client/schema.d.ts) differs from what the current API would produce.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tmp = mkdtempSync(join(tmpdir(), 'mt-client-'))
const freshSchema = join(tmp, 'openapi.json')
const freshClient = join(tmp, 'schema.d.ts')
const bin = join(root, 'node_modules', '.bin', 'openapi-typescript')

try {
  execFileSync('sh', [join(root, 'scripts', 'gen-schema.sh'), freshSchema], { stdio: 'inherit' })
  execFileSync(bin, [freshSchema, '-o', freshClient], { stdio: ['ignore', 'ignore', 'inherit'] })
  const stale = [
    ['scripts/openapi.json', freshSchema],
    ['src/client/schema.d.ts', freshClient],
  ].filter(([committed, fresh]) => {
    let old = ''
    try {
      old = readFileSync(join(root, committed), 'utf8')
    } catch {
      return true
    }
    return old !== readFileSync(fresh, 'utf8')
  })
  if (stale.length > 0) {
    for (const [file] of stale) console.error(`stale: ${file}`)
    console.error('The generated client is out of date: run `npm run gen:client` and commit.')
    process.exitCode = 1
  } else {
    console.log('client up to date: scripts/openapi.json and src/client/schema.d.ts')
  }
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
