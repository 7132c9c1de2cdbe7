/* SPDX-License-Identifier: MIT */
/*
 * transport.c - benchmark of the relay transport (src/net) over loopback.
 *
 * Measures, in one run and on the same machine:
 *   handshakes_per_s      Noise_NK handshakes over TCP on 127.0.0.1 (dial,
 *                         handshake, close), relay and client on two threads
 *   blocks_per_s          16 KB blocks through one encrypted connection,
 *                         sender and receiver on two threads
 *   raw_tcp_blocks_per_s  the same 16,402-byte frames over plain TCP with no
 *                         encryption and no event loop (blocking sockets)
 *   raw_tcp_connections_per_s  TCP connections over the same libuv machinery
 *                         carrying the handshake's 54 and 52 bytes, no crypto
 *   handshakes_memory_per_s  both sides' sessions in one thread, no TCP
 *   aead_16k_per_s        ChaCha20-Poly1305 encrypt + decrypt of 16 KB, one thread
 *   x25519_per_s          X25519 scalar multiplications, one thread
 *   x25519_base_per_s     X25519 key generations (fixed base), one thread
 *
 * and the two goal ratios: blocks_per_s / aead_16k_per_s, and
 * handshakes_per_s / the rate the handshake's own X25519 work allows. Each
 * NK side does one key generation and two DHs; the two sides run on their
 * own threads, so that bound is 1 / (t_base + 2 t_dh).
 *
 * Every rate is a count of completed, checked operations divided by wall
 * time. The relay side is the same code sotto-relay runs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include <sotto/sotto.h>

#include "crypto/aead.h"
#include "crypto/x25519.h"
#include "net/addr.h"
#include "net/conn.h"
#include "net/limits.h"
#include "net/session.h"

enum {
	BENCH_BLOCK_LEN = 16384, /* the "16 KB" of every block figure */
	BENCH_CONCURRENT_DEFAULT = 8,
	BENCH_CONCURRENT_MAX = 256,
};

