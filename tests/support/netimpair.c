/* SPDX-License-Identifier: MIT */
/*
 * netimpair.c - a small packet impairer for network tests on kernels without
 * sch_netem: it takes the packets that iptables sends to an NFQUEUE, drops
 * each with a given probability (seeded PRNG) and lets the others through
 * after a uniform random delay, issuing the verdicts in the order their
 * delays end, so packets overtake each other.
 *
 * Only verdicts are given: the packets stay in the kernel (copy mode META,
 * no payload is read), so nothing is rewritten. Held packets are bounded
 * (--max); a packet that finds the bound reached is dropped and counted as
 * an overflow. On SIGTERM or SIGINT it lets every held packet go, unbinds
 * and prints its counts on stdout.
 *
 * usage: netimpair [--queue N] [--seed S] [--loss PERCENT] [--delay MS]
 *                  [--jitter MS] [--max N]
 * Defaults: queue 0, seed 1, loss 10, delay 100, jitter 50, max 8192. Prints
 * "netimpair: ready" once bound. Exit 0 after a signal, 1 on an error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

enum {
	RECV_LEN = 65536,
	KERNEL_QUEUE_MAX = 16384, /* packets the kernel may hold for us */
	IDLE_WAIT_MS = 200,
};

struct held {
	uint64_t due_us; /* monotonic time its verdict is due */
	uint32_t id;     /* the kernel's packet id */
};

struct impair {
	struct nfq_q_handle *qh;
	uint64_t rng;
	unsigned loss_pct, delay_ms, jitter_ms;
	struct held *heap; /* min-heap on due_us */
	size_t n_held, max_held;
	unsigned long n_seen, n_dropped, n_delayed, n_overflow, n_nobufs;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t rng_next(struct impair *im)
{
	uint64_t z = (im->rng += 0x9e3779b97f4a7c15u); /* splitmix64 */

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static void heap_push(struct impair *im, struct held h)
{
	size_t i = im->n_held++;

	while (i > 0 && im->heap[(i - 1) / 2].due_us > h.due_us) {
		im->heap[i] = im->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	im->heap[i] = h;
}

static struct held heap_pop(struct impair *im)
{
	struct held top = im->heap[0], last = im->heap[--im->n_held];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= im->n_held)
			break;
		if (c + 1 < im->n_held && im->heap[c + 1].due_us < im->heap[c].due_us)
			c++;
		if (im->heap[c].due_us >= last.due_us)
			break;
		im->heap[i] = im->heap[c];
		i = c;
	}
	if (im->n_held > 0)
		im->heap[i] = last;
	return top;
}

static void verdict(struct impair *im, uint32_t id, uint32_t v)
{
	if (nfq_set_verdict(im->qh, id, v, 0, NULL) < 0)
		fprintf(stderr, "netimpair: verdict for packet %u: %s\n", id, strerror(errno));
}

/* Called by nfq_handle_packet for each queued packet. */
static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
                     void *data)
{
	struct impair *im = data;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	uint32_t id;

	(void)qh;
	(void)msg;
	if (ph == NULL)
		return 0;
	id = ntohl(ph->packet_id);
	im->n_seen++;
	if (rng_next(im) % 100 < im->loss_pct) {
		im->n_dropped++;
		verdict(im, id, NF_DROP);
		return 0;
	}
	if (im->n_held == im->max_held) {
		im->n_overflow++;
		verdict(im, id, NF_DROP);
		return 0;
	}
	uint64_t lo = (uint64_t)(im->delay_ms - im->jitter_ms) * 1000u;
	uint64_t span = (uint64_t)im->jitter_ms * 2000u + 1u;
	heap_push(im, (struct held){.due_us = now_us() + lo + rng_next(im) % span, .id = id});
	im->n_delayed++;
	return 0;
}

/* Lets every packet whose delay has ended go; the ms to wait for the next
 * one, at most IDLE_WAIT_MS so that a signal between the check of g_stop and
 * poll() is noticed soon. */
static int release_due(struct impair *im)
{
	uint64_t now = now_us(), wait_ms;

	while (im->n_held > 0 && im->heap[0].due_us <= now)
		verdict(im, heap_pop(im).id, NF_ACCEPT);
	if (im->n_held == 0)
		return IDLE_WAIT_MS;
	wait_ms = (im->heap[0].due_us - now + 999u) / 1000u;
	return wait_ms < IDLE_WAIT_MS ? (int)wait_ms : IDLE_WAIT_MS;
}

