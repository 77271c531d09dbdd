/*
 * rtp_receiver: a call's audio as a PBX hands it to an external program, RTP over UDP
 * (Asterisk's External Media, a FreeSWITCH media fork, any SIP media path), transcribed live.
 *
 *   rtp_receiver [--url URL] [--listen ADDR:PORT] [--codec pcmu|pcma|l16/RATE[/CHANNELS]]
 *                [--jitter-ms MS] [--idle-ms MS]
 *
 * Payload types 0 (PCMU) and 8 (PCMA) are recognised by themselves; a dynamic payload type
 * needs --codec, as the SDP's rtpmap line gives it (Asterisk's slin16: --codec l16/16000).
 * The session opens when the first packet arrives, with that packet's format.
 * The receive thread puts packets back in sequence-number order within a window of --jitter-ms
 * (default 60), drops duplicates and packets that come too late, fills lost packets and
 * timestamp gaps with silence (so the transcript's times stay the call's), and pushes into
 * the session with fwasr_session_push, which never blocks. A results thread prints the
 * transcript as it evolves. The call ends when no packet came for --idle-ms (default 2000)
 * or on SIGINT/SIGTERM: the session finishes and the final transcript is printed, with a line
 * of packet counts.
 *
 * The URL defaults to $FWASR_URL, else the Fireworks endpoint; the API key comes from
 * $FIREWORKS_API_KEY. Listens on 127.0.0.1:4000 by default (port 0 picks a free one); prints
 * "listening on udp://ADDR:PORT" once bound. Exit status 0 when the whole transcript arrived.
 */
#include <fwasr.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 64          /* packets held for reordering at most (a power of two) */
#define MAX_PAYLOAD 1500   /* bytes of audio in one packet; larger packets are refused */
#define MAX_GAP_MS 2000    /* silence filled for one gap at most (a timestamp jump is not a call) */

enum codec { CODEC_PCMU, CODEC_PCMA, CODEC_L16 };

struct packet {
    int used;
    uint16_t seq;
    uint32_t ts;
    double arrived_ms;
    size_t len;
    unsigned char data[MAX_PAYLOAD];
};

struct counts {
    unsigned long received, played, reordered, duplicates, late, lost, malformed, foreign;
    double filled_ms, refused_ms;
};

struct receiver {
    const char *url;
    fwasr_session *session;
    pthread_t results;
    enum codec codec;
    uint32_t rate, channels;
    int codec_given;  /* --codec: take the first packet's payload type as that codec */
    int payload_type; /* -1 until the first packet fixes it */
    double jitter_ms;

    int synced;        /* a first packet fixed the source, sequence and timeline */
    uint32_t ssrc;
    uint16_t next_seq; /* the packet to play next */
    uint16_t top_seq;  /* the highest sequence number seen */
    uint32_t play_ts;  /* RTP timestamp of the next sample to push */
    int played_any;
    double last_rx_ms;
    struct packet slot[WINDOW];
    unsigned held;
    uint16_t played_seq[WINDOW]; /* what each slot played last, to tell duplicates from late packets */
    unsigned char played_mark[WINDOW];
    int session_done;
    struct counts n;
};

static volatile sig_atomic_t hangup;
static void on_signal(int sig) { (void)sig; hangup = 1; }

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* When the kernel received the datagram (SO_TIMESTAMP), on the monotonic clock: the jitter
 * window and the idle timeout measure the network, not how late this thread got to read. */
static double arrival_ms(struct msghdr *m, double now) {
#ifdef SO_TIMESTAMP
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMP) continue;
        struct timeval got;
        struct timespec wall;
        memcpy(&got, CMSG_DATA(c), sizeof got);
        clock_gettime(CLOCK_REALTIME, &wall);
        double age = (double)(wall.tv_sec - got.tv_sec) * 1e3 + ((double)wall.tv_nsec / 1e3 - (double)got.tv_usec) / 1e3;
        if (age >= 0 && age < 10000) return now - age; /* else the wall clock was set meanwhile */
    }
#else
    (void)m;