struct options {
	double seconds; /* per measurement */
	int concurrent; /* handshakes in flight */
	bool json;
	const char *only; /* run just this measurement (for profiling), or NULL */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void die(const char *what, sotto_err rc)
{
	fprintf(stderr, "transport: %s: %s\n", what, sotto_strerror(rc));
	exit(1);
}

/* ---- in-process baselines ---- */

static double bench_x25519(double seconds, bool base)
{
	struct x25519_keypair a, b;
	uint8_t shared[X25519_SHARED_LEN];
	unsigned long n = 0;
	sotto_ctx *ctx = NULL;

	if (sotto_ctx_new(&ctx, NULL) != SOTTO_OK)
		die("context", SOTTO_ERR_NOMEM);
	x25519_keypair_generate(ctx, &a);
	x25519_keypair_generate(ctx, &b);
	double start = now_s(), t = start;
	while (t - start < seconds) {
		for (int i = 0; i < 64; i++) {
			if (base) {
				x25519_keypair_generate(ctx, &a);
			} else if (x25519_dh(shared, a.priv, b.pub) != SOTTO_OK) {
				die("x25519", SOTTO_ERR_INTERNAL);
			}
		}
		n += 64;
		t = now_s();
	}
	x25519_keypair_clear(&a);
	x25519_keypair_clear(&b);
	sodium_memzero(shared, sizeof(shared));
	sotto_ctx_free(ctx);
	return (double)n / (t - start);
}

static double bench_aead_16k(double seconds)
{
	static uint8_t pt[BENCH_BLOCK_LEN], ct[BENCH_BLOCK_LEN + AEAD_TAG_LEN],
	        back[BENCH_BLOCK_LEN];
	uint8_t key[AEAD_KEY_LEN], nonce[AEAD_IETF_NONCE_LEN] = {0};
	unsigned long n = 0;

	randombytes_buf(key, sizeof(key));
	randombytes_buf(pt, sizeof(pt));
	double start = now_s(), t = start;
	while (t - start < seconds) {
		for (int i = 0; i < 16; i++) {
			nonce[0] = (uint8_t)n;
			if (aead_ietf_encrypt(ct, pt, sizeof(pt), NULL, 0, nonce, key) !=
			            SOTTO_OK ||
			    aead_ietf_decrypt(back, ct, sizeof(ct), NULL, 0, nonce, key) !=
			            SOTTO_OK)
				die("aead", SOTTO_ERR_AUTH);
			n++;
		}
		t = now_s();
	}
	if (memcmp(back, pt, sizeof(pt)) != 0)
		die("aead round trip", SOTTO_ERR_INTERNAL);
	return (double)n / (t - start);
}

/*
 * ---- handshakes in memory: both sides' sessions in one thread, no TCP ----
 * The same session code the connections run, fed from memory, so the gap
 * between this and the X25519 bound is our own framing, hashing and
 * allocation, and the gap to the TCP figure is the kernel's.
 */
struct mem_hs {
	uint8_t msg2[NET_MSG2_FRAME_LEN];
	size_t msg2_len;
	unsigned n_open;
};

static sotto_err mem_hs_event(void *user, const struct net_event *ev)
{
	struct mem_hs *m = user;
	if (ev->type == NET_EVENT_WRITE && ev->len <= sizeof(m->msg2)) {
		memcpy(m->msg2, ev->bytes, ev->len);
		m->msg2_len = ev->len;
	} else if (ev->type == NET_EVENT_OPEN) {
		m->n_open++;
	}
	return SOTTO_OK;
}

static double bench_handshakes_memory(double seconds)
{
	struct x25519_keypair relay_key;
	uint8_t msg1[NET_MSG1_FRAME_LEN];
	unsigned long n = 0;
	sotto_ctx *ctx = NULL;

	if (sotto_ctx_new(&ctx, NULL) != SOTTO_OK)
		die("context", SOTTO_ERR_NOMEM);
	x25519_keypair_generate(ctx, &relay_key);
	double start = now_s(), t = start;
	while (t - start < seconds) {
		struct net_session *client = NULL, *relay = NULL;
		struct mem_hs m = {0};
		sotto_err rc;
		if ((rc = net_session_new_client(ctx, NULL, relay_key.pub, &client)) != SOTTO_OK ||
		    (rc = net_session_new_relay(ctx, NULL, &relay_key, &relay)) != SOTTO_OK ||
		    (rc = net_session_start(client, msg1)) != SOTTO_OK ||
		    (rc = net_session_feed(relay, msg1, sizeof(msg1), mem_hs_event, &m)) !=
		            SOTTO_OK ||
		    (rc = net_session_feed(client, m.msg2, m.msg2_len, mem_hs_event, &m)) !=
		            SOTTO_OK)
			die("in-memory handshake", rc);
		if (m.n_open != 2)
			die("in-memory handshake did not open both sides", SOTTO_ERR_INTERNAL);
		net_session_free(client);
		net_session_free(relay);
		n++;
		if ((n & 15) == 0)
			t = now_s();
	}
	t = now_s();
	x25519_keypair_clear(&relay_key);
	sotto_ctx_free(ctx);
	return (double)n / (t - start);
}

/* ---- raw TCP: blocking sockets, no encryption ---- */

struct raw_rx {
	int listen_fd;
	unsigned long long bytes;
	double first, last;
};

static void *raw_receiver(void *arg)
{
	struct raw_rx *rx = arg;
	static uint8_t buf[1 << 16];
	int fd = accept(rx->listen_fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		if (rx->bytes == 0)
			rx->first = now_s();
		rx->bytes += (unsigned long long)r;
	}
	rx->last = now_s();
	close(fd);
	return NULL;
}

static double bench_raw_tcp(double seconds)
{
	static uint8_t frame[NET_TRANSPORT_FRAME_LEN];
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	struct raw_rx rx = {0};
	pthread_t th;
	int one = 1;

	rx.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (rx.listen_fd < 0 || bind(rx.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(rx.listen_fd, 1) != 0 ||
	    getsockname(rx.listen_fd, (struct sockaddr *)&sa, &sl) != 0)
		die("raw tcp listen", SOTTO_ERR_IO);
	pthread_create(&th, NULL, raw_receiver, &rx);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("raw tcp connect", SOTTO_ERR_CONNECT);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(frame, 0xa5, sizeof(frame));
	double start = now_s();
	while (now_s() - start < seconds) {
		size_t off = 0;
		while (off < sizeof(frame)) {
			ssize_t w = write(fd, frame + off, sizeof(frame) - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				die("raw tcp write", SOTTO_ERR_IO);
			off += (size_t)w;
		}
	}
	close(fd);
	pthread_join(th, NULL);
	close(rx.listen_fd);
	double blocks = (double)rx.bytes / (double)NET_TRANSPORT_FRAME_LEN;
	return blocks / (rx.last - rx.first);
}

/*
 * ---- raw TCP connections: the same libuv machinery with no crypto ----
 *
 * A client dials, writes a 54-byte "msg1" frame, reads a 52-byte reply and
 * closes; the server accepts, reads 54 bytes, writes 52 and closes at EOF.
 * This is the TCP work one NK handshake carries, so it bounds the
 * handshake rate from the network side as X25519 bounds it from the crypto
 * side.
 */
struct raw_peer {
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write;
	struct raw_side *side;
	size_t got;
	uint8_t buf[64];
};

struct raw_side {
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_async_t stop;
	struct sockaddr_in addr;
	double deadline;
	unsigned long n_done;
	int n_active;
	atomic_int ready;
	pthread_t thread;
};

static void raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct raw_peer *p = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)p->buf + p->got, (unsigned)(sizeof(p->buf) - p->got));
}

