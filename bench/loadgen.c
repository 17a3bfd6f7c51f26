/* loadgen.c - closed-loop load generator for NUT-protocol servers.
 *
 * Written for pnut's benchmark so that the load side costs little CPU and
 * the numbers measure the server, not a Python client.  One thread, epoll,
 * N connections; each connection sends one request, waits for its whole
 * answer, then sends the next.  Bounded by count of seconds; prints one
 * JSON line.
 *
 *   loadgen HOST PORT MODE CONNS SECONDS [UPS [VAR]]
 *   MODE: get     GET VAR UPS VAR, answer = one line
 *         list    LIST VAR UPS,    answer = through "END LIST"
 *         connect connect, VER, LOGOUT, answer = "OK Goodbye", close, again
 *         idle    open CONNS connections, VER on each, print READY, hold
 *                 (a connect that waits over 1 s fails; after 3 failures in
 *                 a row or 15 s of connecting no more are tried, and READY
 *                 counts the answered ones once 2 s pass without a new
 *                 answer: a server at its MAXCONN, like NUT's at 1024, whose
 *                 full backlog makes each connect crawl, cannot hang the bench)
 *         watch   connection i polls GET VAR UPS<i % NUPS> VAR and prints
 *                 "SEEN <ups index> <value> <monotonic time>" whenever the
 *                 value it sees changes (UPS is a name prefix; NUPS = argv[8]);
 *                 its first answer only sets the starting value
 *         tlsget  STARTTLS + handshake once per connection, then as get
 *         tlsconnect connect, STARTTLS, TLS handshake, VER, LOGOUT, close, again
 *
 * The TLS modes use OpenSSL (built with -DWITH_TLS -lssl -lcrypto), without
 * certificate checks or session resumption: every handshake is a full one,
 * as NUT's clients make them (the server's CertificateVerify signature is
 * still checked; the chain check, whose verdict nothing reads, is not run).
 * Each connection is a small state machine:
 * STARTTLS sent -> "OK STARTTLS" read -> handshake (non-blocking, epoll) ->
 * requests over TLS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef WITH_TLS
#define OPENSSL_SUPPRESS_DEPRECATED /* ENGINE: see LEGACY_EC_KEYS */
#include <openssl/err.h>
#include <openssl/ssl.h>
/* OpenSSL 3.0 decodes a certificate's public key through its provider
 * decoders, building a decoder chain for every key (3.1 caches it): about
 * 40% of this client's CPU per handshake went there.  A key type with
 * an engine behind it takes the older direct decoder instead (see
 * legacy_ec_keys below). */
#if OPENSSL_VERSION_NUMBER >= 0x30000000L && OPENSSL_VERSION_NUMBER < 0x30100000L \
	&& !defined(OPENSSL_NO_ENGINE)
#define LEGACY_EC_KEYS
#include <openssl/engine.h>
#endif
#endif

enum mode { GET, LIST, CONNECT, IDLE, WATCH, TLSGET, TLSCONNECT };
/* TLS connection phases (plain modes stay in P_READY, without SSL). */
enum phase { P_READY, P_CONNECTING, P_STARTTLS, P_HANDSHAKE };

