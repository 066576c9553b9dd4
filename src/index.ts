export { WEIR_VERSION } from './version.js';