static void raw_peer_free(uv_handle_t *h)
{
	free(h->data);
}

static void raw_written(uv_write_t *w, int status)
{
	(void)w;
	(void)status;
}

static void raw_server_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct raw_peer *p = s->data;
	static const uint8_t reply[NET_MSG2_FRAME_LEN];
	(void)buf;
	if (n < 0) {
		uv_close((uv_handle_t *)s, raw_peer_free);
		return;
	}
	p->got += (size_t)n;
	if (p->got == NET_MSG1_FRAME_LEN) {
		uv_buf_t b = uv_buf_init((char *)reply, sizeof(reply));
		uv_write(&p->write, s, &b, 1, raw_written);
	}
}

static void raw_on_accept(uv_stream_t *l, int status)
{
	struct raw_side *side = l->data;
	struct raw_peer *p = calloc(1, sizeof(*p));
	if (status < 0 || p == NULL)
		die("raw accept", SOTTO_ERR_IO);
	uv_tcp_init(&side->loop, &p->tcp);
	p->tcp.data = p;
	if (uv_accept(l, (uv_stream_t *)&p->tcp) != 0)
		die("raw accept", SOTTO_ERR_IO);
	uv_tcp_nodelay(&p->tcp, 1);
	uv_read_start((uv_stream_t *)&p->tcp, raw_alloc, raw_server_read);
}

static void raw_server_stop(uv_async_t *a)
{
	struct raw_side *side = a->data;
	uv_close((uv_handle_t *)&side->listener, NULL);
	uv_close((uv_handle_t *)&side->stop, NULL);
}

static void *raw_server_main(void *arg)
{
	struct raw_side *side = arg;
	socklen_t len = sizeof(side->addr);
	uv_loop_init(&side->loop);
	uv_async_init(&side->loop, &side->stop, raw_server_stop);
	side->stop.data = side;
	uv_tcp_init(&side->loop, &side->listener);
	side->listener.data = side;
	uv_ip4_addr("127.0.0.1", 0, &side->addr);
	if (uv_tcp_bind(&side->listener, (struct sockaddr *)&side->addr, 0) != 0 ||
	    uv_listen((uv_stream_t *)&side->listener, NET_LISTEN_BACKLOG, raw_on_accept) != 0 ||
	    uv_tcp_getsockname(&side->listener, (struct sockaddr *)&side->addr, (int *)&len) != 0)
		die("raw listen", SOTTO_ERR_IO);
	atomic_store(&side->ready, 1);
	uv_run(&side->loop, UV_RUN_DEFAULT);
	uv_loop_close(&side->loop);
	return NULL;
}

static void raw_dial(struct raw_side *client, const struct sockaddr_in *to);

static void raw_client_closed(uv_handle_t *h)
{
	struct raw_peer *p = h->data;
	struct raw_side *client = p->side;
	free(p);
	client->n_active--;
}

