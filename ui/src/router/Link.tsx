import type { AnchorHTMLAttributes, ReactNode } from 'react'
import { href, matchPath, useHashPath } from './router'

export interface Route {
  pattern: string
  render: (params: Record<string, string>) => ReactNode
}

export function Router({ routes, fallback }: { routes: Route[]; fallback: ReactNode }): ReactNode {
  const path = useHashPath()
  for (const route of routes) {
    const params = matchPath(route.pattern, path)
    if (params) return route.render(params)
  }
  return fallback
}


export function Link({
  to,
  children,
  ...rest
}: { to: string; children: ReactNode } & Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'>) {
  return (
    <a href={href(to)} {...rest}>
      {children}
    </a>
  )
}
