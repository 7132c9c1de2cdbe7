/* SPDX-License-Identifier: MIT */
/*
 * lines.c - bounded lines from a descriptor (cmd/sotto); see lines.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lines.h"

enum { LINES_READ_LEN = 16384 };

struct lines {
	uv_poll_t poll;
	uv_idle_t idle;
	bool has_poll, has_idle;
	unsigned n_handles;
	int fd;
	int saved_fl;
	bool is_closing;
	bool is_skipping; /* inside a line over the bound */
	struct lines_callbacks cb;
	size_t max;
	size_t len;
	char *buf; /* max + 1 bytes */
};

static void on_handle_closed(uv_handle_t *h)
{
	struct lines *l = h->data;

	if (--l->n_handles == 0) {
		free(l->buf);
		free(l);
	}
}

void lines_free(struct lines *l)
{
	if (l == NULL || l->is_closing)
		return;
	l->is_closing = true;
	if (l->saved_fl != -1)
		(void)fcntl(l->fd, F_SETFL, l->saved_fl);
	if (l->has_poll) {
		(void)uv_poll_stop(&l->poll);
		uv_close((uv_handle_t *)&l->poll, on_handle_closed);
	}
	if (l->has_idle) {
		(void)uv_idle_stop(&l->idle);
		uv_close((uv_handle_t *)&l->idle, on_handle_closed);
	}
	if (l->n_handles == 0) {
		free(l->buf);
		free(l);
	}
}

static void deliver(struct lines *l)
{
	size_t n = l->len;

	if (n > 0 && l->buf[n - 1] == '\r')
		n--;
	l->buf[n] = '\0';
	l->len = 0;
	l->cb.on_line(l->cb.user, l->buf, n);
}

static void feed(struct lines *l, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !l->is_closing; i++) {
		char c = p[i];
		if (c == '\n') {
			if (l->is_skipping)
				l->is_skipping = false;
			else
				deliver(l);
			continue;
		}
		if (l->is_skipping)
			continue;
		if (l->len == l->max) {
			l->is_skipping = true;
			l->len = 0;
			if (l->cb.on_too_long != NULL)
				l->cb.on_too_long(l->cb.user);
			continue;
		}
		l->buf[l->len++] = c;
	}
}

static void input_end(struct lines *l)
{
	if (l->len > 0 && !l->is_skipping)
		deliver(l);
	if (l->is_closing)
		return;
	if (l->has_poll)
		(void)uv_poll_stop(&l->poll);
	if (l->has_idle)
		(void)uv_idle_stop(&l->idle);
	if (l->cb.on_eof != NULL)
		l->cb.on_eof(l->cb.user);
}

static void read_some(struct lines *l)
{
	char buf[LINES_READ_LEN];
	ssize_t n = read(l->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		input_end(l);
		return;
	}
	feed(l, buf, (size_t)n);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct lines *l = h->data;

	(void)events;
	if (l->is_closing)
		return;
	if (status < 0) {
		input_end(l);
		return;
	}
	read_some(l);
}

static void on_idle(uv_idle_t *h)
{
	struct lines *l = h->data;

	if (!l->is_closing)
		read_some(l);
}

sotto_err lines_new(uv_loop_t *loop, int fd, size_t max, const struct lines_callbacks *cb,
                    struct lines **out)
{
	struct lines *l = NULL;
	int err;

	*out = NULL;
	if (max == 0 || max > SIZE_MAX / 2 || cb->on_line == NULL)
		return SOTTO_ERR_INVALID;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return SOTTO_ERR_NOMEM;
	if ((l->buf = malloc(max + 1)) == NULL) {
		free(l);
		return SOTTO_ERR_NOMEM;
	}
	l->fd = fd;
	l->max = max;
	l->cb = *cb;
	l->saved_fl = fcntl(fd, F_GETFL);
	err = uv_poll_init(loop, &l->poll, fd);
	if (err == 0) {
		l->has_poll = true;
		l->n_handles++;
		l->poll.data = l;
		err = uv_poll_start(&l->poll, UV_READABLE | UV_DISCONNECT, on_poll);
	} else if (err == UV_EPERM) {
		/* A regular file or /dev/null: always readable, so read when idle. */
		if ((err = uv_idle_init(loop, &l->idle)) == 0) {
			l->has_idle = true;
			l->n_handles++;
			l->idle.data = l;
			err = uv_idle_start(&l->idle, on_idle);
		}
	}
	if (err != 0) {
		lines_free(l);
		return SOTTO_ERR_IO;
	}
	*out = l;
	return SOTTO_OK;
}