static void raw_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct raw_peer *p = s->data;
	(void)buf;
	if (n < 0)
		die("raw read", SOTTO_ERR_IO);
	p->got += (size_t)n;
	if (p->got < NET_MSG2_FRAME_LEN)
		return;
	p->side->n_done++;
	uv_close((uv_handle_t *)s, raw_client_closed);
	if (now_s() < p->side->deadline)
		raw_dial(p->side, &p->side->addr);
}

static void raw_connected(uv_connect_t *c, int status)
{
	struct raw_peer *p = c->data;
	static const uint8_t msg1[NET_MSG1_FRAME_LEN];
	uv_buf_t b = uv_buf_init((char *)msg1, sizeof(msg1));
	if (status < 0)
		die("raw connect", SOTTO_ERR_CONNECT);
	uv_tcp_nodelay(&p->tcp, 1);
	uv_read_start((uv_stream_t *)&p->tcp, raw_alloc, raw_client_read);
	uv_write(&p->write, (uv_stream_t *)&p->tcp, &b, 1, raw_written);
}

static void raw_dial(struct raw_side *client, const struct sockaddr_in *to)
{
	struct raw_peer *p = calloc(1, sizeof(*p));
	if (p == NULL)
		die("raw dial", SOTTO_ERR_NOMEM);
	p->side = client;
	uv_tcp_init(&client->loop, &p->tcp);
	p->tcp.data = p;
	p->connect.data = p;
	if (uv_tcp_connect(&p->connect, &p->tcp, (const struct sockaddr *)to, raw_connected) != 0)
		die("raw connect", SOTTO_ERR_CONNECT);
	client->n_active++;
}

static double bench_raw_connections(const struct options *o)
{
	struct raw_side server = {0}, client = {0};

	pthread_create(&server.thread, NULL, raw_server_main, &server);
	while (!atomic_load(&server.ready))
		sleep_ms(1);
	uv_loop_init(&client.loop);
	client.addr = server.addr;
	double start = now_s();
	client.deadline = start + o->seconds;
	for (int i = 0; i < o->concurrent; i++)
		raw_dial(&client, &client.addr);
	uv_run(&client.loop, UV_RUN_DEFAULT);
	double elapsed = now_s() - start;
	uv_loop_close(&client.loop);
	uv_async_send(&server.stop);
	pthread_join(server.thread, NULL);
	return (double)client.n_done / elapsed;
}

/* ---- the sotto transport: relay thread ---- */

struct relay {
	uv_loop_t loop;
	uv_async_t stop;
	sotto_ctx *ctx;
	struct x25519_keypair key;
	struct net_server *server;
	uint16_t port;
	atomic_ulong n_blocks; /* blocks received, content checked */
	atomic_ulong n_opened; /* handshakes completed on the relay side */
	atomic_ulong n_bad;    /* blocks with wrong content */
	atomic_int ready;
	pthread_t thread;
};

static void relay_on_open(void *user, struct net_conn *conn, const uint8_t *id, uint16_t version)
{
	struct relay *r = user;
	(void)conn;
	(void)id;
	(void)version;
	atomic_fetch_add(&r->n_opened, 1);
}

static void relay_on_block(void *user, struct net_conn *conn, const uint8_t *content, size_t len)
{
	struct relay *r = user;
	(void)conn;
	/* The sender fills every byte of a block with its sequence number's low byte. */
	if (len != NET_BLOCK_CONTENT_MAX || content[0] != content[len - 1])
		atomic_fetch_add(&r->n_bad, 1);
	atomic_fetch_add(&r->n_blocks, 1);
}

static void relay_on_stop(uv_async_t *a)
{
	struct relay *r = a->data;
	net_server_close(r->server);
	uv_close((uv_handle_t *)&r->stop, NULL);
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	struct net_conn_callbacks cb = {
	        .on_open = relay_on_open, .on_block = relay_on_block, .user = r};
	struct net_conn_config cfg = {.max_connections = NET_CONNECTIONS_MAX};
	sotto_err rc;

	uv_loop_init(&r->loop);
	uv_async_init(&r->loop, &r->stop, relay_on_stop);
	r->stop.data = r;
	rc = net_server_listen(r->ctx, &r->loop, "127.0.0.1", 0, &r->key, &cfg, &cb, &r->server);
	if (rc != SOTTO_OK)
		die("relay listen", rc);
	r->port = net_server_port(r->server);
	atomic_store(&r->ready, 1);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	uv_loop_close(&r->loop);
	return NULL;
}

