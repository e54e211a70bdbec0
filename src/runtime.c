/* The one runtime object: generations, reload, shutdown (see runtime.h). */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dispatch.h"
#include "log.h"
#include "runtime.h"
#include "util.h"

static void
gen_free(struct gen *g)
{
	if (g == NULL)
		return;
	dispatch_free(g->disp);
	config_free(g->cfg);
	free(g);
}

static struct gen *
gen_new(struct config *cfg, char **err)
{
	struct gen *g = xcalloc(1, sizeof *g);

	g->cfg = cfg;
	atomic_init(&g->refs, 1);
	if ((g->disp = dispatch_new(cfg, NULL, err)) == NULL) {
		gen_free(g);
		return NULL;
	}
	return g;
}

struct runtime *
runtime_new(struct config *cfg, char **err)
{
	struct runtime *rt = xcalloc(1, sizeof *rt);

	metrics_init(&rt->metrics);
	atomic_init(&rt->stopping, false);
	pthread_mutex_init(&rt->lock, NULL);
	if ((rt->cur = gen_new(cfg, err)) == NULL) {
		pthread_mutex_destroy(&rt->lock);
		free(rt);
		return NULL;
	}
	return rt;
}

struct gen *
runtime_acquire(struct runtime *rt)
{
	struct gen *g;

	pthread_mutex_lock(&rt->lock);
	g = rt->cur;
	atomic_fetch_add(&g->refs, 1);
	pthread_mutex_unlock(&rt->lock);
	return g;
}

void
runtime_release(struct gen *g)
{
	/* The runtime's own reference keeps g alive until it is reaped. */
	atomic_fetch_sub(&g->refs, 1);
}

int
runtime_reload(struct runtime *rt, struct config *cfg, char **err)
{
	struct gen *g = gen_new(cfg, err), *old;

	if (g == NULL)
		return -1;
	pthread_mutex_lock(&rt->lock);
	old = rt->cur;
	rt->cur = g;
	old->next = rt->retired;
	rt->retired = old;
	pthread_mutex_unlock(&rt->lock);
	/* The old dispatcher takes nothing new and finishes what it has. */
	runtime_reap(rt);
	return 0;
}

void
runtime_reap(struct runtime *rt)
{
	struct gen **pp, *g;
	struct dispatch_stats st;

	pthread_mutex_lock(&rt->lock);
	for (pp = &rt->retired; (g = *pp) != NULL;) {
		dispatch_stats(g->disp, &st);
		free(st.sinks);
		if (atomic_load(&g->refs) == 1 && st.queued == 0) {
			*pp = g->next;
			pthread_mutex_unlock(&rt->lock);
			(void)dispatch_drain(g->disp, 0);
			gen_free(g);
			pthread_mutex_lock(&rt->lock);
			pp = &rt->retired;
		} else
			pp = &g->next;
	}
	pthread_mutex_unlock(&rt->lock);
}

void
runtime_reopen(struct runtime *rt)
{
	struct gen *g = runtime_acquire(rt);

	dispatch_reopen(g->disp);
	runtime_release(g);
}

int
runtime_ingest(struct runtime *rt, struct gen *g, struct ld_event *ev)
{
	if (atomic_load(&rt->stopping)) {
		metrics_drop(&rt->metrics, DROP_STOPPING);
		return 503;
	}
	if (dispatch_submit(g->disp, ev, NULL, 0, 0) == -1) {
		metrics_drop(&rt->metrics, DROP_QUEUE_FULL);
		return 503;
	}
	metrics_event(&rt->metrics, ev->kind);
	return 200;
}

static void
drain(struct gen *g)
{
	size_t left = dispatch_drain(g->disp, g->cfg->shutdown_grace_ms);

	if (left > 0)
		log_warn("shutdown: %zu event%s not finished within "
		    "shutdown_grace", left, left == 1 ? "" : "s");
}

void
runtime_shutdown(struct runtime *rt)
{
	struct gen *g;

	/* From here on requests are answered 503; the dispatchers refuse
	 * new events as soon as they start draining. */
	atomic_store(&rt->stopping, true);
	drain(rt->cur);
	for (g = rt->retired; g != NULL; g = g->next)
		drain(g);
}

void
runtime_free(struct runtime *rt)
{
	struct gen *g, *next;

	if (rt == NULL)
		return;
	gen_free(rt->cur);
	for (g = rt->retired; g != NULL; g = next) {
		next = g->next;
		gen_free(g);
	}
	pthread_mutex_destroy(&rt->lock);
	free(rt);
}
