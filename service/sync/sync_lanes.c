#include "sync_lanes.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

struct lanes {
	size_t n, chunk;
	sync_lane_fn fn;
	void *ctx;
	atomic_size_t next;   /* first element of the next chunk to take */
	atomic_size_t done;   /* elements of the chunks written */
	atomic_bool stop;     /* an error or between() */
	pthread_mutex_t lock; /* guards first */
	struct err first;
	int first_rc;
};

/* Takes and writes one chunk; false when there is none left or the run stops. */
static bool lane_step(struct lanes *l)
{
	if (atomic_load(&l->stop))
		return false;
	size_t from = atomic_fetch_add(&l->next, l->chunk);
	if (from >= l->n)
		return false;
	size_t to = l->n - from < l->chunk ? l->n : from + l->chunk;
	struct err e = {0};
	int rc = l->fn(l->ctx, from, to, &e);
	if (rc) {
		pthread_mutex_lock(&l->lock);
		if (!l->first_rc) {
			l->first_rc = rc;
			l->first = e;
		}
		pthread_mutex_unlock(&l->lock);
		atomic_store(&l->stop, true);
		return false;
	}
	atomic_fetch_add(&l->done, to - from);
	return true;
}

static void *lane_main(void *arg)
{
	struct lanes *l = arg;
	while (lane_step(l))
		;
	return NULL;
}

int sync_lanes_run(int lanes, size_t n, size_t chunk, sync_lane_fn fn,
		   int (*between)(void *ctx, size_t done), void *ctx, struct err *e)
{
	if (n == 0)
		return E_OK;
	struct lanes l = {.n = n, .chunk = chunk ? chunk : 1, .fn = fn, .ctx = ctx};
	atomic_init(&l.next, 0);
	atomic_init(&l.done, 0);
	atomic_init(&l.stop, false);
	if (pthread_mutex_init(&l.lock, NULL))
		return err_set(e, E_NOMEM, "lanes");
	pthread_t t[SYNC_LANES * 4];
	int started = 0;
	if (lanes > (int)(sizeof(t) / sizeof(t[0])) + 1)
		lanes = (int)(sizeof(t) / sizeof(t[0])) + 1;
	/* no more lanes than chunks: a lane without a chunk would only cost a thread */
	size_t chunks = (n + l.chunk - 1) / l.chunk;
	for (int i = 1; i < lanes && (size_t)i < chunks; i++)
		if (pthread_create(&t[started], NULL, lane_main, &l) == 0)
			started++;
	while (lane_step(&l))
		if (between && between(ctx, atomic_load(&l.done)))
			atomic_store(&l.stop, true);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&l.lock);
	if (l.first_rc && e)
		*e = l.first;
	return l.first_rc;
}