#endif
    return now;
}

static uint16_t be16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void *results_thread(void *arg);

/* Opens the session in the format of the call's first packet; the results thread with it. */
static int start_call(struct receiver *r) {
    static const int32_t formats[] = {FWASR_FORMAT_MULAW, FWASR_FORMAT_ALAW, FWASR_FORMAT_S16LE};
    fwasr_config *cfg = fwasr_config_new();
    int ok = cfg && (!r->url || fwasr_config_set_url(cfg, r->url) == FWASR_OK) &&
             fwasr_config_set_input_format(cfg, formats[r->codec], r->rate, r->channels) == FWASR_OK &&
             fwasr_config_set_language(cfg, "en") == FWASR_OK &&
             fwasr_config_set_reconnect(cfg, 5, 200, 5000) == FWASR_OK && /* a call outlives a connection */
             fwasr_config_set_buffer_ms(cfg, 2000) == FWASR_OK &&         /* at most 2 s behind, then refuse */
             fwasr_session_open(cfg, &r->session) == FWASR_OK;
    if (!ok) {
        fprintf(stderr, "session: %s\n", fwasr_last_error());
        r->session_done = 1;
    }
    fwasr_config_free(cfg);
    if (ok) pthread_create(&r->results, NULL, results_thread, r->session);
    return ok ? 0 : -1;
}

static size_t bytes_per_frame(const struct receiver *r) {
    return r->codec == CODEC_L16 ? 2 * r->channels : 1;
}

/* Hands audio to fwasr; a full queue costs these samples (reported), never the thread. */
static void push(struct receiver *r, const unsigned char *data, size_t len) {
    if (r->session_done || len == 0) return;
    fwasr_status st;
    if (r->codec == CODEC_L16) {
        int16_t pcm[MAX_PAYLOAD / 2]; /* L16 is big-endian on the wire */
        size_t ns = len / 2;
        for (size_t i = 0; i < ns; i++) pcm[i] = (int16_t)be16(data + 2 * i);
        st = fwasr_session_push_s16(r->session, pcm, ns);
    } else {
        st = fwasr_session_push(r->session, data, len);
    }
    if (st == FWASR_ERR_BUFFER_FULL) {
        r->n.refused_ms += 1e3 * (double)(len / bytes_per_frame(r)) / r->rate;
    } else if (st != FWASR_OK) {
        fprintf(stderr, "push: %s: %s\n", fwasr_status_str(st), fwasr_last_error());
        r->session_done = 1;
    }
}

static void push_silence(struct receiver *r, uint32_t frames) {
    static unsigned char quiet[MAX_PAYLOAD];
    unsigned char fill = r->codec == CODEC_PCMU ? 0xFF : r->codec == CODEC_PCMA ? 0xD5 : 0;
    memset(quiet, fill, sizeof quiet);
    size_t left = (size_t)frames * bytes_per_frame(r);
    r->n.filled_ms += 1e3 * frames / r->rate;
    while (left > 0) {
        size_t part = left < sizeof quiet ? left : sizeof quiet;
        part -= part % bytes_per_frame(r);
        push(r, quiet, part);
        left -= part;
    }
}

/* Plays one packet at its place on the call's timeline: a gap before it (lost packets,
 * silence suppression) becomes silence, audio already played (an overlap) is skipped. */
static void play(struct receiver *r, const struct packet *p) {
    size_t frame = bytes_per_frame(r);
    uint32_t frames = (uint32_t)(p->len / frame);
    if (!r->played_any) {
        r->play_ts = p->ts;
        r->played_any = 1;
    }
    int32_t gap = (int32_t)(p->ts - r->play_ts);
    size_t skip = 0;
    if (gap > 0) {
        uint32_t cap = r->rate / 1000 * MAX_GAP_MS;
        push_silence(r, (uint32_t)gap < cap ? (uint32_t)gap : cap);
    } else if (gap < 0) {
        skip = (size_t)-(int64_t)gap;
        if (skip >= frames) return;
    }
    push(r, p->data + skip * frame, (frames - skip) * frame);
    r->play_ts = p->ts + frames;
    r->n.played++;
    r->played_seq[p->seq % WINDOW] = p->seq;
    r->played_mark[p->seq % WINDOW] = 1;
}