static void relay_start(struct relay *r)
{
	memset(r, 0, sizeof(*r));
	if (sotto_ctx_new(&r->ctx, NULL) != SOTTO_OK)
		die("context", SOTTO_ERR_NOMEM);
	x25519_keypair_generate(r->ctx, &r->key);
	pthread_create(&r->thread, NULL, relay_main, r);
	while (!atomic_load(&r->ready))
		sleep_ms(1);
}

static void relay_stop(struct relay *r)
{
	uv_async_send(&r->stop);
	pthread_join(r->thread, NULL);
	x25519_keypair_clear(&r->key);
	sotto_ctx_free(r->ctx);
}

static void relay_addr(const struct relay *r, struct net_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	memcpy(addr->key, r->key.pub, sizeof(addr->key));
	memcpy(addr->host, "127.0.0.1", sizeof("127.0.0.1"));
	addr->port = r->port;
}

/* ---- the sotto transport: client side (runs on the main thread) ---- */

struct client {
	uv_loop_t loop;
	sotto_ctx *ctx;
	struct net_addr addr;
	double deadline;
	unsigned long n_opened; /* handshakes completed on the client side */
	unsigned long n_failed;
	sotto_err first_error;
	int n_active;
	/* block streaming */
	uint8_t block[NET_BLOCK_CONTENT_MAX];
	unsigned long n_sent;
	bool stopped;
};

static void client_dial(struct client *c, const struct net_conn_callbacks *cb)
{
	struct net_conn *conn = NULL;
	sotto_err rc = net_conn_dial(c->ctx, &c->loop, &c->addr, NULL, cb, &conn);
	if (rc != SOTTO_OK)
		die("dial", rc);
	c->n_active++;
}

static void hs_on_open(void *user, struct net_conn *conn, const uint8_t *id, uint16_t version)
{
	struct client *c = user;
	(void)id;
	(void)version;
	c->n_opened++;
	net_conn_close(conn);
}

static void hs_on_close(void *user, struct net_conn *conn, sotto_err reason);

static const struct net_conn_callbacks hs_callbacks = {
        .on_open = hs_on_open, .on_close = hs_on_close, .user = NULL};

static void hs_on_close(void *user, struct net_conn *conn, sotto_err reason)
{
	struct client *c = user;
	struct net_conn_callbacks cb = hs_callbacks;
	(void)conn;
	c->n_active--;
	if (reason != SOTTO_ERR_CANCELLED) {
		c->n_failed++;
		if (c->first_error == SOTTO_OK)
			c->first_error = reason;
	}
	if (now_s() < c->deadline && c->n_failed == 0) {
		cb.user = c;
		client_dial(c, &cb);
	}
}

static double bench_handshakes(struct relay *r, const struct options *o)
{
	struct client c = {0};
	struct net_conn_callbacks cb = hs_callbacks;

	uv_loop_init(&c.loop);
	if (sotto_ctx_new(&c.ctx, NULL) != SOTTO_OK)
		die("context", SOTTO_ERR_NOMEM);
	relay_addr(r, &c.addr);
	cb.user = &c;
	unsigned long relay_before = atomic_load(&r->n_opened);
	double start = now_s();
	c.deadline = start + o->seconds;
	for (int i = 0; i < o->concurrent; i++)
		client_dial(&c, &cb);
	uv_run(&c.loop, UV_RUN_DEFAULT);
	double elapsed = now_s() - start;
	if (c.n_failed != 0)
		die("handshake", c.first_error);
	unsigned long relay_opened = atomic_load(&r->n_opened) - relay_before;
	if (relay_opened != c.n_opened)
		die("handshake counts differ between relay and client", SOTTO_ERR_INTERNAL);
	uv_loop_close(&c.loop);
	sotto_ctx_free(c.ctx);
	return (double)c.n_opened / elapsed;
}

