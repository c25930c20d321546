/*
 * sync_lanes — one job's batch writes on several database connections at once.
 *
 * A bulk write of one job (an import's plan entries, its replica writes) costs PostgreSQL CPU per
 * row; on one connection it uses one PostgreSQL backend. sync_lanes_run() cuts [0, n) into chunks
 * of `chunk` and lets `lanes` threads take them in order: the caller's thread and lanes - 1
 * short-lived ones (no more than there are chunks, and at most 4 × SYNC_LANES). Each call of fn writes one chunk through the store (which lends every call its
 * own pooled connection), so the chunks of different lanes run in different transactions at once.
 *
 * fn(ctx, from, to, e) must be safe to run on several threads at once: it must not touch the
 * struct sync_job (not thread-safe) or anything else shared without its own lock. Between its
 * chunks the caller's thread calls between(ctx, done) with the number of elements whose chunks
 * have finished (progress, lease renewal, cancel: sync_job_checkpoint); a nonzero answer stops
 * every lane after its current chunk. Chunks finish in any order; a chunk is written by one
 * call or not at all as far as fn makes it so (one transaction).
 *
 * Returns E_OK when every chunk was written or between() stopped the run; otherwise the first
 * error (in e), after which the other lanes stop after their current chunk. When no thread can be
 * started the caller's thread writes every chunk. Blocks until all lanes have stopped.
 * Threads: any; ctx and fn are the caller's.
 */
#ifndef GWSYNC_SYNC_LANES_H
#define GWSYNC_SYNC_LANES_H

#include <stddef.h>

#include "err.h"

/* Lanes of an import's writes: more than PostgreSQL has cores only queue inside it. */
#define SYNC_LANES 2

typedef int (*sync_lane_fn)(void *ctx, size_t from, size_t to, struct err *e);

int sync_lanes_run(int lanes, size_t n, size_t chunk, sync_lane_fn fn,
		   int (*between)(void *ctx, size_t done), void *ctx, struct err *e);

#endif
