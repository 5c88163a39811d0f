/*! open(2) flags root uses on directories others may write or replace. */
import { constants } from 'node:fs';

/** A directory, never through a symbolic link (ELOOP), never blocking on something else planted
 * under the name (a FIFO fails with ENOTDIR instead of hanging the open). */
export const DIRECTORY_NO_FOLLOW = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