/* Plays what is in order from next_seq on. */
static void release(struct receiver *r) {
    struct packet *p;
    while (r->held > 0 && (p = &r->slot[r->next_seq % WINDOW])->used && p->seq == r->next_seq) {
        play(r, p);
        p->used = 0;
        r->held--;
        r->next_seq++;
    }
}

/* Gives up on the packet at next_seq: counted lost, its time filled by the next one played. */
static void skip_missing(struct receiver *r) {
    r->n.lost++;
    r->next_seq++;
    release(r);
}

/* The missing packet has been waited for long enough when a later one has been held for the
 * jitter window; at the end of the call (flush) at once. */
static void expire(struct receiver *r, double now, int flush) {
    while (r->held > 0) {
        double oldest = now;
        for (unsigned i = 0; i < WINDOW; i++)
            if (r->slot[i].used && r->slot[i].arrived_ms < oldest) oldest = r->slot[i].arrived_ms;
        if (!flush && now - oldest < r->jitter_ms) return;
        skip_missing(r);
    }
}

/* Plays what is held, then follows a new stream (a new source, or a sender that restarted its
 * sequence): its sequence numbers and timestamps start where they like, so its first packet
 * continues the audio where the old stream ended. */
static void resync(struct receiver *r, uint32_t ssrc, uint16_t seq, double now) {
    expire(r, now, 1);
    r->synced = 1;
    r->ssrc = ssrc;
    r->next_seq = r->top_seq = seq;
    r->played_any = 0;
    memset(r->played_mark, 0, sizeof r->played_mark);
}

static void on_datagram(struct receiver *r, const unsigned char *b, size_t len, double now) {
    /* RTP header (RFC 3550 5.1): anything that does not parse is counted and ignored. */
    if (len < 12 || (b[0] >> 6) != 2) { r->n.malformed++; return; }
    if (b[1] >= 192 && b[1] <= 223) return; /* RTCP multiplexed on the port (RFC 5761) */
    size_t hdr = 12 + 4 * (size_t)(b[0] & 0x0F);
    if (b[0] & 0x10) {
        if (hdr + 4 > len) { r->n.malformed++; return; }
        hdr += 4 + 4 * (size_t)be16(b + hdr + 2);
    }
    size_t pad = (b[0] & 0x20) ? b[len - 1] : 0;
    if (hdr + pad > len || ((b[0] & 0x20) && pad == 0)) { r->n.malformed++; return; }
    size_t payload = len - hdr - pad;
    int pt = b[1] & 0x7F;
    uint16_t seq = be16(b + 2);
    uint32_t ts = be32(b + 4), ssrc = be32(b + 8);

    if (r->payload_type < 0) {
        if (!r->codec_given && pt != 0 && pt != 8) {
            if (r->n.foreign++ == 0)
                fprintf(stderr, "payload type %d is not PCMU (0) or PCMA (8): name its codec with --codec\n", pt);
            return;
        }
        if (!r->codec_given) r->codec = pt == 0 ? CODEC_PCMU : CODEC_PCMA;
        r->payload_type = pt;
        if (start_call(r) != 0) return;
    }
    if (pt != r->payload_type) { r->n.foreign++; return; } /* e.g. comfort noise, DTMF */
    if (payload > MAX_PAYLOAD || payload % bytes_per_frame(r) != 0) { r->n.malformed++; return; }

    /* A new source replaces the old one only once the old one has gone quiet (a re-INVITE,
     * a restarted sender), so a stray stream cannot interleave with the call. */
    if (!r->synced) resync(r, ssrc, seq, now);
    else if (ssrc != r->ssrc) {
        if (now - r->last_rx_ms < r->jitter_ms) { r->n.foreign++; return; }
        resync(r, ssrc, seq, now);
    }
    r->last_rx_ms = now;
    r->n.received++;

    int16_t ahead = (int16_t)(uint16_t)(seq - r->next_seq);
    if (ahead < 0) { /* behind the play position: played already (a duplicate) or given up on */
        if (ahead >= -WINDOW && r->played_mark[seq % WINDOW] && r->played_seq[seq % WINDOW] == seq) r->n.duplicates++;
        else r->n.late++;
        return;
    }
    if (ahead >= WINDOW) {
        /* Far ahead: a sender restart, not a reordering; start again from here. */
        if (ahead > 3 * WINDOW) resync(r, ssrc, seq, now);
        else while ((int16_t)(uint16_t)(seq - r->next_seq) >= WINDOW) skip_missing(r);
    }
    struct packet *p = &r->slot[seq % WINDOW];
    if (p->used) { r->n.duplicates++; return; } /* held already: the window holds one packet per slot */
    if ((int16_t)(uint16_t)(seq - r->top_seq) > 0) r->top_seq = seq;
    else if (seq != r->top_seq) r->n.reordered++;
    p->used = 1;
    p->seq = seq;
    p->ts = ts;
    p->arrived_ms = now;
    p->len = payload;
    memcpy(p->data, b + hdr, payload);
    r->held++;
    release(r);
}

