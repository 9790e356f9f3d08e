/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Where the API is; '' (default) is the page's own origin. */
  readonly VITE_API_BASE?: string
}
