/* timeexec.c - runs one command with stdin from a file, as a runtime runs a CNI plugin, and prints
 * "<wall microseconds> <max RSS KiB> <exit code>" on stderr; the command's stdout goes to /dev/null
 * (or to the file named by TIMEEXEC_OUT).
 * usage: timeexec STDIN_FILE CMD [ARGS...] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 3) { fprintf(stderr, "usage: %s STDIN_FILE CMD [ARGS...]\n", argv[0]); return 2; }
	int in = open(argv[1], O_RDONLY);
	if (in < 0) { perror(argv[1]); return 2; }
	const char *outp = getenv("TIMEEXEC_OUT");
	int out = open(outp ? outp : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in, 0); dup2(out, 1);
		execv(argv[2], argv + 2);
		_exit(127);
	}
	int st; struct rusage ru;
	wait4(pid, &st, 0, &ru);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long us = (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000;
	fprintf(stderr, "%ld %ld %d\n", us, ru.ru_maxrss, WIFEXITED(st) ? WEXITSTATUS(st) : 128);
	return 0;
}
