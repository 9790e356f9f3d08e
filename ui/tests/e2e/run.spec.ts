import { JOB_TIMEOUT, TINY, expect, fillTinyRun, chart, statusBadge, test } from './helpers'

test('starts a tiny run through the New training run form and follows it', async ({ page, api, open, shot }) => {
  const tokenizer = await api.completedTokenizer()
  await open('#/runs/new')
  await expect(page.getByRole('heading', { name: 'New training run' })).toBeVisible()
  // The preset fills in shakespeare.txt and the README's recipe; the test shrinks it.
  await page.getByRole('button', { name: 'Quick Shakespeare' }).click()
  await expect(page.getByLabel('Corpus')).toHaveValue('shakespeare.txt')
  await expect(page.getByLabel('Max Steps')).toHaveValue('2000')
  await page.getByRole('combobox', { name: 'Tokenizer' }).selectOption(tokenizer)
  await fillTinyRun(page)
  await shot('form')

  await page.getByRole('button', { name: 'Start training' }).click()
  await expect(page).toHaveURL(/#\/runs\/run-[\w-]+$/)
  const runId = decodeURIComponent(new URL(page.url()).hash.replace('#/runs/', ''))
  await expect(page.getByRole('heading', { level: 1, name: runId })).toBeVisible()
  const log = page.getByRole('log', { name: 'Log lines' })
  await expect(log.getByText('train_progress').first()).toBeVisible({ timeout: JOB_TIMEOUT })
  await expect(statusBadge(page)).toHaveText('completed', { timeout: JOB_TIMEOUT })
  await expect(log.getByText('run_completed')).toBeVisible()
  await expect(page.getByRole('region', { name: 'Run log' }).getByRole('status')).toHaveText('ended')
  const config = (await api.run(runId)).config
  expect(config.model).toMatchObject(TINY.model)
  expect(config.trainer).toMatchObject(TINY.trainer)

  // 60 steps logged every 5 and evaluated every 20: 13 distinct steps on the loss chart.
  const loss = chart(page)
  await expect(loss.locator('canvas')).toBeVisible()
  await expect(loss).toHaveAttribute('data-points', '13')
  await expect(page.getByText('12 logged steps, 4 evaluations')).toBeVisible()
  // Smoothing adds the smoothed line over the faint raw one; the choice is remembered.
  await page.getByLabel('Smoothing').fill('0.6')
  await expect(loss.locator('.u-series', { hasText: 'train loss (raw)' })).toHaveCount(1)
  await page.reload()
  await expect(page.getByLabel('Smoothing')).toHaveValue('0.6')
  await page.getByLabel('Smoothing').fill('0')
  await expect(loss).toHaveAttribute('data-points', '13')
  // The legend shows the values under the cursor.
  await loss.locator('.u-over').hover()
  await expect(loss.locator('.u-series', { hasText: 'train loss' }).locator('.u-value')).toHaveText(/^\d+\.\d+$/)
  await shot('completed')

  // Labels: a name (the title, the id beside it), tags and notes, edited in place.
  await page.getByRole('button', { name: 'Add a name, tags or notes' }).click()
  await page.getByLabel('Name').fill('tiny shakespeare')
  await page.getByLabel('Tags').fill('tiny, e2e')
  await page.getByLabel('Notes').fill('one layer, 32 wide')
  await page.getByRole('button', { name: 'Save labels' }).click()
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`tiny shakespeare ${runId}`)
  await expect(page.getByRole('list', { name: 'Tags' }).getByRole('listitem')).toHaveText(['tiny', 'e2e'])
  await expect(page.getByText('one layer, 32 wide')).toBeVisible()
  expect((await api.run(runId)).name).toBe('tiny shakespeare')
  await shot('labelled')

  // The exported model writes text.
  await page.getByLabel('Prompt').fill('ROMEO:')
  await page.getByRole('button', { name: 'Generate' }).click()
  await expect(page.getByText(/^\d+ new tokens$/)).toBeVisible({ timeout: JOB_TIMEOUT })
  await shot('generated')

  // Evaluation is a job of its own: queued, then its figures and samples once it completes.
  await page.getByRole('button', { name: 'Evaluate', exact: true }).click()
  await expect(page.getByText('Loss / perplexity')).toBeVisible({ timeout: JOB_TIMEOUT })
  await expect(page.getByTestId('eval-bpb')).toHaveText(/^\d+\.\d+$/)
  await expect(page.locator('ol.samples li').first()).toBeVisible()
  await shot('evaluated')
})
