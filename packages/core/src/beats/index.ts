/**
 * @module
 * From a recording to beats: zero-phase baseline and mains filtering, QRS detection (Pan–Tompkins on
 * the 12 leads), and 500 ms windows aligned on QRS onset the way the simulator's windows are.
 * Browser-safe.
 */

export {
  BEAT_EXTRACTOR_DEFAULTS,
  BEAT_SKIP_REASONS,
  type Beat,
  type BeatExtraction,
  type BeatExtractor,
  type BeatExtractorOptions,
  type BeatSkipReason,
  createBeatExtractor,
  extractRecordingBeats,
  MIN_RECORDING_MS,
  QRS_ONSET_IN_WINDOW_MS,
  qrsOnsetInWindow,
  type SkippedBeat,
} from './extract.ts';
export { createEcgFilter, ECG_FILTER_DEFAULTS, type EcgFilter, type EcgFilterOptions } from './filter.ts';
export {
  createLiveBeatExtractor,
  LIVE_BEAT_EXTRACTOR_DEFAULTS,
  type LiveBeatEvent,
  type LiveBeatExtractor,
  type LiveBeatExtractorOptions,
  type SampleBlock,
} from './live.ts';
export { detectQrs, qrsOnset } from './qrs.ts';
