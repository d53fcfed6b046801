/** The messages between the page (main.ts) and its worker (worker.ts). */
import type { GlInfo } from '../backends/gpujs/index.ts';
import type { Ranked } from '../core/classify.ts';

export interface VerifyRequest {
  readonly task: 'verify';
  /** 'alexnet-mini', 'alexnet' or 'none' (kernels only). */
  readonly network: string;
  /** The kernel phase's kernels (the conformance kit's names; empty: no kernel phase). */
  readonly kernels: readonly string[];
  /** Multiplies each kernel's default case count. */
  readonly scale: number;
  readonly seed: number;
  readonly batch: number;
}

export interface BenchRequest {
  readonly task: 'bench';
  readonly quick: boolean;
  /** Subject ids to measure (default all of the page's). */
  readonly subjects?: readonly string[];
}

export interface ClassifyRequest {
  readonly task: 'classify';
  readonly checkpoint: { readonly name: string; readonly bytes: ArrayBuffer };
  /** Absent: load the checkpoint and draw its filters only. */
  readonly image?: { readonly name: string; readonly bytes: ArrayBuffer; readonly type: string };
  readonly crops: 1 | 10;
}

export interface InfoRequest {
  readonly task: 'info';
}

export type Request = (VerifyRequest | BenchRequest | ClassifyRequest | InfoRequest) & { readonly id: number };

/** What the page shows about the GL gpu.js gets here. */
export interface EnvInfo {
  /** The mode gpu.js's 'auto' resolves to in this browser. */
  readonly mode: string;
  readonly gl: boolean;
  /** Why the better modes were passed over (null when GL is used). */
  readonly passedOver: string | null;
  readonly glInfo: GlInfo | null;
  readonly webgl2: { readonly available: boolean; readonly reason: string | null };
  readonly webgl: { readonly available: boolean; readonly reason: string | null };
  readonly userAgent: string;
  readonly cores: number;
  readonly commit: string;
  readonly dirty: boolean;
  readonly inWorker: boolean;
  /** The GPU API the page's gpu.js runs on (?gpu=webgpu), and what WebGPU offers here. */
  readonly api: 'webgl' | 'webgpu';
  readonly webgpu: { readonly available: boolean; readonly reason: string | null; readonly adapter: string | null };
}

export interface VerifyOutcome {
  readonly ok: boolean;
  /** Why nothing could be verified (no WebGL, gpu.js fell back off GL); null when it ran. */
  readonly error: string | null;
  readonly mode: string;
  readonly renderer: string | null;
  readonly text: string;
  readonly seconds: number;
  readonly json: string | null;
}

export interface ClassifyOutcome {
  readonly model: string;
  readonly classes: readonly string[];
  readonly backend: string;
  readonly top: readonly Ranked[] | null;
  /** conv1's kernels as the paper's Figure 3 draws them. */
  readonly filters: { readonly width: number; readonly height: number; readonly rgba: Uint8Array };
  /** The decoded network input (channel-major), for the page to show what the network sees. */
  readonly seen: { readonly side: number; readonly channels: number; readonly pixels: Uint8Array } | null;
}

export type Reply =
  | { readonly id: number; readonly type: 'progress'; readonly done: number; readonly total: number; readonly label: string }
  | { readonly id: number; readonly type: 'line'; readonly line: string }
  | { readonly id: number; readonly type: 'result'; readonly result: unknown }
  | { readonly id: number; readonly type: 'error'; readonly message: string };