static bool parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

static bool parse_args(int argc, char **argv, struct impair *im, unsigned *queue)
{
	unsigned seed = 1, max = 8192;

	for (int i = 1; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = v != NULL;

		if (ok && strcmp(o, "--queue") == 0)
			ok = parse_uint(v, 65535, queue);
		else if (ok && strcmp(o, "--seed") == 0)
			ok = parse_uint(v, UINT32_MAX, &seed);
		else if (ok && strcmp(o, "--loss") == 0)
			ok = parse_uint(v, 100, &im->loss_pct);
		else if (ok && strcmp(o, "--delay") == 0)
			ok = parse_uint(v, 60000, &im->delay_ms);
		else if (ok && strcmp(o, "--jitter") == 0)
			ok = parse_uint(v, 60000, &im->jitter_ms);
		else if (ok && strcmp(o, "--max") == 0)
			ok = parse_uint(v, 1000000, &max) && max > 0;
		else
			ok = false;
		if (!ok) {
			fprintf(stderr, "netimpair: bad option %s\n", o);
			return false;
		}
	}
	if (im->jitter_ms > im->delay_ms) {
		fprintf(stderr, "netimpair: the jitter must not exceed the delay\n");
		return false;
	}
	im->rng = seed;
	im->max_held = max;
	return true;
}

/* Receives and handles what the kernel queued until a signal comes. */
static int run(struct nfq_handle *h, struct impair *im)
{
	static char buf[RECV_LEN] __attribute__((aligned));
	struct pollfd p = {.fd = nfq_fd(h), .events = POLLIN};

	while (!g_stop) {
		int r = poll(&p, 1, release_due(im));

		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "netimpair: poll: %s\n", strerror(errno));
			return 1;
		}
		if (r <= 0)
			continue;
		ssize_t n = recv(p.fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == ENOBUFS) {
			im->n_nobufs++; /* the kernel dropped queue messages: counted, go on */
			continue;
		}
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			fprintf(stderr, "netimpair: recv: %s\n", strerror(errno));
			return 1;
		}
		(void)nfq_handle_packet(h, buf, (int)n);
	}
	while (im->n_held > 0)
		verdict(im, heap_pop(im).id, NF_ACCEPT);
	return 0;
}

int main(int argc, char **argv)
{
	struct impair im = {.loss_pct = 10, .delay_ms = 100, .jitter_ms = 50};
	struct nfq_handle *h = NULL;
	unsigned queue = 0;
	int rc = 1;

	if (!parse_args(argc, argv, &im, &queue))
		return 2;
	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll returns */
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
		return 1;
	if ((im.heap = calloc(im.max_held, sizeof(*im.heap))) == NULL)
		return 1;
	if ((h = nfq_open()) == NULL) {
		fprintf(stderr, "netimpair: nfq_open: %s\n", strerror(errno));
		goto out;
	}
	im.qh = nfq_create_queue(h, (uint16_t)queue, on_packet, &im);
	if (im.qh == NULL || nfq_set_mode(im.qh, NFQNL_COPY_META, 0) < 0) {
		fprintf(stderr, "netimpair: cannot bind queue %u: %s\n", queue, strerror(errno));
		goto out;
	}
	(void)nfq_set_queue_maxlen(im.qh, KERNEL_QUEUE_MAX);
	(void)nfnl_rcvbufsiz(nfq_nfnlh(h), 8u << 20);
	printf("netimpair: ready (queue %u, loss %u%%, delay %u ms +- %u ms)\n", queue, im.loss_pct,
	       im.delay_ms, im.jitter_ms);
	(void)fflush(stdout);
	rc = run(h, &im);
	printf("netimpair: packets seen %lu, dropped %lu, delayed %lu, overflow %lu, "
	       "queue messages lost %lu\n",
	       im.n_seen, im.n_dropped, im.n_delayed, im.n_overflow, im.n_nobufs);
out:
	if (im.qh != NULL)
		(void)nfq_destroy_queue(im.qh);
	if (h != NULL)
		(void)nfq_close(h);
	free(im.heap);
	return rc;
}