static void stream_pump(struct client *c, struct net_conn *conn)
{
	while (!c->stopped) {
		if (now_s() >= c->deadline) {
			c->stopped = true;
			net_conn_close(conn);
			return;
		}
		memset(c->block, (int)(c->n_sent & 0xff), sizeof(c->block));
		sotto_err rc = net_conn_send(conn, c->block, sizeof(c->block));
		if (rc == SOTTO_ERR_BUSY)
			return; /* on_drain resumes */
		if (rc != SOTTO_OK)
			die("send", rc);
		c->n_sent++;
	}
}

static void stream_on_open(void *user, struct net_conn *conn, const uint8_t *id, uint16_t version)
{
	(void)id;
	(void)version;
	stream_pump(user, conn);
}

static void stream_on_drain(void *user, struct net_conn *conn)
{
	stream_pump(user, conn);
}

static void stream_on_close(void *user, struct net_conn *conn, sotto_err reason)
{
	struct client *c = user;
	(void)conn;
	if (reason != SOTTO_ERR_CANCELLED)
		die("stream connection", reason);
	c->n_active--;
}

static double bench_blocks(struct relay *r, const struct options *o)
{
	struct client c = {0};
	struct net_conn_callbacks cb = {.on_open = stream_on_open,
	                                .on_drain = stream_on_drain,
	                                .on_close = stream_on_close,
	                                .user = &c};

	uv_loop_init(&c.loop);
	if (sotto_ctx_new(&c.ctx, NULL) != SOTTO_OK)
		die("context", SOTTO_ERR_NOMEM);
	relay_addr(r, &c.addr);
	unsigned long before = atomic_load(&r->n_blocks);
	double start = now_s();
	c.deadline = start + o->seconds;
	client_dial(&c, &cb);
	uv_run(&c.loop, UV_RUN_DEFAULT);
	/*
	 * Closing drops blocks still queued locally, so count what the relay
	 * received and checked, up to when it stops arriving.
	 */
	unsigned long got = atomic_load(&r->n_blocks), prev;
	do {
		prev = got;
		sleep_ms(20);
		got = atomic_load(&r->n_blocks);
	} while (got != prev);
	double elapsed = now_s() - start - 0.02;
	got -= before;
	if (atomic_load(&r->n_bad) != 0)
		die("blocks arrived corrupted", SOTTO_ERR_INTERNAL);
	if (got == 0 || got > c.n_sent)
		die("block counts are inconsistent", SOTTO_ERR_INTERNAL);
	uv_loop_close(&c.loop);
	sotto_ctx_free(c.ctx);
	return (double)got / elapsed;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: transport [--json] [--seconds S] [--concurrent N]\n"
	        "\n"
	        "Benchmarks sotto's relay transport (Noise_NK over TCP on 127.0.0.1) beside\n"
	        "raw TCP, raw X25519 and raw ChaCha20-Poly1305 measured in the same run.\n"
	        "\n"
	        "  --json          print one JSON object instead of the table\n"
	        "  --seconds S     time per measurement (default 2)\n"
	        "  --concurrent N  handshakes in flight at once (default %d, max %d)\n"
	        "  --only WHAT     measure only \"handshakes\" or \"blocks\" (for profiling)\n"
	        "  --help          this text\n",
	        BENCH_CONCURRENT_DEFAULT, BENCH_CONCURRENT_MAX);
}

