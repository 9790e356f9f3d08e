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
  // Live: more lines arrive, and the loss chart redraws with more points.
  const seen = await lines.count()
  await expect.poll(() => lines.count()).toBeGreaterThan(seen + 5)
  const loss = chart(page)
  await expect(loss).toHaveAttribute('data-points', /\d+/)
  const points = Number(await loss.getAttribute('data-points'))
  await expect.poll(async () => Number(await loss.getAttribute('data-points'))).toBeGreaterThan(points)
  await shot('running')

  await page.getByRole('button', { name: 'Cancel run' }).click()
  await shot('confirm')
  await page.getByRole('button', { name: 'Yes, cancel it' }).click()
  await expect(statusBadge(page)).toHaveText('cancelled')
  await expect(page.getByRole('button', { name: 'Cancel run' })).toHaveCount(0)
  await expect(page.getByRole('region', { name: 'Run log' }).getByRole('status')).toHaveText('ended')
  expect((await api.run(runId)).status).toBe('cancelled')
  await shot('cancelled')
})
