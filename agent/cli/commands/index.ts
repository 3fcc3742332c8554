/**
 * The command table. A new command is one module exporting a `Command` and one line here
 * (pf, se and schedule are here).
 */
import type { Command } from '../command.js';
import { bufferCommand } from './buffer.js';
import { configCheck, configSchema } from './config.js';
import { pfCommand } from './pf.js';
import { modbusReadCommand } from './modbus.js';
import { opcuaBrowseCommand } from './opcua.js';
import { diagCommand } from './diag.js';
import { passwdCommand } from './passwd.js';
import { runCommand } from './run.js';
import { scheduleCommand } from './schedule.js';
import { seCommand } from './se.js';
import { sessionsCommand, sessionsEndCommand } from './sessions.js';
import { statusCommand } from './status.js';
import { tailCommand } from './tail.js';
import { pmuProbe } from './pmu.js';

export const COMMANDS: readonly Command[] = [runCommand, configCheck, configSchema, statusCommand, bufferCommand, sessionsCommand, sessionsEndCommand, tailCommand, pfCommand, seCommand, scheduleCommand, pmuProbe, modbusReadCommand, opcuaBrowseCommand, diagCommand, passwdCommand];
