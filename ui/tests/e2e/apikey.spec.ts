import { API_KEY, KEY_API_URL, KEY_UI_URL } from './env'
import { Api, JOB_TIMEOUT, TINY, expect, chart, statusBadge, test } from './helpers'

test('asks for the API key, then works with it', async ({ page, playwright, shot }) => {
  await page.goto(KEY_UI_URL)
  const dialog = page.getByRole('dialog', { name: 'API key' })
  await expect(dialog).toBeVisible()
  await expect(dialog).toContainText('This API needs a key')
  await shot('asked')

  // A wrong key is refused and asked for again.
  await dialog.getByLabel('Key').fill('not-the-key')
  await dialog.getByRole('button', { name: 'Save' }).click()
  await expect(dialog).toContainText('did not accept the stored key')
  await shot('wrong-key')

  await dialog.getByLabel('Key').fill(API_KEY)
  await dialog.getByRole('button', { name: 'Save' }).click()
  await expect(dialog).toBeHidden()
  await expect(page.getByText('Ready: queue up, 1 worker live')).toBeVisible()
  await expect(page.getByRole('button', { name: 'API key ✓' })).toBeVisible()
  await shot('overview')

  // A run's live log with a key: streamed with fetch (EventSource cannot send headers).
  const context = await playwright.request.newContext({ baseURL: KEY_API_URL, extraHTTPHeaders: { 'X-Api-Key': API_KEY } })
  const api = new Api(context)
  const tokenizer = await api.completedTokenizer()
  const runId = await api.startRun({ ...TINY, data: { tokenizer_id: tokenizer, corpus_path: 'shakespeare.txt' } })
  await context.dispose()
  await page.getByRole('link', { name: runId }).click()
  await expect(statusBadge(page)).toHaveText('completed', { timeout: JOB_TIMEOUT })
  await expect(page.getByRole('log', { name: 'Log lines' }).getByText('run_completed')).toBeVisible()
  await expect(chart(page)).toHaveAttribute('data-points', '13')
  await shot('run')

  // The key is kept in this browser: a reload asks no more.
  await page.reload()
  await expect(page.getByRole('heading', { level: 1, name: runId })).toBeVisible()
  await expect(dialog).toBeHidden()
})
