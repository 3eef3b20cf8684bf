// Messages between the plot panel (extension host) and its webview. No `vscode` import.
import type { SeriesChunk } from '../logic/series';

export type ToWebview =
  | { type: 'add'; watchId: number; expression: string; rateHz?: number }
  | { type: 'samples'; series: SeriesChunk[] }
  | { type: 'remove'; watchId: number }
  | { type: 'session'; state: 'running' | 'ended' };

export type FromWebview =
  | { type: 'ready' }
  | { type: 'saveCsv'; text: string }
  | { type: 'savePng'; dataUrl: string }
  | { type: 'points'; total: number };
