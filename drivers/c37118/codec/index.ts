/** The IEEE C37.118.2 codec: pure functions and a stream splitter, no sockets (see ../README.md). */
export * from './types.js';
export { crcCcitt } from './crc.js';
export { decodeFrame, decodeHeader, decodeCfg3Fragments, DataDecoder, dataFrameBytes, dataBlockBytes, toMicros, MAX_CFG3_BYTES } from './decode.js';
export { encodeCommand, encodeConfig, encodeData, encodeHeaderFrame, type HeaderFields, type PmuValues } from './encode.js';
export { FrameSplitter, type SplitterEvents } from './splitter.js';
export { readStat, explainStat, explainTimeQuality, timeQualityErrorUs, statTimeErrorUs, type StatReading } from './stat.js';