static int parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){.seconds = 2.0, .concurrent = BENCH_CONCURRENT_DEFAULT};
	for (int i = 1; i < argc; i++) {
		char *end = NULL;
		if (strcmp(argv[i], "--json") == 0) {
			o->json = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			o->seconds = strtod(argv[++i], &end);
			if (*end != '\0' || !(o->seconds > 0.05 && o->seconds <= 600))
				return -1;
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			o->only = argv[++i];
			if (strcmp(o->only, "handshakes") != 0 && strcmp(o->only, "blocks") != 0)
				return -1;
		} else if (strcmp(argv[i], "--concurrent") == 0 && i + 1 < argc) {
			long v = strtol(argv[++i], &end, 10);
			if (*end != '\0' || v < 1 || v > BENCH_CONCURRENT_MAX)
				return -1;
			o->concurrent = (int)v;
		} else {
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	struct relay relay;

	if (parse_args(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	if (sodium_init() < 0)
		die("libsodium", SOTTO_ERR_INTERNAL);
	if (o.only != NULL) {
		relay_start(&relay);
		double rate = strcmp(o.only, "handshakes") == 0 ? bench_handshakes(&relay, &o)
		                                                : bench_blocks(&relay, &o);
		relay_stop(&relay);
		printf("%s per second: %.0f\n", o.only, rate);
		return 0;
	}
	if (!o.json)
		fprintf(stderr, "measuring, %.1f s each...\n", o.seconds);
	double x_dh = bench_x25519(o.seconds, false);
	double x_base = bench_x25519(o.seconds, true);
	double aead = bench_aead_16k(o.seconds);
	double raw = bench_raw_tcp(o.seconds);
	double raw_conn = bench_raw_connections(&o);
	double hs_mem = bench_handshakes_memory(o.seconds);
	relay_start(&relay);
	double hs = bench_handshakes(&relay, &o);
	double blocks = bench_blocks(&relay, &o);
	relay_stop(&relay);

	double hs_bound = 1.0 / (1.0 / x_base + 2.0 / x_dh);
	double hs_ratio = hs / hs_bound;
	double hs_mem_bound = hs_bound / 2.0; /* both sides on one thread */
	double hs_mem_ratio = hs_mem / hs_mem_bound;
	double block_ratio = blocks / aead;
	if (o.json) {
		printf("{\"handshakes_per_s\": %.0f, \"x25519_per_s\": %.0f, "
		       "\"x25519_base_per_s\": %.0f, \"handshake_x25519_bound_per_s\": %.0f, "
		       "\"handshake_ratio\": %.3f, \"blocks_per_s\": %.0f, "
		       "\"raw_tcp_blocks_per_s\": %.0f, \"aead_16k_per_s\": %.0f, "
		       "\"block_ratio\": %.3f, \"raw_tcp_connections_per_s\": %.0f, "
		       "\"handshakes_memory_per_s\": %.0f, \"handshake_memory_ratio\": %.3f, "
		       "\"seconds\": %.2f, \"concurrent\": %d}\n",
		       hs, x_dh, x_base, hs_bound, hs_ratio, blocks, raw, aead, block_ratio,
		       raw_conn, hs_mem, hs_mem_ratio, o.seconds, o.concurrent);
		return 0;
	}
	printf("sotto transport benchmark (loopback, %.1f s per figure, %d handshakes in "
	       "flight)\n\n",
	       o.seconds, o.concurrent);
	printf("%-44s %14s\n", "measurement", "per second");
	printf("%-44s %14.0f\n", "Noise_NK handshakes over TCP", hs);
	printf("%-44s %14.0f\n", "  X25519 DH (one thread)", x_dh);
	printf("%-44s %14.0f\n", "  X25519 key generation (one thread)", x_base);
	printf("%-44s %14.0f\n", "  bound from X25519 work, 1/(t_gen + 2 t_dh)", hs_bound);
	printf("%-44s %14.0f\n", "  raw TCP connect + 54/52 B + close (no crypto)", raw_conn);
	printf("%-44s %14.0f\n", "Noise_NK handshakes in memory (one thread)", hs_mem);
	printf("%-44s %14.0f\n", "  bound from X25519 work, one thread", hs_mem_bound);
	printf("%-44s %14.0f\n", "16 KB blocks through the encrypted transport", blocks);
	printf("%-44s %14.0f\n", "  16 KB frames over raw TCP (no crypto)", raw);
	printf("%-44s %14.0f\n", "  ChaCha20-Poly1305 16 KB enc+dec (one thread)", aead);
	printf("\n%-44s %13.0f%%  (goal >= 80%%)\n", "handshakes / X25519 bound", 100.0 * hs_ratio);
	printf("%-44s %13.0f%%\n", "in-memory handshakes / one-thread bound", 100.0 * hs_mem_ratio);
	printf("%-44s %13.0f%%  (goal >= 80%%)\n", "blocks / ChaCha20-Poly1305 enc+dec",
	       100.0 * block_ratio);
	printf("%-44s %13.1f MB/s\n", "transport payload throughput",
	       blocks * NET_BLOCK_CONTENT_MAX / 1e6);
	return 0;
}