struct conn {
	int fd;
	int phase;
	double started;
#ifdef WITH_TLS
	SSL *ssl;
#endif
	int ups;
	char last[64];
	char req[256];
	size_t req_len;
	double sent_at;
	size_t have;
	char buf[1 << 16];
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct sockaddr_in addr;
static char request[1024];
static size_t request_len;
static enum mode mode;
static int ep;
static double *lat;
static size_t nlat, maxlat = 20000000;
static long errors;
static int tls_mode;
#ifdef WITH_TLS
static SSL_CTX *ssl_ctx;
#endif


static int open_conn(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (mode == IDLE) { /* Linux bounds a blocking connect by SO_SNDTIMEO */
		struct timeval tv = { .tv_sec = 1, .tv_usec = 0 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_req(struct conn *c)
{
	const char *req = c->req_len ? c->req : request;
	size_t len = c->req_len ? c->req_len : request_len;
	c->have = 0;
	c->sent_at = now();
#ifdef WITH_TLS
	if (c->ssl)
		return SSL_write(c->ssl, req, (int)len) == (int)len ? 0 : -1;
#endif
	if (write(c->fd, req, len) != (ssize_t)len)
		return -1;
	return 0;
}

/* Read what is there: plain, or decrypted (all of it: epoll does not see
 * bytes OpenSSL already holds).  >0 bytes, 0 nothing yet, -1 closed/error. */
static ssize_t conn_read(struct conn *c)
{
	char *at = c->buf + c->have;
	size_t room = sizeof(c->buf) - 1 - c->have;
#ifdef WITH_TLS
	if (c->ssl) {
		ssize_t total = 0;
		while (room > 0) {
			int r = SSL_read(c->ssl, at + total, (int)room);
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					break;
				return total > 0 ? total : -1;
			}
			total += r;
			room -= (size_t)r;
		}
		return total;
	}
#endif
	ssize_t r = read(c->fd, at, room);
	return r <= 0 ? -1 : r;
}

static void conn_close(struct conn *c)
{
#ifdef WITH_TLS
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
#endif
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

/* Open a connection (and in TLS modes send STARTTLS); register it. */
static int conn_open(struct conn *c)
{
	c->have = 0;
	c->started = now();
	if (tls_mode) {
		/* Non-blocking from the start: a connect to a server whose accept
		 * queue is full (NUT's holds 16, and its upsd serves nobody while it
		 * waits for one client's handshake) must not stop the other
		 * connections, that client's among them; and OpenSSL must say
		 * WANT_READ, not wait, when a read is drained. */
		int one = 1;
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (c->fd < 0)
			return -1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		int r = connect(c->fd, (struct sockaddr *)&addr, sizeof(addr));
		if (r < 0 && errno != EINPROGRESS) {
			close(c->fd);
			c->fd = -1;
			return -1;
		}
		c->phase = r == 0 ? P_STARTTLS : P_CONNECTING;
		struct epoll_event ev = { .events = r == 0 ? EPOLLIN : EPOLLOUT, .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		if (r == 0 && write(c->fd, "STARTTLS\n", 9) != 9)
			return -1;
		return 0;
	}
	c->fd = open_conn();
	if (c->fd < 0)
		return -1;
	c->phase = P_READY;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	return send_req(c);
}

#ifdef WITH_TLS
/* Advance the handshake; 1 done, 0 waiting, -1 failed. */
static int handshake(struct conn *c)
{
	int r = SSL_do_handshake(c->ssl);
	if (r == 1)
		return 1;
	int e = SSL_get_error(c->ssl, r);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	if (e == SSL_ERROR_WANT_WRITE)
		ev.events |= EPOLLOUT;
	else if (e != SSL_ERROR_WANT_READ)
		return -1;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	return 0;
}
#endif

/* The TLS phases before requests flow; 1 ready for requests, 0 waiting, -1 failed. */
static int tls_step(struct conn *c)
{
#ifdef WITH_TLS
	if (c->phase == P_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)
			return -1;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->phase = P_STARTTLS;
		return write(c->fd, "STARTTLS\n", 9) == 9 ? 0 : -1;
	}
	if (c->phase == P_STARTTLS) {
		ssize_t r = read(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have);
		if (r <= 0)
			return -1;
		c->have += (size_t)r;
		if (!memchr(c->buf, '\n', c->have))
			return 0;
		if (strncmp(c->buf, "OK STARTTLS\n", 12) != 0 || c->have != 12)
			return -1;
		c->have = 0;
		c->ssl = SSL_new(ssl_ctx);
		SSL_set_fd(c->ssl, c->fd);
		SSL_set_connect_state(c->ssl);
		c->phase = P_HANDSHAKE;
	}
	int h = handshake(c);
	if (h <= 0)
		return h;
	if (SSL_session_reused(c->ssl))
		return -1; /* a resumed handshake would not be the full one measured */
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->phase = P_READY;
	return 1;
#else
	(void)c;
	return -1;
#endif
}

static int complete(struct conn *c)
{
	c->buf[c->have] = '\0';
	switch (mode) {
	case WATCH:
	case GET:
	case TLSGET:
		return memchr(c->buf, '\n', c->have) != NULL;
	case LIST:
		if (strncmp(c->buf, "ERR", 3) == 0)
			return memchr(c->buf, '\n', c->have) != NULL;
		return strstr(c->buf, "END LIST") != NULL && c->buf[c->have - 1] == '\n';
	case CONNECT:
	case TLSCONNECT:
	case IDLE:
		return strstr(c->buf, "OK Goodbye\n") != NULL || (mode == IDLE && memchr(c->buf, '\n', c->have));
	}
	return 0;
}

static void record(double t)
{
	if (nlat < maxlat)
		lat[nlat++] = t;
}

/* One epoll event on a TLS-mode connection; -1 on a failure (counted). */
static int tls_event(struct conn *c, long *done)
{
	if (c->fd < 0)
		return 0;
	if (c->phase != P_READY) {
		int s = tls_step(c);
		if (s < 0)
			goto fail;
		if (s == 0)
			return 0;
		if (send_req(c) < 0)
			goto fail;
		if (mode == TLSCONNECT)
			c->sent_at = c->started; /* measure the whole connect-to-goodbye cycle */
		return 0;
	}
	ssize_t r = conn_read(c);
	if (r < 0)
		goto fail;
	c->have += (size_t)r;
	if (c->have >= sizeof(c->buf) - 1)
		c->have = 0;
	if (!complete(c))
		return 0;
	record(now() - c->sent_at);
	(*done)++;
	if (mode == TLSCONNECT) {
		conn_close(c);
		if (conn_open(c) < 0)
			goto fail;
		return 0;
	}
	if (send_req(c) < 0)
		goto fail;
	return 0;
fail:
	if (c->fd >= 0)
		conn_close(c);
	if (mode == TLSCONNECT && conn_open(c) < 0 && c->fd >= 0)
		conn_close(c);
	return -1;
}

#ifdef WITH_TLS
/* The chain check OpenSSL runs even under SSL_VERIFY_NONE, whose verdict
 * nothing reads: skipped.  The server's CertificateVerify signature is
 * still checked, as in every TLS 1.3 handshake. */
static int accept_chain(X509_STORE_CTX *store, void *arg)
{
	(void)store;
	(void)arg;
	return 1;
}

#ifdef LEGACY_EC_KEYS
static int ec_pkey_meths(ENGINE *e, EVP_PKEY_METHOD **pmeth, const int **nids, int nid)
{
	static const int ec[] = { EVP_PKEY_EC };
	(void)e;
	if (pmeth == NULL) {
		*nids = ec;
		return 1;
	}
	*pmeth = nid == EVP_PKEY_EC ? (EVP_PKEY_METHOD *)EVP_PKEY_meth_find(EVP_PKEY_EC) : NULL;
	return *pmeth != NULL;
}

/* An engine offering OpenSSL's own built-in EC key method: EC public keys
 * (the server's certificate and its CA's) are then decoded by the direct
 * legacy code, and the CertificateVerify check runs the same ECDSA code as
 * before.  The wire is unchanged. */
static void legacy_ec_keys(void)
{
	ENGINE *e = ENGINE_new();
	if (e == NULL || !ENGINE_set_id(e, "loadgen-ec") || !ENGINE_set_name(e, "built-in EC keys")
	    || !ENGINE_set_pkey_meths(e, ec_pkey_meths) || !ENGINE_register_pkey_meths(e))
		fprintf(stderr, "loadgen: EC key engine not registered (slower key decoding)\n");
}
#endif

static void tls_setup(void)
{
#ifdef LEGACY_EC_KEYS
	legacy_ec_keys();
#endif
	ssl_ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_cert_verify_callback(ssl_ctx, accept_chain, NULL);
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	/* The suite NUT's NSS upsd picks (its own preference); an OpenSSL server
	 * such as pnut's follows the client's, which was TLS_AES_256_GCM_SHA384:
	 * now both run the same one. */
	SSL_CTX_set_ciphersuites(ssl_ctx, "TLS_AES_128_GCM_SHA256");
	/* records read in as few reads as the kernel allows, not header then body */
	SSL_CTX_set_read_ahead(ssl_ctx, 1);
}
#endif

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: loadgen HOST PORT get|list|connect|idle|watch|tlsget|tlsconnect "
			"CONNS SECONDS [UPS [VAR]]\n");
		return 2;
	}
	const char *ups = argc > 6 ? argv[6] : "ups";
	const char *var = argc > 7 ? argv[7] : "ups.status";
	int nconn = atoi(argv[4]);
	double seconds = atof(argv[5]);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &addr.sin_addr);