/* The results thread: prints the transcript as it evolves; neither the receive thread nor
 * fwasr's network thread waits for printing. */
static void *results_thread(void *arg) {
    fwasr_session *s = arg;
    int ok = 0;
    fwasr_event *ev;
    while ((ev = fwasr_session_next_event(s, -1)) != NULL) {
        if (ev->type == FWASR_EVENT_SEGMENT)
            printf("%s [%s] %s\n", ev->is_final == 1 ? "final  " : "partial", ev->segment_id, ev->text);
        else if (ev->type == FWASR_EVENT_OVERRUN)
            fprintf(stderr, "overrun: %.0f ms of audio refused\n", ev->dropped_ms);
        else if (ev->type == FWASR_EVENT_RECONNECTING)
            fprintf(stderr, "reconnecting (attempt %d): %s\n", (int)ev->attempt, ev->message);
        else if (ev->type == FWASR_EVENT_ERROR)
            fprintf(stderr, "%s: %s\n", fwasr_status_str(ev->status), ev->message);
        else if (ev->type == FWASR_EVENT_CLOSED) {
            ok = ev->status == FWASR_OK;
            if (!ok) fprintf(stderr, "call ended: %s (code %d): %s\n", fwasr_status_str(ev->status), (int)ev->code, ev->message);
        }
        fflush(stdout);
        fwasr_event_free(ev);
    }
    return ok ? arg : NULL;
}

static int parse_codec(const char *s, struct receiver *r) {
    unsigned rate = 0, channels = 1;
    if (!strcmp(s, "pcmu")) { r->codec = CODEC_PCMU; r->rate = 8000; return 0; }
    if (!strcmp(s, "pcma")) { r->codec = CODEC_PCMA; r->rate = 8000; return 0; }
    if (sscanf(s, "l16/%u/%u", &rate, &channels) >= 1 && rate >= 8000 && rate <= 48000 && channels >= 1 && channels <= 2) {
        r->codec = CODEC_L16;
        r->rate = rate;
        r->channels = channels;
        return 0;
    }
    return -1;
}

static int open_socket(const char *listen, struct sockaddr_in *addr) {
    char host[64];
    unsigned port;
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host || sscanf(colon + 1, "%u", &port) != 1 || port > 65535) {
        fprintf(stderr, "--listen wants ADDR:PORT, got %s\n", listen);
        return -1;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr->sin_addr) != 1) {
        fprintf(stderr, "--listen: %s is not an IPv4 address\n", host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t alen = sizeof *addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof *addr) != 0 || getsockname(fd, (struct sockaddr *)addr, &alen) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        perror(listen);
        if (fd >= 0) close(fd);
        return -1;
    }
#ifdef SO_TIMESTAMP
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof on);
#endif
    return fd;
}

