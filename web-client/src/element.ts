// Entry of /cctv-player.js: defines <cctv-player> on import. One self-contained ES module.
import { CctvPlayerElement, defineCctvPlayer } from './cctv-player.js';

defineCctvPlayer();

export { CctvPlayerElement };