	if (!strcmp(argv[3], "get")) {
		mode = GET;
		snprintf(request, sizeof(request), "GET VAR %s %s\n", ups, var);
	} else if (!strcmp(argv[3], "list")) {
		mode = LIST;
		snprintf(request, sizeof(request), "LIST VAR %s\n", ups);
	} else if (!strcmp(argv[3], "connect")) {
		mode = CONNECT;
		snprintf(request, sizeof(request), "VER\nLOGOUT\n");
	} else if (!strcmp(argv[3], "watch")) {
		mode = WATCH;
		request[0] = '\0';
	} else if (!strcmp(argv[3], "idle")) {
		mode = IDLE;
		snprintf(request, sizeof(request), "VER\n");
	} else if (!strcmp(argv[3], "tlsget")) {
		mode = TLSGET;
		tls_mode = 1;
		snprintf(request, sizeof(request), "GET VAR %s %s\n", ups, var);
	} else if (!strcmp(argv[3], "tlsconnect")) {
		mode = TLSCONNECT;
		tls_mode = 1;
		snprintf(request, sizeof(request), "VER\nLOGOUT\n");
	} else {
		fprintf(stderr, "unknown mode %s\n", argv[3]);
		return 2;
	}
	request_len = strlen(request);
	if (tls_mode) {
#ifdef WITH_TLS
		signal(SIGPIPE, SIG_IGN); /* a closed peer is an error to count, not a crash */
		tls_setup();
#else
		fprintf(stderr, "loadgen was built without TLS (-DWITH_TLS -lssl -lcrypto)\n");
		return 2;
#endif
	}
	lat = malloc(maxlat * sizeof(double));
	ep = epoll_create1(0);

