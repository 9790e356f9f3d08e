import { API_URL, UI_URL } from './env'
import { expect, test } from './helpers'

/** ReDoc's sidebar shows its maker's logo from their CDN: the policy refuses it on purpose
 * (the pages load nothing from elsewhere), and ReDoc hides the image. */
const REDOC_LOGO = 'https://cdn.redoc.ly/'

test('the API documentation pages run under their security policy', async ({ page, shot, cspViolations }) => {
  // Swagger UI is started by a script written into its page, allowed by its hash alone.
  await page.goto(`${API_URL}/docs`)
  await expect(page.locator('.swagger-ui .info .title')).toContainText('Model Trainer')
  await expect(page.locator('.opblock-summary').first()).toBeVisible()
  await shot('swagger')
  await page.goto(`${API_URL}/redoc`)
  await expect(page.getByRole('heading', { name: /Model Trainer/, level: 1 })).toBeVisible()
  // What fits the screen: the whole of ReDoc's page, every operation of the API at a
  // phone's width, is tens of screens and takes longer to capture than it is worth.
  await shot('redoc', false)
  await expect.poll(() => cspViolations.some((v) => v.includes(REDOC_LOGO))).toBe(true)
  const logo = cspViolations.filter((v) => v.includes(REDOC_LOGO))
  expect(logo.every((v) => v.includes('img-src'))).toBe(true)
  cspViolations.splice(0, cspViolations.length, ...cspViolations.filter((v) => !logo.includes(v)))
})

test('no other page can frame the dashboard or the documentation', async ({ browser }) => {
  // A page of its own, outside the CSP guard: refusing to be framed is reported the same way.
  const framing = await browser.newPage()
  const refused: string[] = []
  framing.on('console', (message) => {
    if (message.text().includes("frame-ancestors 'none'")) refused.push(message.text())
  })
  await framing.setContent(`<iframe src="${UI_URL}"></iframe><iframe src="${API_URL}/docs"></iframe>`)
  await expect.poll(() => refused.length).toBe(2)
  await expect(framing.frameLocator('iframe').first().getByRole('navigation', { name: 'Main' })).toHaveCount(0)
  await framing.close()
})

test('a link with a malformed escape shows not found, and the app goes on', async ({ page, open, shot }) => {
  const crashes: string[] = []
  page.on('pageerror', (error) => crashes.push(error.message))
  await open('#/runs/%E0%A4%A')
  await expect(page.getByRole('heading', { name: 'Not found' })).toBeVisible()
  await shot('malformed-link')
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'New tokenizer' }).click()
  await expect(page.getByLabel('Method')).toBeVisible()
  expect(crashes).toEqual([])
})
