/** What the browser tests share: the API of the stack (for setting things up and waiting),
 * the dashboard's URL, full-page screenshots of every page a test visits, and a guard that
 * fails any test whose page broke the API's Content-Security-Policy. */
import { mkdirSync } from 'node:fs'
import { basename, join } from 'node:path'
import { test as base, expect, type APIRequestContext, type Locator, type Page } from '@playwright/test'
import { isTerminal, type JobStatus, type RunPublic, type Schemas, type TokenizerPublic } from '../../src/api/types'
import { API_URL, UI_URL } from './env'

export { expect }

/** The tiny model of these tests: one layer, 32 wide, done in a second or two on a CPU. */
export const TINY = {
  model: { family: 'gpt2', size: 'nano', n_layer: 1, n_head: 2, n_embd: 32, max_seq_len: 32 },
  trainer: { max_steps: 60, eval_interval: 20, log_interval: 5 },
} as const

/** How long a tiny job may take on a busy two-core machine (it takes a few seconds). */
export const JOB_TIMEOUT = 60_000

/** Fill the New training run form's fields with TINY's values. */
export async function fillTinyRun(page: Page): Promise<void> {
  await openAdvanced(page)
  const fields: [string, number][] = [
    ['Layers', TINY.model.n_layer],
    ['Attention heads', TINY.model.n_head],
    ['Embedding width', TINY.model.n_embd],
    ['Context length', TINY.model.max_seq_len],
    ['Max steps', TINY.trainer.max_steps],
    ['Eval interval', TINY.trainer.eval_interval],
    ['Log interval', TINY.trainer.log_interval],
  ]
  for (const [label, value] of fields) await page.getByLabel(label).fill(String(value))
}

/** Unfold the New run form's "Advanced settings" (shape, split, the other trainer fields). */
export async function openAdvanced(page: Page): Promise<void> {
  const advanced = page.locator('details.advanced')
  if (!(await advanced.evaluate((d) => (d as HTMLDetailsElement).open))) await advanced.locator('summary').click()
}

/** A chart by its title (uPlot; `data-points` is its point count at its last draw). */
export function chart(page: Page, title = 'Loss'): Locator {
  return page.locator('.chart', { has: page.locator('.u-title').getByText(title, { exact: true }) })
}

interface Fixtures {
  /** The API of the stack without a key. */
  api: Api
  /** A full-page screenshot (or, with `whole` false, what fits the window) into
   * test-results/screenshots/<project>-<spec>-<n>-<name>.png (n counts the test's
   * screenshots: give a spec's tests names of their own). */
  shot: (name: string, whole?: boolean) => Promise<void>
  /** Open a page of the dashboard (`'#/runs/run-1'`; `''` for the overview). */
  open: (hash: string) => Promise<void>
  /** What the test's page reported as refused by its Content-Security-Policy; must stay
   * empty (checked after every test). */
  cspViolations: string[]
}

export const test = base.extend<Fixtures>({
  api: async ({ playwright }, provide) => {
    const context = await playwright.request.newContext({ baseURL: API_URL })
    await provide(new Api(context))
    await context.dispose()
  },
  shot: async ({ page }, provide, testInfo) => {
    const folder = join(testInfo.project.outputDir, 'screenshots')
    mkdirSync(folder, { recursive: true })
    const spec = basename(testInfo.file).replace(/\.spec\.ts$/, '')
    let n = 0
    await provide(async (name, whole = true) => {
      n += 1
      const file = `${testInfo.project.name}-${spec}-${String(n).padStart(2, '0')}-${name}.png`
      await page.screenshot({ path: join(folder, file), fullPage: whole, animations: 'disabled' })
    })
  },
  open: async ({ page }, provide) => {
    await provide(async (hash) => {
      await page.goto(UI_URL + hash)
    })
  },
  cspViolations: [
    async ({ page }, provide) => {
      // Chromium reports each refusal on the console ("Refused to ... because it violates the
      // following Content Security Policy directive ...").
      const violations: string[] = []
      page.on('console', (message) => {
        if (message.text().includes('Content Security Policy')) violations.push(message.text())
      })
      await provide(violations)
      expect(violations, 'the page broke its Content-Security-Policy').toEqual([])
    },
    { auto: true },
  ],
})

type TokenizerBody = Pick<Schemas['TokenizerTrainConfig'], 'method' | 'vocab_size' | 'corpus_path'>
type RunBody = {
  model: Partial<Schemas['ModelSpec']>
  data: Partial<Schemas['DataSpec']> & { tokenizer_id: string }
  trainer: Partial<Schemas['TrainerSpec']>
}

/** The API of a stack, for what a test needs ready before (or checks after) the browser. */
export class Api {
  private readonly request: APIRequestContext

  constructor(request: APIRequestContext) {
    this.request = request
  }

  private async json<T>(method: 'GET' | 'POST', path: string, data?: object): Promise<T> {
    const answer = await this.request.fetch(path, { method, ...(data ? { data } : {}) })
    expect(answer.ok(), `${method} ${path}: ${answer.status()} ${await answer.text()}`).toBe(true)
    return (await answer.json()) as T
  }

  tokenizer(id: string): Promise<TokenizerPublic> {
    return this.json('GET', `/tokenizers/${id}`)
  }

  run(id: string): Promise<RunPublic> {
    return this.json('GET', `/runs/${id}`)
  }

  /** Train a tokenizer and wait until it is completed. */
  async completedTokenizer(body: TokenizerBody = { method: 'char', vocab_size: 256, corpus_path: 'shakespeare.txt' }): Promise<string> {
    const queued = await this.json<Schemas['TokenizerQueued']>('POST', '/tokenizers/train', body)
    await this.waitFor(() => this.tokenizer(queued.tokenizer_id), 'completed')
    return queued.tokenizer_id
  }

  async startRun(body: RunBody): Promise<string> {
    const queued = await this.json<Schemas['RunQueued']>('POST', '/runs/train', body)
    return queued.run_id
  }

  /** Until the job has `status`, or has ended otherwise (then fail at once, with its message). */
  async waitFor(get: () => Promise<RunPublic | TokenizerPublic>, status: JobStatus, timeout = JOB_TIMEOUT): Promise<void> {
    let job: RunPublic | TokenizerPublic | undefined
    await expect
      .poll(
        async () => {
          job = await get()
          return job.status === status || isTerminal(job.status)
        },
        { timeout, intervals: [250, 500, 1000] },
      )
      .toBe(true)
    expect(job?.status, `${job?.error_code ?? ''} ${job?.message ?? ''}`).toBe(status)
  }
}

/** The status badge next to a run's or tokenizer's title. */
export function statusBadge(page: Page): Locator {
  return page.locator('.title-row .badge')
}

/** The field (input or select) with this label, whose error must be "next to it": the
 * message it points at with aria-describedby, shown under it. */
export async function expectFieldError(field: Locator, message: RegExp): Promise<void> {
  await expect(field).toHaveAttribute('aria-invalid', 'true')
  await expect(field).toHaveAccessibleDescription(message)
}