	struct conn *conns = calloc((size_t)nconn, sizeof(struct conn));
	int nups = argc > 8 ? atoi(argv[8]) : 1;
	if (nups < 1)
		nups = 1;
	int opened = 0, failed_in_a_row = 0;
	double open_started = now();
	for (int i = 0; i < nconn; i++) {
		if (mode == IDLE && (failed_in_a_row >= 3 || now() - open_started > 15.0))
			break;
		if (mode == WATCH) {
			conns[i].ups = i % nups;
			conns[i].req_len = (size_t)snprintf(conns[i].req, sizeof(conns[i].req),
				"GET VAR %s%d %s\n", ups, conns[i].ups, var);
		}
		if (tls_mode) {
			if (conn_open(&conns[i]) < 0) {
				errors++;
				if (conns[i].fd >= 0)
					conn_close(&conns[i]);
				continue;
			}
			opened++;
			continue;
		}
		conns[i].fd = open_conn();
		if (conns[i].fd < 0) {
			errors++;
			failed_in_a_row++;
			continue;
		}
		failed_in_a_row = 0;
		opened++;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
		if (send_req(&conns[i]) < 0)
			errors++;
	}

	double start = now(), end = start + seconds;
	long done = 0;
	int ready = 0;
	double last_ready = start;
	struct epoll_event evs[512];
	while (now() < end) {
		int n = epoll_wait(ep, evs, 512, 100);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (tls_mode) {
				if (tls_event(c, &done) < 0)
					errors++;
				continue;
			}
			ssize_t r = read(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have);
			if (r <= 0 && mode != CONNECT) {
				errors++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = -1;
				continue;
			}
			if (r > 0)
				c->have += (size_t)r;
			if (c->have >= sizeof(c->buf) - 1)
				c->have = 0; /* overflow: keep reading */
			if (!complete(c))
				continue;
			double t = now();
			record(t - c->sent_at);
			done++;
			if (mode == WATCH) {
				/* VAR name var "value" -> value */
				char *q = memchr(c->buf, '"', c->have);
				char *e = q ? memchr(q + 1, '"', c->have - (size_t)(q + 1 - c->buf)) : NULL;
				if (q && e && (size_t)(e - q - 1) < sizeof(c->last)) {
					*e = '\0';
					if (strcmp(c->last, q + 1) != 0) {
						/* The first answer is the value at connect time,
						 * not a change this client watched happen. */
						int first = c->last[0] == '\0';
						snprintf(c->last, sizeof(c->last), "%s", q + 1);
						if (!first)
							printf("SEEN %d %s %.6f\n", c->ups, c->last, t);
					}
				}
			}
			if (mode == IDLE) {
				if (ready >= 0) {
					ready++;
					last_ready = t;
				}
				continue;
			}
			if (mode == CONNECT) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = open_conn();
				if (c->fd < 0) {
					errors++;
					continue;
				}
				struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
			}
			if (send_req(c) < 0)
				errors++;
		}
		if (mode == IDLE && ready > 0 && (ready == opened || now() - last_ready > 2.0)) {
			printf("READY %d\n", ready);
			fflush(stdout);
			ready = -1;
		}
	}
	double elapsed = now() - start;
	qsort(lat, nlat, sizeof(double), cmp);
	double p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(size_t)(nlat * 0.99)] : 0;
	printf("{\"requests\": %ld, \"seconds\": %.3f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
	       "\"errors\": %ld, \"connections\": %d}\n",
	       done, elapsed, p50 * 1e6, p99 * 1e6, errors, opened);
	return 0;
}
