/**
 * The frames of IEEE C37.118.2 (2011, and the 2005 frames it keeps), as the codec decodes and encodes
 * them. Every frame starts with the common header (SYNC, FRAMESIZE, IDCODE, SOC, FRACSEC) and ends with
 * the CHK word; all numbers are big-endian.
 */

/** Frame type, bits 6-4 of the second SYNC byte. */
export const FRAME_TYPE = { data: 0, header: 1, cfg1: 2, cfg2: 3, command: 4, cfg3: 5 } as const;
export type FrameKind = keyof typeof FRAME_TYPE;
export const FRAME_KIND_BY_CODE: readonly (FrameKind | undefined)[] = ['data', 'header', 'cfg1', 'cfg2', 'command', 'cfg3', undefined, undefined];

/** Command codes (CMD word of a command frame). */
export const COMMAND = { dataOff: 1, dataOn: 2, sendHeader: 3, sendCfg1: 4, sendCfg2: 5, sendCfg3: 6, extended: 8 } as const;
export type CommandName = keyof typeof COMMAND;

/** Bytes of the common header (SYNC 2, FRAMESIZE 2, IDCODE 2, SOC 4, FRACSEC 4). */
export const HEADER_BYTES = 14;
/** The smallest frame: the common header and CHK. */
export const MIN_FRAME_BYTES = HEADER_BYTES + 2;
/** FRAMESIZE is a 16-bit word. */
export const MAX_FRAME_BYTES = 0xffff;

/** What the common header says. */
export interface FrameHeader {
  kind: FrameKind;
  /** Version bits 3-0 of SYNC: 1 = 2005, 2 = 2011. */
  version: number;
  /** FRAMESIZE: bytes in the frame, CHK included. */
  size: number;
  idcode: number;
  /** Second of century: seconds since 1970-01-01 UTC. */
  soc: number;
  /** Fraction-of-second count, 24 bits; the fraction is fracsec / TIME_BASE. */
  fracsec: number;
  /** The message time quality byte (high byte of FRACSEC): leap second bits and time quality code. */
  timeQuality: number;
}

/** FORMAT word of a PMU block: how its data frame fields are coded. */
export interface DataFormat {
  /** Bit 0: phasors as magnitude and angle (true) or real and imaginary (false). */
  polar: boolean;
  /** Bit 1: phasors as 32-bit floats (true) or 16-bit integers. */
  phasorFloat: boolean;
  /** Bit 2: analogs as floats. */
  analogFloat: boolean;
  /** Bit 3: FREQ and DFREQ as floats. */
  freqFloat: boolean;
}

export type PhasorComponent = 'zero' | 'pos' | 'neg' | 'a' | 'b' | 'c';

export interface PhasorChannel {
  name: string;
  /** PHUNIT type byte (CFG-1/2) or PHSCALE's voltage/current bit (CFG-3). */
  kind: 'voltage' | 'current';
  /**
   * Multiplier from integer data to volts or amperes: PHUNIT's 24-bit count times 10^-5 (CFG-1/2) or
   * PHSCALE's scale factor Y (CFG-3). Not applied to float data in CFG-1/2 (float phasors are in V/A).
   */
  scale: number;
  /** CFG-1/2: PHUNIT's 24-bit count (10^-5 V or A per bit). Kept for encoding. */
  unitCount?: number;
  /** CFG-3 only: PHSCALE's angle adjustment θ in radians, added to every angle. */
  angleOffset?: number;
  /** CFG-3 only: PHSCALE's 16 modification flag bits. */
  modification?: number;
  /** CFG-3 only: the phasor component of PHSCALE's type byte (absent for the reserved codes). */
  component?: PhasorComponent;
  /** CFG-3 only: PHSCALE's fourth byte, for user designation. */
  userByte?: number;
}

export interface AnalogChannel {
  name: string;
  /** ANUNIT type byte (CFG-1/2): 0 point on wave, 1 RMS, 2 peak, others reserved or user defined. */
  kind?: number;
  /** Multiplier applied to the transmitted value (ANUNIT's signed 24-bit word, or ANSCALE's M). */
  scale: number;
  /** Added after scaling (ANSCALE's B in CFG-3; 0 in CFG-1/2). */
  offset: number;
}

export interface DigitalWord {
  /** The 16 bit names, bit 0 first. */
  names: string[];
  /** DIGUNIT first word: the normal state of each input. */
  normal: number;
  /** DIGUNIT second word: which inputs are valid. */
  valid: number;
}

