// Messages between the plot panel (extension host) and its webview. No `vscode` import.
import type { CaptureEvent, CapturePlan } from '../logic/capture';
import type { SeriesChunk } from '../logic/series';

/** What the scope bar asks to arm (the adapter's firmwatch.captureArm arguments). */
export interface ArmRequest {
  channels: string[];
  trigger?: string;
  pre: string;
  samples?: number;
  rateHz?: number;
  mode: 'single' | 'normal';
}

export type ToWebview =
  | { type: 'add'; watchId: number; expression: string; rateHz?: number; raw?: string }
  | { type: 'samples'; series: SeriesChunk[] }
  | { type: 'remove'; watchId: number }
  | { type: 'session'; state: 'running' | 'ended' }
  // scope mode: show it with these channels (and trigger), and arm a single capture when `arm`
  | { type: 'scope'; channels: string[]; trigger?: { channel: string; op: string; level: string }; arm: boolean }
  | { type: 'capturePlan'; plan: CapturePlan }
  | { type: 'captureState'; state: Record<string, unknown> }
  | { type: 'capture'; capture: CaptureEvent }
  | { type: 'captureError'; message: string };

export type FromWebview =
  | { type: 'ready' }
  | { type: 'saveCsv'; text: string }
  | { type: 'savePng'; dataUrl: string }
  | { type: 'points'; total: number }
  | { type: 'arm'; request: ArmRequest }
  | { type: 'force' }
  | { type: 'stopCapture' };
