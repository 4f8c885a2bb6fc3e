/**
 * @module
 * Node-only parts of @ecg-tmp/core (file system access). The browser and Workers import "." only.
 */

export * from './dataset.ts';
export { readJsonFile, readManifestFile, readModelFolderFiles } from './model-folder.ts';
export { readNpyFile, writeFileAtomic, writeNpyFile } from './npy-file.ts';
export { RECORDING_EXTENSIONS, type ReadRecordingOptions, readRecordingFile } from './recording-file.ts';
export { isMainModule } from './script.ts';
