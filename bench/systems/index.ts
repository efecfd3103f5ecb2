/** Every system under test, in the column order of the tables. */
import type { SystemDescriptor } from '../lib/types.js';
import { emmett } from './emmett.js';
import { emmettInline } from './emmett-inline.js';
import { messageDb } from './messagedb.js';
import { pgeventsApi } from './pgevents-api.js';
import { pgeventsAppend } from './pgevents-append.js';
import { pgeventsEmbedded } from './pgevents-embedded.js';
import { pgeventsImport, pgeventsImportBare } from './pgevents-import.js';
import { pgeventsInsert, pgeventsInsertPerEvent } from './pgevents-insert.js';
import { raw } from './raw.js';
import { seed } from './seed.js';

export const SYSTEMS: SystemDescriptor[] = [
  raw,
  seed,
  pgeventsInsert,
  pgeventsAppend,
  pgeventsApi,
  pgeventsImport,
  pgeventsInsertPerEvent,
  pgeventsImportBare,
  emmett,
  emmettInline,
  messageDb,
  pgeventsEmbedded,
];
