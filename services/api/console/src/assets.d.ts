/** Stylesheets are bundled by esbuild (services/api/src/console-bundle.ts). */
declare module '*.css';
