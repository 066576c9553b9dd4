/**
 * The built-in modules, in nginx's order: core first, then http. A module's
 * position decides the order its confs are created and merged.
 */
import type { Module } from './config/module.js';
import { coreModule } from './process/core-module.js';
import { httpBlockModule, httpCoreModule } from './http/core-module.js';

export const builtinModules: Module[] = [
  coreModule,
  httpBlockModule,
  httpCoreModule,
];
