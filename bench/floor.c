/* `cache-bench floor`: the physical limit of a request/response on this machine. Two
 * processes (fork) exchange 16 bytes over a Unix socket pair, as a client and a cache would
 * with nothing else to do; every round trip goes into the same histogram the load uses.
 * With a rate, round trips start on a fixed schedule (as the open loop does), which shows
 * what waking an idle process costs on this machine. */
#include "floor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int xfer(int fd, char *buf, bool out)
{
    size_t done = 0;
    while (done < 16) {
        ssize_t n = out ? write(fd, buf + done, 16 - done) : read(fd, buf + done, 16 - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

int floor_run(double duration_s, int cpu_client, int cpu_server, double rate, struct run_result *res)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        perror("cache-bench floor: socketpair");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("cache-bench floor: fork");
        return -1;
    }
    if (pid == 0) { /* the "server": echo 16 bytes until EOF */
        close(sv[0]);
        bench_pin(cpu_server);
        char buf[16];
        while (xfer(sv[1], buf, false) == 0 && xfer(sv[1], buf, true) == 0)
            ;
        _exit(0);
    }
    close(sv[1]);
    bench_pin(cpu_client);
    memset(res, 0, sizeof(*res));
    bench_hist_init(&res->st.lat);
    char buf[16] = "ping-pong-16byte";
    uint64_t t0 = bench_now_ns(), end = t0 + (uint64_t)(duration_s * 1e9), now = t0;
    uint64_t interval = rate > 0 ? (uint64_t)(1e9 / rate) : 0, next = t0;
    prctl(PR_SET_TIMERSLACK, 1UL);
    while (now < end) {
        uint64_t a = bench_now_ns();
        if (interval) { /* open loop: wait for the schedule, count from the intended start */
            while (a < next) /* busy-wait, as the one-connection open loop does (run.c) */
                a = bench_now_ns();
            a = next;
            next += interval;
        }
        if (xfer(sv[0], buf, true) || xfer(sv[0], buf, false)) {
            bench_error(&res->st, "floor: the echo process went away");
            break;
        }
        now = bench_now_ns();
        bench_hist_record(&res->st.lat, now - a);
        res->st.ops++;
    }
    close(sv[0]);
    waitpid(pid, NULL, 0);
    res->elapsed_s = (double)(now - t0) / 1e9;
    res->ops_per_s = (double)res->st.ops / res->elapsed_s;
    return res->st.errors ? -1 : 0;
}
