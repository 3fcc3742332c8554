/**
 * The command table. A new command is one module exporting a `Command` and one line here
 * (later issues add pf, se and schedule).
 */
import type { Command } from '../command.js';
import { bufferCommand } from './buffer.js';
import { configCheck, configSchema } from './config.js';
import { diagCommand } from './diag.js';
import { runCommand } from './run.js';
import { statusCommand } from './status.js';
import { tailCommand } from './tail.js';

export const COMMANDS: readonly Command[] = [runCommand, configCheck, configSchema, statusCommand, bufferCommand, tailCommand, diagCommand];
