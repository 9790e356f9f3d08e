import { API_URL } from './env'
import { JOB_TIMEOUT, TINY, expect, chart, statusBadge, test } from './helpers'

test('cancels a long run from its page while its log and charts grow live', async ({ page, api, open, shot }) => {
  const tokenizer = await api.completedTokenizer()
  const runId = await api.startRun({
    model: TINY.model,
    data: { tokenizer_id: tokenizer, corpus_path: 'story.txt' },
    trainer: { max_steps: 1_000_000, eval_interval: 500, log_interval: 5 },
  })

  await open(`#/runs/${runId}`)
  await expect(statusBadge(page)).toHaveText('running', { timeout: JOB_TIMEOUT })
  const lines = page.getByRole('log', { name: 'Log lines' }).locator('.logline')
  await expect(lines.first()).toBeVisible()
  await expect(page.getByRole('region', { name: 'Run log' }).getByRole('status')).toHaveText('live')
  // Live: once training steps are logged (after the first evaluation, which also writes
  // samples), more lines arrive, and the loss chart redraws with more points.
  await expect(page.getByRole('log', { name: 'Log lines' }).getByText('train_progress').first()).toBeVisible({ timeout: JOB_TIMEOUT })
  const seen = await lines.count()
  await expect.poll(() => lines.count(), { timeout: JOB_TIMEOUT }).toBeGreaterThan(seen + 5)
  const loss = chart(page)
  await expect(loss).toHaveAttribute('data-points', /\d+/)
  const points = Number(await loss.getAttribute('data-points'))
  await expect.poll(async () => Number(await loss.getAttribute('data-points')), { timeout: JOB_TIMEOUT }).toBeGreaterThan(points)
  await shot('running')

  await page.getByRole('button', { name: 'Cancel run' }).click()
  await shot('confirm')
  await page.getByRole('button', { name: 'Yes, cancel it' }).click()
  await expect(statusBadge(page)).toHaveText('cancelled')
  await expect(page.getByRole('button', { name: 'Cancel run' })).toHaveCount(0)
  await expect(page.getByRole('region', { name: 'Run log' }).getByRole('status')).toHaveText('ended')
  expect((await api.run(runId)).status).toBe('cancelled')
  const checkpoints = page.getByRole('region', { name: 'Checkpoints' })
  await expect(checkpoints.getByText('latest (Resume continues from here)')).toBeVisible()
  await shot('cancelled')

  // A cancelled run resumes from its last checkpoint under the same id, and its log follows.
  await page.getByRole('button', { name: 'Resume' }).click()
  await expect(statusBadge(page)).toHaveText('running', { timeout: JOB_TIMEOUT })
  await expect(page.getByRole('region', { name: 'Run log' }).getByRole('status')).toHaveText('live', { timeout: JOB_TIMEOUT })
  await expect(page.getByRole('button', { name: 'Delete' })).toHaveCount(0) // not while it runs
  await shot('resumed')
  await page.getByRole('button', { name: 'Cancel run' }).click()
  await page.getByRole('button', { name: 'Yes, cancel it' }).click()
  await expect(statusBadge(page)).toHaveText('cancelled', { timeout: JOB_TIMEOUT })

  // Deleting asks first, then goes back to the list; the run is gone.
  await page.getByRole('button', { name: 'Delete' }).click()
  const confirm = page.getByRole('group', { name: 'Confirm delete' })
  await expect(confirm).toContainText(`Delete ${runId} and all its files?`)
  await shot('delete-confirm')
  await confirm.getByRole('button', { name: 'Yes, delete it' }).click()
  await expect(page).toHaveURL(/#\/$/)
  await expect(page.getByRole('link', { name: runId })).toHaveCount(0)
  expect((await page.request.get(`${API_URL}/runs/${runId}`)).status()).toBe(404)
})