int main(int argc, char **argv) {
    const char *listen = "127.0.0.1:4000";
    static struct receiver r; /* the reorder window is large for a stack */
    r.url = getenv("FWASR_URL");
    r.codec = CODEC_PCMU;
    r.rate = 8000;
    r.channels = 1;
    r.payload_type = -1;
    r.jitter_ms = 60;
    double idle_ms = 2000;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--url") && v) r.url = argv[++i];
        else if (!strcmp(argv[i], "--listen") && v) listen = argv[++i];
        else if (!strcmp(argv[i], "--codec") && v && parse_codec(v, &r) == 0) r.codec_given = 1, i++;
        else if (!strcmp(argv[i], "--jitter-ms") && v && atof(v) >= 0) r.jitter_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--idle-ms") && v && atof(v) > 0) idle_ms = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--url URL] [--listen ADDR:PORT] [--codec pcmu|pcma|l16/RATE[/CHANNELS]] "
                            "[--jitter-ms MS] [--idle-ms MS]\n", argv[0]);
            return 2;
        }
    }
    struct sockaddr_in addr;
    int fd = open_socket(listen, &addr);
    if (fd < 0) return 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    char shown[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr.sin_addr, shown, sizeof shown);
    printf("listening on udp://%s:%u\n", shown, (unsigned)ntohs(addr.sin_port));
    fflush(stdout);

    /* The receive thread: wakes for a datagram, for the oldest held packet's jitter deadline,
     * or for the idle timeout; never waits on fwasr. */
    unsigned char buf[65536];
    while (!hangup && !r.session_done) {
        double now = now_ms();
        double wait = r.n.received ? idle_ms - (now - r.last_rx_ms) : 1000;
        if (wait < 0) wait = 0;
        if (r.held > 0 && wait > r.jitter_ms / 2) wait = r.jitter_ms / 2;
        struct pollfd pfd = {fd, POLLIN, 0};
        int ready = poll(&pfd, 1, (int)wait + 1);
        now = now_ms();
        if (ready > 0) {
            /* A bounded batch, so a flood of datagrams cannot keep the jitter deadlines waiting. */
            ssize_t got = 0;
            for (int batch = 0; batch < 256; batch++) {
                union { struct cmsghdr align; char space[CMSG_SPACE(sizeof(struct timeval))]; } control;
                struct iovec iov = {buf, sizeof buf};
                struct msghdr msg;
                memset(&msg, 0, sizeof msg);
                msg.msg_iov = &iov;
                msg.msg_iovlen = 1;
                msg.msg_control = control.space;
                msg.msg_controllen = sizeof control.space;
                if ((got = recvmsg(fd, &msg, 0)) < 0) break;
                on_datagram(&r, buf, (size_t)got, arrival_ms(&msg, now));
            }
            if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { perror("recv"); break; }
        } else if (ready == 0 && r.n.received && now - r.last_rx_ms >= idle_ms) {
            break; /* hung up: idle, and nothing waiting (a thread that woke late reads first) */
        } else if (ready < 0 && errno != EINTR) {
            perror("poll");
            break;
        }
        expire(&r, now, 0);
    }
    /* Hang-up: play what is held, then finish without waiting; CLOSED ends the results thread. */
    expire(&r, now_ms(), 1);
    close(fd);
    if (!r.session) {
        fprintf(stderr, "no call audio arrived\n");
        return 1;
    }
    void *ok = NULL;
    fwasr_session_finish(r.session, 0);
    pthread_join(r.results, &ok);

    char text[16384];
    fwasr_session_transcript(r.session, text, sizeof text);
    printf("final transcript: %s\n", text);
    printf("rtp: %lu received, %lu played, %lu reordered, %lu duplicates, %lu late, %lu lost, %lu malformed, "
           "%lu foreign; %.0f ms silence filled, %.0f ms refused\n",
           r.n.received, r.n.played, r.n.reordered, r.n.duplicates, r.n.late, r.n.lost, r.n.malformed, r.n.foreign,
           r.n.filled_ms, r.n.refused_ms);
    fwasr_session_free(r.session);
    return ok && r.n.received > 0 ? 0 : 1;
}
