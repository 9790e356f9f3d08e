import { JOB_TIMEOUT, TINY, chart, expect, statusBadge, test } from './helpers'

test('clones a finished run, starts the clone and compares the two', async ({ page, api, open, shot }) => {
  const tokenizer = await api.completedTokenizer()
  const first = await api.startRun({ ...TINY, data: { tokenizer_id: tokenizer, corpus_path: 'shakespeare.txt' } })
  await api.waitFor(() => api.run(first), 'completed')

  await open(`#/runs/${first}`)
  await expect(statusBadge(page)).toHaveText('completed')
  await page.getByRole('link', { name: 'Clone' }).click()
  await expect(page.getByRole('heading', { name: 'New training run' })).toBeVisible()
  await expect(page.getByText(`Starting from the config of ${first}`)).toBeVisible()
  // The form holds the run's config; the clone changes one thing.
  await expect(page.getByLabel('Embedding width')).toHaveValue('32')
  await expect(page.getByLabel('Max Steps')).toHaveValue('60')
  await expect(page.getByRole('combobox', { name: 'Tokenizer' })).toHaveValue(tokenizer)
  await page.getByLabel('Learning Rate').fill('0.003')
  await shot('clone-form')
  await page.getByRole('button', { name: 'Start training' }).click()
  await expect(page).toHaveURL(/#\/runs\/run-[\w-]+$/)
  const second = decodeURIComponent(new URL(page.url()).hash.replace('#/runs/', ''))
  expect(second).not.toBe(first)
  await expect(statusBadge(page)).toHaveText('completed', { timeout: JOB_TIMEOUT })
  await shot('clone-completed')

  // Tick both in the overview, then compare.
  await page.getByRole('link', { name: 'Overview' }).click()
  await page.getByRole('checkbox', { name: `Compare ${first}` }).check()
  await page.getByRole('checkbox', { name: `Compare ${second}` }).check()
  await shot('overview-ticked')
  await page.getByRole('link', { name: 'Compare 2 runs' }).click()
  await expect(page.getByRole('heading', { name: 'Compare runs' })).toBeVisible()
  const results = page.getByRole('region', { name: 'Results' })
  await expect(results.getByRole('link', { name: first })).toBeVisible()
  await expect(results.getByRole('link', { name: second })).toBeVisible()
  for (const title of ['Train loss', 'Val loss']) {
    await expect(chart(page, title)).toHaveAttribute('data-points', /^[1-9]\d*$/)
  }
  const legend = page.getByRole('list', { name: 'Compared runs' })
  await expect(legend.getByRole('listitem')).toHaveCount(2)
  // The configurations differ in the learning rate only: it shows alone until all are asked for.
  await expect(page.getByText(/^1 of \d+ fields differ\.$/)).toBeVisible()
  const configs = page.getByRole('region', { name: 'Configurations side by side' })
  await expect(configs.locator('tbody tr')).toHaveCount(1) // the one that differs
  await expect(configs.getByRole('row', { name: /trainer\.learning_rate/ })).toContainText('differs')
  await shot('compared')
  await page.getByRole('button', { name: /^Show all \d+ settings$/ }).click()
  await expect(configs.getByRole('row', { name: /trainer\.max_steps/ })).not.toContainText('differs')
  // Nothing of the page is wider than the screen: the table scrolls (or stacks) in its own box.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
  expect(overflow).toBeLessThanOrEqual(0)
  await shot('compared-all')

  // A run is taken off the comparison from the legend.
  await legend.getByRole('button', { name: `Remove ${second}` }).click()
  await expect(legend.getByRole('listitem')).toHaveCount(1)
  await expect(page).toHaveURL(new RegExp(`runs=${first}$`))
})
