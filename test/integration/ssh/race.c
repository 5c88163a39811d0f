/* What a granted person can run against the root SSH access service, as themselves (the race
 * tests in races.test.ts compile this with gcc into the lab directory).
 *
 *   race swap A B SECONDS BAIT
 *                           exchange the paths A and B with renameat2(RENAME_EXCHANGE) in a tight
 *                           loop for SECONDS, or until SIGTERM; then prints the number of exchanges
 *                           and of failed ones ("EXCHANGES ERRORS") and exits 0.
 *                           BAIT is what B is (`fifo`, or `link:TARGET` for a symlink to TARGET):
 *                           whenever the service removed or replaced it (neither A nor B is one any
 *                           more), it is made again at B (or at A when A is missing), what the
 *                           service put there moved aside
 *   race hop SECONDS        keep moving to a new pid (fork, the parent exits) for SECONDS, so a
 *                           single scan of /proc never finds the process that is alive next;
 *                           SIGTERM and SIGHUP are ignored. The first process stays as the hops'
 *                           subreaper and reaps them (PID 1 on a test machine may reap late, and
 *                           zombies use up pids); once it is gone the hopper stops hopping and
 *                           only stays alive until SECONDS are up. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *bait;
static volatile sig_atomic_t stopped = 0;

static void on_term(int sig) {
  (void)sig;
  stopped = 1;
}

static int is_bait(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return 0;
  return strcmp(bait, "fifo") == 0 ? S_ISFIFO(st.st_mode) : S_ISLNK(st.st_mode);
}

/* Make the bait at path, moving aside what the service put there. */
static void make_bait(const char *path) {
  static long aside = 0;
  char name[4096];
  snprintf(name, sizeof name, "%s.aside.%ld", path, aside++);
  rename(path, name);
  if (strcmp(bait, "fifo") == 0) mkfifo(path, 0600);
  else if (strncmp(bait, "link:", 5) == 0) symlink(bait + 5, path);
}

int main(int argc, char **argv) {
  if (argc == 6 && strcmp(argv[1], "swap") == 0) {
    const char *a = argv[2], *b = argv[3];
    double until = now() + atof(argv[4]);
    bait = argv[5];
    long swaps = 0, errors = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    while (!stopped && now() < until) {
      for (int i = 0; i < 256 && !stopped; i++) {
        if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0) swaps++;
        else errors++;
      }
      if (!is_bait(a) && !is_bait(b)) {
        struct stat st;
        make_bait(lstat(a, &st) != 0 ? a : b);
      }
    }
    printf("%ld %ld\n", swaps, errors);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "hop") == 0) {
    double until = now() + atof(argv[2]);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* The subreaper holds the only write end: the hopper sees EOF once it is gone. */
    int alive[2];
    if (pipe2(alive, O_NONBLOCK) != 0) return 1;
    if (fork() == 0) {
      close(alive[1]);
      char c;
      while (now() < until) {
        if (read(alive[0], &c, 1) == 0) {
          usleep(10000);
          continue;
        }
        pid_t pid = fork();
        if (pid > 0) _exit(0);
        if (pid < 0) usleep(1000);
      }
      _exit(0);
    }
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
    }
    return 0;
  }
  fprintf(stderr, "usage: race swap A B SECONDS fifo|link:TARGET | race hop SECONDS\n");
  return 2;
}