export interface PmuConfig {
  /** STN: the station name. */
  station: string;
  /** The PMU block's own IDCODE (distinct from the stream's). */
  idcode: number;
  format: DataFormat;
  phasors: PhasorChannel[];
  analogs: AnalogChannel[];
  digitals: DigitalWord[];
  /** FNOM: nominal frequency, 50 or 60 Hz. */
  fnom: 50 | 60;
  /** CFGCNT: configuration change count. */
  cfgcnt: number;
  /** CFG-3 only. */
  cfg3?: Cfg3Extras;
}

export interface Cfg3Extras {
  /** G_PMU_ID, 16 bytes, as hex. */
  globalId: string;
  /** Degrees (WGS 84); null when the frame says unspecified (infinity) or gives NaN. */
  lat: number | null;
  lon: number | null;
  /** Metres above mean sea level, or null. */
  elev: number | null;
  /** SVC_CLASS: 'M' or 'P' (any one character is kept). */
  svcClass: string;
  /** WINDOW: measurement window length in µs (signed). */
  windowUs: number;
  /** GRP_DLY: group delay in µs (signed). */
  groupDelayUs: number;
}

export interface ConfigFrame extends FrameHeader {
  kind: 'cfg1' | 'cfg2' | 'cfg3';
  /** TIME_BASE's 24-bit resolution of FRACSEC. */
  timeBase: number;
  /** TIME_BASE's high byte (flags, reserved). */
  timeBaseFlags: number;
  pmus: PmuConfig[];
  /** DATA_RATE: > 0 frames per second, < 0 seconds per frame. */
  dataRate: number;
  /** CFG-3 CONT_IDX: 0 for a configuration sent in one frame. */
  contIdx?: number;
}

export interface HeaderFrame extends FrameHeader {
  kind: 'header';
  text: string;
}

export interface CommandFrame extends FrameHeader {
  kind: 'command';
  cmd: number;
  /** EXTFRAME bytes, when any. */
  ext: Uint8Array;
}

/** One PMU block of a data frame, values already scaled to V, A, Hz, Hz/s. */
export interface PmuData {
  stat: number;
  /** Magnitudes (RMS, V or A) by phasor channel; NaN where the device sent "no value". */
  mag: number[];
  /** Angles in degrees, in (-180, 180]; NaN where absent. */
  ang: number[];
  /** Hz (NaN when absent). */
  freq: number;
  /** Hz/s (NaN when absent). */
  rocof: number;
  analogs: number[];
  digitals: number[];
}

export interface DataFrame extends FrameHeader {
  kind: 'data';
  /** SOC and FRACSEC as integer microseconds since the epoch. */
  ts: number;
  pmus: PmuData[];
}

export type Frame = ConfigFrame | HeaderFrame | CommandFrame | DataFrame;

/** Why a frame (or bytes of a stream) was refused; each is a counter label. */
export type RejectReason =
  /** Fewer bytes than the header or FRAMESIZE promises. */
  | 'truncated'
  /** The first byte is not 0xAA, or reserved SYNC bits are set. */
  | 'bad_sync'
  /** Frame type code 6 or 7. */
  | 'unknown_type'
  /** FRAMESIZE below the minimum, above the limit, or not the length of the frame given. */
  | 'bad_length'
  /** CHK does not match the CRC of the frame. */
  | 'bad_crc'
  /** Bytes between frames that are not a frame (skipped while looking for the next SYNC). */
  | 'garbage'
  /** A configuration frame whose fields contradict each other or its length. */
  | 'bad_config'
  /** A data frame arrived before any configuration. */
  | 'no_config'
  /** A data frame whose length differs from what the configuration describes. */
  | 'size_mismatch'
  /** FRACSEC not below TIME_BASE, or TIME_BASE 0. */
  | 'bad_time'
  /** A frame for another stream IDCODE. */
  | 'idcode_mismatch'
  /** A command frame shorter than its CMD word. */
  | 'bad_command'
  /** A CFG-3 fragment out of sequence, alone, or fragments adding up to more than the reassembly bound. */
  | 'fragmented_config'
  /** A frame kind this side does not take (e.g. a command sent to a client). */
  | 'unexpected_frame';

export const REJECT_REASONS: readonly RejectReason[] = [
  'truncated', 'bad_sync', 'unknown_type', 'bad_length', 'bad_crc', 'garbage', 'bad_config', 'no_config',
  'size_mismatch', 'bad_time', 'idcode_mismatch', 'bad_command', 'fragmented_config', 'unexpected_frame',
];

export interface Rejected {
  ok: false;
  reason: RejectReason;
  /** What is wrong and where (byte offset, field). */
  detail: string;
}

export type Decoded<T> = { ok: true; frame: T } | Rejected;
