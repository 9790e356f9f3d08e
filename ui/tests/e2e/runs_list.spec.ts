import { JOB_TIMEOUT, expect, fillTinyRun, test } from './helpers'

test('names and tags a run in the form, finds it by its tag, and deletes it', async ({ page, api, open, shot }) => {
  const tokenizer = await api.completedTokenizer()
  const tag = `e2e-${Date.now().toString(36)}`
  await open('#/runs/new')
  await page.getByRole('combobox', { name: 'Tokenizer' }).selectOption(tokenizer)
  await page.getByLabel('Corpus').fill('shakespeare.txt')
  await page.getByLabel('Name', { exact: true }).fill('tiny labelled run')
  await page.getByLabel('Tags', { exact: true }).fill(`${tag}, tiny`)
  await fillTinyRun(page)
  // The same run as the CLI takes it.
  await page.getByText('The same run from the command line').click()
  await expect(page.getByTestId('cli-command')).toContainText(`--name 'tiny labelled run' --tag ${tag} --tag tiny`)
  await expect(page.getByTestId('run-toml')).toContainText(`tags = ["${tag}", "tiny"]`)
  await shot('form')

  await page.getByRole('button', { name: 'Start training' }).click()
  await expect(page).toHaveURL(/#\/runs\/run-[\w-]+$/)
  const runId = decodeURIComponent(new URL(page.url()).hash.replace('#/runs/', ''))
  // Only its labels matter here: stopped at once (a finished run can be deleted).
  const origin = new URL(page.url()).origin
  expect((await page.request.post(`${origin}/runs/${runId}/cancel`)).ok()).toBe(true)
  await api.waitFor(() => api.run(runId), 'cancelled', JOB_TIMEOUT)

  // The overview filtered by the tag (a link to share): only this run, by its name.
  await open(`#/?tag=${tag}`)
  const link = page.getByRole('link', { name: 'tiny labelled run' })
  await expect(link).toBeVisible()
  await expect(page.locator('table').first().locator('tbody tr')).toHaveCount(1)
  await expect(page.getByRole('heading', { name: 'Workers' })).toBeVisible()
  await shot('filtered')
  await page.getByLabel('Tag', { exact: true }).fill('no-such-tag')
  await expect(page.getByText('No run matches these filters')).toBeVisible()
  await expect(page).toHaveURL(/tag=no-such-tag/)
  await page.getByLabel('Tag', { exact: true }).fill(tag)
  await expect(link).toBeVisible()

  // Deleted from the list, after a question.
  await page.getByRole('button', { name: 'Delete tiny labelled run' }).click()
  const dialog = page.getByRole('alertdialog', { name: 'Delete tiny labelled run?' })
  await expect(dialog).toBeVisible()
  await shot('confirm-delete')
  await dialog.getByRole('button', { name: 'Delete run' }).click()
  await expect(dialog).toBeHidden()
  await expect(page.getByText('No run matches these filters')).toBeVisible()
  const gone = await page.request.get(`${origin}/runs/${runId}`)
  expect(gone.status()).toBe(404)
})
